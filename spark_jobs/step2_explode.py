"""Step 2, explode: cleaned Part B and Part D rows → procedure and prescription events.

    python -m spark_jobs.step2_explode --year YYYY --lake LAKE --run-id RUN

Contract section 3. A Part B row becomes n events, n = Tot_Bene_Day_Srvcs when present and
above 0, else ceil(Tot_Srvcs); a Part D row becomes Tot_Clms events. Spark computes, once per
row, what its events are made of (n, a start day hashed from the row key, and each total in
integers: units in thousandths, days' supply, cents); the explosion itself runs in the JVM, in
`medidash.spark.EventFiles` (spark_jobs/java), which generates each partition's events, splits
each total into integer shares that add up to it exactly, and writes them straight into one
Parquet file through parquet-mr's page writers, without building a Spark row per event.
The same release gives the same events, file for file and row for row (the data pages byte for
byte; parquet-mr orders the footer's encoding list by hash), on any number of cores.

A year's two event datasets are written into one new release folder, counted, checked
(events_written = events_expected) and only then committed together by one atomic pointer
(spark_jobs/event_lake.py); a dataset absent from the release (no Part D before 2013) gives an
empty, readable dataset.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructField, StructType

from spark_jobs import event_lake, storage
from spark_jobs.jobs import (
    main_guard,
    name_files_deterministically,
    parser,
    read_clean,
    read_reconciliation,
    write_reconciliation,
)
from spark_jobs.session import build_session

ROWS_PER_FILE = 200_000  # source rows per output file (events are ~100x that)
UNITS = "decimal(18,3)"
# Part B's money: (event column in cents, the cleaned row's average in dollars)
PAYMENTS = (
    ("submitted_charge", "avg_submitted_charge"),
    ("allowed_amount", "avg_allowed_amount"),
    ("paid_amount", "avg_payment_amount"),
    ("standardized_amount", "avg_standardized_amount"),
)
# Tot_Srvcs as the exact decimal the units are split from (at most 10^10, thousandths)
SERVICES = "decimal(14,3)"


def _days_in_year(year: int) -> int:
    return 366 if (year % 4 == 0 and year % 100 != 0) or year % 400 == 0 else 365


def _start_day(year: int, key: list[str]) -> Column:
    """A row's first event day (0-based), hashed from the row key."""
    return F.pmod(F.xxhash64(*key), F.lit(_days_in_year(year))).alias("start")


def total_cents(average: str) -> Column:
    """A Part B row's total of one payment average in cents: average × Tot_Srvcs (CMS's
    definition), computed exactly in decimal and rounded half up to the cent (contract
    section 2); NULL when the average is. The averages are cleaned as decimals, so a value
    such as 1.005 is not a double just below it."""
    product = F.col(average) * F.col("tot_srvcs").cast(SERVICES)
    return (F.round(product, 2) * 100).cast("bigint")


def procedure_event_count(rows: DataFrame) -> Column:
    bene_days = F.col("tot_bene_day_srvcs")
    return (
        F.when(bene_days.isNotNull() & (bene_days > 0), bene_days)
        .otherwise(F.ceil(F.col("tot_srvcs")))
        .cast("bigint")
    )


@dataclass(frozen=True)
class Events:
    """One event dataset: how a cleaned row becomes the values its events are made of (`rows`:
    the row's strings, `n`, `start` and each total), and the events' columns, each
    copied from the row, the date, or a share (`EventFiles.java` has the semantics)."""

    rows: Callable[[DataFrame, int], DataFrame]
    order: tuple[str, ...]  # the row key, in the order the rows are partitioned and sorted by
    fields: tuple[tuple[str, str, tuple[str, ...]], ...]  # (name, Spark type, source)
    zstd_level: int  # the files' zstd level: what packs this dataset's pages best per second

    def schema(self) -> StructType:
        """The events' schema; computed columns are never null (Parquet `required`), except
        a nullable share (money a row may not have)."""
        return StructType(
            [
                StructField(n, _parse_type(t), source[0] in ("copy", "nullable_share"))
                for n, t, source in self.fields
            ]
        )

    def specs(self, columns: list[str]) -> list[str]:
        where = {name: str(i) for i, name in enumerate(columns)}
        return [
            ":".join([source[0], *(where[c] for c in source[1:])]) for _, _, source in self.fields
        ]


