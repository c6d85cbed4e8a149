"""Step 2, explode: cleaned Part B and Part D rows → procedure and prescription events.

    python -m spark_jobs.step2_explode --year YYYY --lake LAKE --run-id RUN

Contract section 3. A Part B row becomes n events, n = Tot_Bene_Day_Srvcs when present and
above 0, else ceil(Tot_Srvcs); a Part D row becomes Tot_Clms events. The explosion runs in the
JVM (`sequence` + `explode`); units, days' supply and cost are split in integer thousandths and
cents so that they add up exactly to the source row; each event's date comes from a hash of the
row key, so the same release gives the same events, file for file and row for row (the data
pages byte for byte; parquet-mr orders the footer's encoding list by hash), on any
number of cores. Each year is written to `_tmp_<run>` and swapped in whole.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_jobs.jobs import (
    clean_leftovers,
    main_guard,
    name_files_deterministically,
    parser,
    publish_directory,
    read_reconciliation,
    write_reconciliation,
)
from spark_jobs.session import build_session

ROWS_PER_FILE = 200_000  # source rows per output file (events are ~100x that)
UNITS = "decimal(18,3)"


def _days_in_year(year: int) -> int:
    return 366 if (year % 4 == 0 and year % 100 != 0) or year % 400 == 0 else 365


# A source row is split once into the values its events take: `n` events, the start day, and
# for each total the integer share (`<total>_lo`) and how many events get one more
# (`<total>_extra`); an event (index `i`, 0 <= i < n) only picks between precomputed values,
# so the per-event work is a comparison and a small integer sum.


def _start_day(year: int, key: list[Column]) -> Column:
    """A row's first event day (0-based), hashed from the row key."""
    return F.pmod(F.xxhash64(*key), F.lit(_days_in_year(year)))


def _event_date(year: int) -> Column:
    """The row's events spread evenly over the year from its start day (column `start`)."""
    days = _days_in_year(year)
    offset = ((F.col("start") + F.expr(f"(i * {days}) div n")) % F.lit(days)).cast("int")
    return F.date_add(F.make_date(F.lit(year), F.lit(1), F.lit(1)), offset)


def _shares(total: str) -> list[Column]:
    """Per row: the integer share of column `total` (>= 0) over n events, and how many of the
    events (the first ones) get one more, so that the n shares add up to the total."""
    return [
        F.expr(f"{total} div n").alias(f"{total}_lo"),
        (F.col(total) % F.col("n")).alias(f"{total}_extra"),
    ]


def _share(total: str, lo: Column | None = None, hi: Column | None = None) -> Column:
    """The i-th event's share of `total`; `lo`/`hi` override the two values it picks from."""
    lo = F.col(f"{total}_lo") if lo is None else lo
    hi = (F.col(f"{total}_lo") + 1) if hi is None else hi
    return F.when(F.col("i") < F.col(f"{total}_extra"), hi).otherwise(lo)


def _events(rows: DataFrame, year: int, key: list[str]) -> DataFrame:
    with_start = rows.withColumn("start", _start_day(year, [F.col(k) for k in key]))
    return with_start.select("*", F.explode(F.sequence(F.lit(0), F.col("n") - 1)).alias("i"))


def procedure_event_count(rows: DataFrame) -> Column:
    bene_days = F.col("tot_bene_day_srvcs")
    return (
        F.when(bene_days.isNotNull() & (bene_days > 0), bene_days)
        .otherwise(F.ceil(F.col("tot_srvcs")))
        .cast("bigint")
    )


def explode_procedures(part_b: DataFrame, year: int) -> DataFrame:
    """One row per procedure event (contract section 3), in a stable order."""
    rows = part_b.select(
        "npi",
        "hcpcs_code",
        "place_of_service",
        "state",
        "zip5",
        procedure_event_count(part_b).alias("n"),
        F.round(F.col("tot_srvcs") * 1000).cast("bigint").alias("milli_units"),
    ).where(F.col("n") > 0)
    # units are thousandths split as integers; both decimal values are made once per row
    rows = rows.select("*", *_shares("milli_units"))
    rows = rows.select(
        "*",
        *(
            (value.cast("decimal(18,0)") / 1000).cast(UNITS).alias(name)
            for name, value in (
                ("units_lo", F.col("milli_units_lo")),
                ("units_hi", F.col("milli_units_lo") + 1),
            )
        ),
    )
    events = _events(rows, year, ["npi", "hcpcs_code", "place_of_service"])
    return events.select(
        F.lit(year).alias("data_year"),
        "npi",
        "hcpcs_code",
        "place_of_service",
        _event_date(year).alias("service_date"),
        _share("milli_units", F.col("units_lo"), F.col("units_hi")).alias("units"),
        "state",
        "zip5",
    )


