"""Step 1, ingest: every file of a release → typed, cleaned Parquet per dataset.

    python -m spark_jobs.step1_ingest --input DIR --year YYYY --lake LAKE --run-id RUN

Files are recognised by their header (medidash.cms_layouts). Every record is classified in
the contract's order (section 2): the PUF copyright row is filtered; a record with the wrong
number of fields, a bad NPI or a bad count is quarantined with its file, line number and
reason; an exact repeat of another record of the same file is a duplicate; the rest is
cleaned and typed. Writes, for the data year:

    <lake>/clean/<dataset>/data_year=YYYY/      (replaced as a whole, atomically)
    <lake>/runs/<run>/quarantine/               (ops.quarantine rows)
    <lake>/runs/<run>/reconciliation.json       (input = valid + duplicate + filtered + quarantined)

`--input` is a folder of the driver's machine (the header check and the release reader read it
there); the lake is a URI (`spark_jobs.storage`). On a cluster the executors read only the
lake's storage: every file Spark reads that is not already in it is copied once into
`<lake>/runs/<run>/work/input/` (`spark_jobs.ingest_sources.for_executors`).

Records follow RFC 4180 in full: a file with a quoted line break is handed over by the driver
as one record per JSON line (spark_jobs/ingest_sources.py); every other file is read line by
line. A required dataset (part_b, clinicians) without a valid row stops the run (BadInput)
before any clean folder of the year is replaced: every dataset is built first, then all are
swapped in.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from medidash.cms_layouts import DATASETS, normalize_header
from medidash.errors import BadInput
from medidash.release.reader import REQUIRED
from spark_jobs import ingest_cleaning as cleaning
from spark_jobs import storage
from spark_jobs.ingest_sources import SourceFile, for_executors, prepare
from spark_jobs.jobs import (
    clean_leftovers,
    main_guard,
    parser,
    run_folder,
    swap_directory,
    union,
    write_reconciliation,
)
from spark_jobs.session import build_session

# up to this many repeated records (about 60 bytes each), the table is broadcast to the join
BROADCAST_REPEATED_ROWS = 1_000_000


def source_records(spark: SparkSession, source: SourceFile) -> DataFrame:
    """The file's records (source_file, line_number, raw), header and blank lines left out."""
    if source.kind == "records":
        return (
            spark.read.schema("line_number bigint, raw string")
            .json(source.path)
            .select(F.lit(source.source).alias("source_file"), "line_number", "raw")
        )
    return numbered_lines(spark, source.path, source.source)


def numbered_lines(spark: SparkSession, path: str, source: str) -> DataFrame:
    """The file's lines with their line numbers (header = 1), without the header and blank
    lines. Numbers come from each split's position in the file: one small job counts the lines
    of each split, and its table (a row per split) is joined to the lines."""
    lines = spark.read.text(path).select(
        F.col("value").alias("raw"),
        F.input_file_block_start().alias("block"),
        F.monotonically_increasing_id().alias("mid"),
    )
    splits = sorted(
        lines.groupBy("block").agg(F.min("mid").alias("first"), F.count("*").alias("n")).collect()
    )
    offsets, before = [], 0
    for block, first, count in splits:
        offsets.append((block, first, before))
        before += count
    table = spark.createDataFrame(offsets, "block bigint, first bigint, offset bigint")
    return (
        lines.join(F.broadcast(table), "block")
        .select(
            F.lit(source).alias("source_file"),
            (F.col("offset") + F.col("mid") - F.col("first") + 1).alias("line_number"),
            # Hadoop's line reader ends a line at LF, CRLF or CR; a CR left at the end is
            # trimmed where there is one (the trim itself walks the whole line)
            F.when(F.col("raw").endswith("\r"), F.expr("trim(TRAILING '\\r' FROM raw)"))
            .otherwise(F.col("raw"))
            .alias("raw"),
        )
        .where((F.col("line_number") > 1) & (F.trim("raw") != ""))
    )


def classify_lines(lines: DataFrame, source: SourceFile) -> tuple[DataFrame, dict[str, str]]:
    parsed = cleaning.parse_fields(lines, list(source.header), source.delimiter)
    rename = source.layout.rename_map()
    columns = {
        rename[normalize_header(h)]: f"c{i}"
        for i, h in enumerate(source.header)
        if normalize_header(h) in rename
    }
    classified = cleaning.classify(
        parsed,
        source.layout.dataset,
        columns,
        len(source.header),
        header=list(source.header),
        delimiter=source.delimiter,
    )
    return classified, columns