def _parse_type(name: str):
    return StructType.fromDDL(f"x {name}").fields[0].dataType


def _procedure_rows(part_b: DataFrame, year: int) -> DataFrame:
    rows = part_b.select(
        "npi",
        "hcpcs_code",
        "place_of_service",
        "state",
        "zip5",
        procedure_event_count(part_b).alias("n"),
        F.round(F.col("tot_srvcs") * 1000).cast("bigint").alias("milli_units"),
        *(total_cents(average).alias(cents) for cents, average in PAYMENTS),
        _start_day(year, ["npi", "hcpcs_code", "place_of_service"]),
    ).where(F.col("n") > 0)
    # units are thousandths split as integers (the unscaled values of decimal(18,3)), money
    # in cents like drug_cost, by the writer (a NULL total gives NULL events)
    return rows


def _prescription_rows(part_d: DataFrame, year: int) -> DataFrame:
    rows = part_d.select(
        "npi",
        "generic_name",
        "brand_name",
        "state",
        F.col("tot_clms").cast("bigint").alias("n"),
        F.col("tot_day_suply").cast("bigint").alias("days_supply"),
        F.round(F.col("tot_drug_cst") * 100).cast("bigint").alias("drug_cost_cents"),
        _start_day(year, ["npi", "brand_name", "generic_name"]),
    ).where(F.col("n") > 0)
    return rows


PROCEDURES = Events(
    rows=_procedure_rows,
    order=("npi", "hcpcs_code", "place_of_service"),
    fields=(
        ("npi", "string", ("copy", "npi")),
        ("hcpcs_code", "string", ("copy", "hcpcs_code")),
        ("place_of_service", "string", ("copy", "place_of_service")),
        ("service_date", "date", ("date", "start", "n")),
        ("units", UNITS, ("share", "milli_units", "n")),
        ("state", "string", ("copy", "state")),
        ("zip5", "string", ("copy", "zip5")),
        *((cents, "bigint", ("nullable_share", cents, "n")) for cents, _ in PAYMENTS),
    ),
    # level 1, not parquet-mr's 3: the money columns are runs of long integers, which level 3
    # spent a third of the explode compressing (measured at scale 0.01: 1.31 against 1.28
    # bytes per event, 0.84 against 0.67 of the explode's speed without money)
    zstd_level=1,
)
PRESCRIPTIONS = Events(
    rows=_prescription_rows,
    order=("npi", "generic_name", "brand_name"),
    fields=(
        ("npi", "string", ("copy", "npi")),
        ("generic_name", "string", ("copy", "generic_name")),
        ("brand_name", "string", ("copy", "brand_name")),
        ("fill_date", "date", ("date", "start", "n")),
        # bigint: Tot_Day_Suply (up to 10^10) over one claim does not fit 32 bits
        ("days_supply", "bigint", ("share", "days_supply", "n")),
        ("drug_cost", "bigint", ("share", "drug_cost_cents", "n")),
        ("state", "string", ("copy", "state")),
    ),
    # level 3: the drug names' pages pack to 1.38 bytes per event against 2.38 at level 1, in
    # the same time (measured at scale 0.01)
    zstd_level=3,
)


def write_events(
    rows: DataFrame, events: Events, year: int, folder: str | os.PathLike, files: int
) -> int:
    """Explode `rows` (cleaned CMS rows of one year) into `folder`, `files` Parquet files:
    the rows are partitioned by a hash of their NPI (a count derived from the data, not the
    machine) and sorted by every column the events derive from (so the order is total whatever
    order step 1 wrote them in); each partition's events are generated and written in the JVM
    by `medidash.spark.EventFiles`. Returns the number of events written."""
    folder = storage.to_uri(folder)
    if storage.names(folder):
        raise FileExistsError(f"{folder} is not empty: events are written to a new folder")
    per_row = events.rows(rows, year)
    ordered = per_row.repartition(files, events.order[0]).sortWithinPartitions(*events.order)
    jvm = rows.sparkSession.sparkContext._jvm
    specs = events.specs(ordered.columns)
    written = jvm.medidash.spark.EventFiles.write(
        ordered._jdf, folder, events.schema().json(), specs, year, events.zstd_level
    )
    if not storage.names(folder, "part-*.parquet"):
        _write_empty(rows.sparkSession, events, folder)
    name_files_deterministically(folder)
    return int(written)


