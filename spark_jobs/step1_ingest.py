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

Known limit: a record whose quoted field holds a line break is quarantined (with a reason
saying so) rather than joined across lines; CMS files do not contain such records.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from medidash.cms_layouts import DATASETS, normalize_header
from spark_jobs import ingest_cleaning as cleaning
from spark_jobs.ingest_sources import SourceFile, prepare
from spark_jobs.jobs import (
    clean_leftovers,
    main_guard,
    parser,
    publish_directory,
    run_folder,
    write_reconciliation,
)
from spark_jobs.session import build_session

# up to this many repeated records (about 60 bytes each), the table is broadcast to the join
BROADCAST_REPEATED_ROWS = 1_000_000


def numbered_lines(spark: SparkSession, path: str, source: str) -> DataFrame:
    """The file's lines with their line numbers (header = 1), without the header and blank
    lines. Numbers come from each split's position in the file, so nothing is collected."""
    lines = spark.read.text(path).select(
        F.col("value").alias("raw"),
        F.input_file_block_start().alias("block"),
        F.monotonically_increasing_id().alias("mid"),
    )
    blocks = lines.groupBy("block").agg(F.min("mid").alias("first"), F.count("*").alias("n"))
    before = Window.orderBy("block").rowsBetween(Window.unboundedPreceding, -1)
    blocks = blocks.select(
        "block", "first", F.coalesce(F.sum("n").over(before), F.lit(0)).alias("offset")
    )
    return (
        lines.join(F.broadcast(blocks), "block")
        .select(
            F.lit(source).alias("source_file"),
            (F.col("offset") + F.col("mid") - F.col("first") + 1).alias("line_number"),
            F.expr("trim(TRAILING '\\r' FROM raw)").alias("raw"),
        )
        .where((F.col("line_number") > 1) & (F.trim("raw") != ""))
    )


def classify_file(spark: SparkSession, source: SourceFile) -> DataFrame:
    lines = numbered_lines(spark, source.path, source.source)
    parsed = cleaning.parse_fields(lines, list(source.header), source.delimiter)
    rename = source.layout.rename_map()
    columns = {
        rename[normalize_header(h)]: f"c{i}"
        for i, h in enumerate(source.header)
        if normalize_header(h) in rename
    }
    classified = cleaning.classify(parsed, source.layout.dataset, columns, len(source.header))
    return classified, columns


def ingest(spark: SparkSession, release: Path, year: int, lake: str, run_id: str) -> dict:
    run_dir = run_folder(lake, run_id)
    sources = prepare(release, run_dir / "work")
    report: dict[str, dict] = {}
    cleaned: dict[str, list[DataFrame]] = {}
    quarantined: list[DataFrame] = []
    persisted = []
    for source in sources:
        dataset = source.layout.dataset
        # the file is parsed and each record hashed once: duplicate marking reads the keyed
        # records twice (the repeated-record table, then the join), and the marked records are
        # kept for the three outputs with only what those need
        classified, columns = classify_file(spark, source)
        classified = cleaning.with_record_key(classified).persist(StorageLevel.MEMORY_AND_DISK)
        repeated = cleaning.repeated_records(classified).persist(StorageLevel.MEMORY_AND_DISK)
        small = repeated.count() <= BROADCAST_REPEATED_ROWS
        marked = cleaning.mark_duplicates(classified, repeated, broadcast=small)
        marked = cleaning.output_columns(marked, columns)
        marked = marked.persist(StorageLevel.MEMORY_AND_DISK)
        persisted.append(marked)
        status = {r["status"]: r["count"] for r in cleaning.counts(marked).collect()}
        classified.unpersist()
        repeated.unpersist()
        totals = report.setdefault(dataset, dict.fromkeys(cleaning.RECONCILIATION_KEYS, 0))
        for key, value in cleaning.reconciliation(status).items():
            totals[key] += value
        cleaned.setdefault(dataset, []).append(cleaning.clean(marked, dataset, columns, year))
        quarantined.append(cleaning.quarantine_rows(marked, run_id, dataset))

    quarantine_dir = run_dir / "quarantine"
    union(quarantined).write.mode("overwrite").parquet(str(quarantine_dir))

    for dataset in DATASETS:
        target_root = Path(lake) / "clean" / dataset
        clean_leftovers(target_root)
        frames = cleaned.get(dataset) or [empty_clean(spark, dataset, year)]
        built = target_root / f"_tmp_{run_id}"
        union(frames).drop("data_year").write.mode("overwrite").parquet(str(built))
        publish_directory(built, target_root / f"data_year={year}")
    for frame in persisted:
        frame.unpersist()
    write_reconciliation(lake, run_id, report)
    return report


def empty_clean(spark: SparkSession, dataset: str, year: int) -> DataFrame:
    schema = ", ".join(f"{name} {type_}" for name, type_ in cleaning.CLEAN_COLUMNS[dataset])
    return spark.createDataFrame([], f"data_year int, {schema}")


def union(frames: list[DataFrame]) -> DataFrame:
    result = frames[0]
    for frame in frames[1:]:
        result = result.unionByName(frame)
    return result


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