def stage_dataset(spark: SparkSession, dataset: str, files: list[SourceFile], target: str):
    """Every record of the dataset's files, parsed, classified and cleaned in one job, written
    once to `target` (cleaning.staged)."""
    frames = []
    for source in files:
        classified, columns = classify_lines(source_records(spark, source), source)
        frames.append(cleaning.staged(classified, dataset, columns))
    union(frames).write.mode("overwrite").parquet(target)
    return spark.read.parquet(target)


def ingest(spark: SparkSession, release: Path, year: int, lake: str, run_id: str) -> dict:
    run_dir = run_folder(lake, run_id)
    work = storage.join(run_dir, "work")
    with tempfile.TemporaryDirectory(prefix="medidash-ingest-") as scratch:
        # files the driver derives (zip members, UTF-8 copies, JSON records) are written in the
        # lake's work folder when the lake is a filesystem, else on the driver and copied in
        local_work = Path(storage.local_path(work) if storage.is_local(work) else scratch)
        sources = for_executors(spark, prepare(release, local_work), lake, work)
        return _ingest(spark, sources, year, lake, run_id)


def _ingest(spark: SparkSession, sources: list[SourceFile], year: int, lake: str, run_id: str):
    run_dir = run_folder(lake, run_id)
    report: dict[str, dict] = {}
    quarantined: list[DataFrame] = []
    built_folders: list[tuple[str, str]] = []
    for dataset in DATASETS:
        target_root = storage.join(lake, "clean", dataset)
        clean_leftovers(target_root, owner=run_id)
        built = storage.join(target_root, f"_tmp_{run_id}")
        files = [source for source in sources if source.layout.dataset == dataset]
        repeated = None
        if files:
            staged_at = storage.join(run_dir, "work", "staged", dataset)
            staged = stage_dataset(spark, dataset, files, staged_at)
            # the repeated records' table is small (duplicates are rare): broadcast, the
            # records are marked where they are read
            repeated = cleaning.repeated_records(staged).persist(StorageLevel.MEMORY_AND_DISK)
            small = repeated.count() <= BROADCAST_REPEATED_ROWS
            marked = cleaning.mark_duplicates(staged, repeated, broadcast=small)
            report[dataset] = cleaning.reconciliation(cleaning.status_counts(staged, repeated))
            if dataset in REQUIRED and not report[dataset]["valid_rows"]:
                repeated.unpersist()
                for folder, _ in built_folders:
                    storage.delete(folder)
                counts = ", ".join(f"{k}={v}" for k, v in report[dataset].items())
                raise BadInput(
                    f"{dataset} has no valid row ({counts}); a required dataset without a "
                    "valid row would empty the year's marts, nothing was replaced",
                    file=", ".join(source.source for source in files),
                )
            quarantined.append(cleaning.quarantine_rows(staged, run_id, dataset))
            names = [name for name, _ in cleaning.CLEAN_COLUMNS[dataset]]
            cleaned = marked.where(F.col("status") == "valid").select(*names)
        else:
            cleaned = empty_clean(spark, dataset, year).drop("data_year")
        cleaned.write.mode("overwrite").parquet(built)
        built_folders.append((built, storage.join(target_root, f"data_year={year}")))
        if repeated is not None:
            repeated.unpersist()
    for built, final in built_folders:
        swap_directory(built, final)

    union(quarantined).write.mode("overwrite").parquet(storage.join(run_dir, "quarantine"))
    storage.delete(storage.join(run_dir, "work", "staged"))
    write_reconciliation(lake, run_id, report)
    return report


def empty_clean(spark: SparkSession, dataset: str, year: int) -> DataFrame:
    return spark.createDataFrame([], f"data_year int, {cleaning.clean_schema(dataset)}")


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.splitlines()[0], release=True).parse_args(argv)

    def body():
        spark = build_session("medidash-step1-ingest")
        report = ingest(spark, Path(args.input), args.year, args.lake, args.run_id)
        for dataset, counts in sorted(report.items()):
            print(f"{dataset}: " + ", ".join(f"{k}={v}" for k, v in counts.items()))

    return main_guard("step1_ingest", body)


if __name__ == "__main__":
    sys.exit(main())