def _write_empty(spark: SparkSession, events: Events, folder: str) -> None:
    """One Parquet file without rows, so that a dataset without events (the writer writes no
    file for an empty partition) still has its schema for every reader."""
    scratch = storage.join(storage.parent(folder), f"_empty_{storage.name(folder)}")
    spark.createDataFrame([], events.schema()).coalesce(1).write.mode("overwrite").parquet(scratch)
    storage.mkdirs(folder)
    for part in storage.names(scratch, "part-*.parquet"):
        storage.rename(storage.join(scratch, part), storage.join(folder, part))
    storage.delete(scratch)


def read_events(spark: SparkSession, events: Events, folder: str | os.PathLike) -> DataFrame:
    """Events written by `write_events`, with their schema (never inferred)."""
    return spark.read.schema(events.schema()).parquet(storage.to_uri(folder))


def explode_procedures(part_b: DataFrame, year: int, folder: str | os.PathLike) -> DataFrame:
    """Procedure events (contract section 3) of `part_b`, written to `folder` and read back."""
    write_events(part_b, PROCEDURES, year, folder, 1)
    return read_events(part_b.sparkSession, PROCEDURES, folder)


def explode_prescriptions(part_d: DataFrame, year: int, folder: str | os.PathLike) -> DataFrame:
    """Prescription events (claims) of `part_d`, written to `folder` and read back."""
    write_events(part_d, PRESCRIPTIONS, year, folder, 1)
    return read_events(part_d.sparkSession, PRESCRIPTIONS, folder)


def expected_events(part_b: DataFrame, part_d: DataFrame) -> tuple[int, int]:
    procedures = part_b.select(F.sum(procedure_event_count(part_b))).first()[0] or 0
    prescriptions = part_d.select(F.sum("tot_clms")).first()[0] or 0
    return int(procedures), int(prescriptions)


def explode(spark: SparkSession, lake: str, year: int, run_id: str) -> dict:
    """Write the year's procedure and prescription events into a new release folder, check
    that each dataset has exactly the events its rows call for, and commit both together.
    A count that differs is a fault (of the writer), never bad input: RuntimeError, and the
    current release stays as it was."""
    part_b = read_clean(spark, lake, "part_b", year)
    part_d = read_clean(spark, lake, "part_d", year)
    expected = dict(zip(("part_b", "part_d"), expected_events(part_b, part_d), strict=True))
    built = event_lake.new_release(lake, year, run_id)
    try:
        written = {}
        for dataset, rows, events, kind in (
            ("part_b", part_b, PROCEDURES, "procedures"),
            ("part_d", part_d, PRESCRIPTIONS, "prescriptions"),
        ):
            files = max(1, -(-rows.count() // ROWS_PER_FILE))
            write_events(rows, events, year, storage.join(built, kind), files)
            written[dataset] = read_events(spark, events, storage.join(built, kind)).count()
        report = read_reconciliation(lake, run_id)
        for dataset in ("part_b", "part_d"):
            report.setdefault(dataset, {}).update(
                {"events_written": written[dataset], "events_expected": expected[dataset]}
            )
        write_reconciliation(lake, run_id, report)
        for dataset in ("part_b", "part_d"):
            if written[dataset] != expected[dataset]:
                raise RuntimeError(
                    f"{dataset}: wrote {written[dataset]} events, expected {expected[dataset]}; "
                    f"the year's current events are unchanged"
                )
    except BaseException:
        storage.delete(built)
        raise
    event_lake.commit_release(lake, year, built)
    return report


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)

    def body():
        spark = build_session(
            "medidash-step2-explode",
            # the file layout must not depend on runtime statistics
            **{"spark.sql.adaptive.coalescePartitions.enabled": "false"},
        )
        report = explode(spark, args.lake, args.year, args.run_id)
        for dataset in ("part_b", "part_d"):
            print(f"{dataset}: {report[dataset]['events_written']:,} events")

    return main_guard("step2_explode", body)


if __name__ == "__main__":
    sys.exit(main())