def explode_prescriptions(part_d: DataFrame, year: int) -> DataFrame:
    """One row per prescription event (claim)."""
    rows = part_d.select(
        "npi",
        "generic_name",
        "brand_name",
        "state",
        F.col("tot_clms").cast("bigint").alias("n"),
        F.col("tot_day_suply").cast("bigint").alias("days"),
        F.round(F.col("tot_drug_cst") * 100).cast("bigint").alias("cents"),
    ).where(F.col("n") > 0)
    rows = rows.select("*", *_shares("days"), *_shares("cents"))
    events = _events(rows, year, ["npi", "brand_name", "generic_name"])
    return events.select(
        F.lit(year).alias("data_year"),
        "npi",
        "generic_name",
        "brand_name",
        _event_date(year).alias("fill_date"),
        _share("days").cast("int").alias("days_supply"),
        _share("cents").cast("bigint").alias("drug_cost"),
        "state",
    )


def expected_events(part_b: DataFrame, part_d: DataFrame) -> tuple[int, int]:
    procedures = part_b.select(F.sum(procedure_event_count(part_b))).first()[0] or 0
    prescriptions = part_d.select(F.sum("tot_clms")).first()[0] or 0
    return int(procedures), int(prescriptions)


def writer_options(events: DataFrame) -> dict[str, str]:
    """Parquet writer settings for events. Per event, most of the time goes to the writer; it
    keeps dictionaries (a row's events repeat its strings, so they cost ~1 byte per value) and
    min/max statistics of the dates and amounts, but skips the per-page size statistics and the
    min/max of the string columns (byte comparisons of every value, for footers no reader of
    the lake prunes on): a third less writing time, the same rows."""
    options = {"compression": "zstd", "parquet.size.statistics.enabled": "false"}
    for field in events.schema.fields:
        if field.dataType.typeName() == "string":
            options[f"parquet.column.statistics.enabled#{field.name}"] = "false"
    return options


def _write(
    rows: DataFrame,
    exploder,
    year: int,
    sort: list[str],
    target_root: Path,
    run_id: str,
    files: int,
) -> Path:
    """Partition the source rows by a hash of their NPI into a fixed number of files (derived
    from the data, not the machine), sort them by every column the events derive from (so the
    order is total whatever order step 1 wrote them in), explode in place, write, swap in."""
    clean_leftovers(target_root)
    ordered = rows.repartition(files, *sort[:1]).sortWithinPartitions(*sort)
    built = target_root / f"_tmp_{run_id}"
    events = exploder(ordered, year).drop("data_year")
    events.write.mode("overwrite").options(**writer_options(events)).parquet(str(built))
    name_files_deterministically(built)
    final = target_root / f"data_year={year}"
    publish_directory(built, final)
    return final


def explode(spark: SparkSession, lake: str, year: int, run_id: str) -> dict:
    clean = Path(lake) / "clean"
    part_b = spark.read.parquet(str(clean / "part_b" / f"data_year={year}"))
    part_d = spark.read.parquet(str(clean / "part_d" / f"data_year={year}"))
    expected_b, expected_d = expected_events(part_b, part_d)
    rows_b, rows_d = part_b.count(), part_d.count()
    events = Path(lake) / "events"
    procedures = _write(
        part_b,
        explode_procedures,
        year,
        ["npi", "hcpcs_code", "place_of_service"],
        events / "procedures",
        run_id,
        max(1, -(-rows_b // ROWS_PER_FILE)),
    )
    prescriptions = _write(
        part_d,
        explode_prescriptions,
        year,
        ["npi", "generic_name", "brand_name"],
        events / "prescriptions",
        run_id,
        max(1, -(-rows_d // ROWS_PER_FILE)),
    )
    written_b = spark.read.parquet(str(procedures)).count()
    written_d = spark.read.parquet(str(prescriptions)).count()
    report = read_reconciliation(lake, run_id)
    for dataset, written, expected in (
        ("part_b", written_b, expected_b),
        ("part_d", written_d, expected_d),
    ):
        report.setdefault(dataset, {}).update(
            {"events_written": written, "events_expected": expected}
        )
    write_reconciliation(lake, run_id, report)
    for dataset in ("part_b", "part_d"):
        entry = report[dataset]
        if entry["events_written"] != entry["events_expected"]:
            raise RuntimeError(
                f"{dataset}: wrote {entry['events_written']} events, expected "
                f"{entry['events_expected']}"
            )
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
