"""Step 3, aggregate and land: events and cleaned dimensions → `landing.*` in PostgreSQL.

    MEDIDASH_DATABASE_URL=URL python -m spark_jobs.step3_aggregate_load --year YYYY \
        --lake LAKE --run-id RUN

(the warehouse URL from the environment, as the DAG passes it: a command line is visible to
every process; `--database-url` exists for manual runs)

The events are the source of truth: procedure and prescription totals are aggregated from the
lake, not from the CMS rows. Every landing table is loaded with COPY into an
`incoming.<table>__<run>` table, from the executors in parallel (each partition streams its
rows as CSV through its own connection); then one transaction makes each incoming table the
data year's partition of its landing table (a catalog change, not a copy), and records the
run's reconciliation and quarantine rows in `ops`. Readers see the previous year or the new
one, never a part. The partitions the year had before are dropped in that transaction, the
run's incoming quarantine table after it, and the incoming tables of dead runs (whose advisory
lock is free) at the next start; a live run's are never touched. Before
it replaces its year in `landing` a run takes the marts lock (medidash/warehouse/marts_lock.py),
waiting while a run of another year builds the marts.
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from medidash.warehouse import marts_lock
from medidash.warehouse.schema import (
    LANDING_TABLES,
    PROCEDURE_MONEY,
    ensure_schema,
    year_partition,
)
from spark_jobs import event_lake, storage
from spark_jobs.jobs import (
    main_guard,
    parser,
    read_clean,
    read_reconciliation,
    run_folder,
    union,
)
from spark_jobs.session import build_session

LANDING_COLUMNS = {  # column names in DDL order; commas inside numeric(p, s) are not separators
    table: [part.split()[0] for part in re.split(r",(?![^(]*\))", ddl) if part.strip()]
    for table, ddl in LANDING_TABLES.items()
}
QUARANTINE_COLUMNS = ["run_id", "dataset", "source_file", "line_number", "reason", "raw_record"]


# -- transforms ----------------------------------------------------------------------------


def procedure_totals(events: DataFrame) -> DataFrame:
    """landing.procedure_events: year × NPI × state × ZIP5 × HCPCS code (payments: the events'
    cents summed exactly, in dollars; NULL when every event has NULL)."""
    return events.groupBy("data_year", "npi", "state", "zip5", "hcpcs_code").agg(
        F.count(F.lit(1)).alias("event_count"),
        F.sum("units").cast("decimal(20,3)").alias("service_units"),
        *(
            (F.sum(column).cast("decimal(24,0)") / 100).cast("decimal(22,2)").alias(column)
            for column in PROCEDURE_MONEY
        ),
    )


def prescription_totals(events: DataFrame) -> DataFrame:
    """landing.prescription_events: year × NPI × state × generic name (cents → dollars)."""
    return events.groupBy("data_year", "npi", "state", "generic_name").agg(
        F.count(F.lit(1)).alias("claim_count"),
        F.sum("days_supply").cast("bigint").alias("day_supply"),
        (F.sum("drug_cost") / 100).cast("decimal(20,2)").alias("drug_cost"),
    )


def most_frequent(rows: DataFrame, keys: list[str], value: str, weight: str | None = None):
    """Per key, the most frequent non-null value; ties to the smallest (contract rule)."""
    counted = (
        rows.where(F.col(value).isNotNull())
        .groupBy(*keys, value)
        .agg((F.sum(weight) if weight else F.count(F.lit(1))).alias("_weight"))
    )
    ranked = counted.withColumn(
        "_rank",
        F.row_number().over(
            Window.partitionBy(*keys).orderBy(F.col("_weight").desc(), F.col(value).asc())
        ),
    )
    return ranked.where(F.col("_rank") == 1).select(*keys, value)


def hcpcs_codes(part_b: DataFrame, year: int) -> DataFrame:
    """landing.hcpcs_codes: the most frequent description (ties to the smallest); is_drug when
    any row of the code carries the drug indicator Y."""
    descriptions = most_frequent(part_b, ["hcpcs_code"], "hcpcs_description")
    drug = part_b.groupBy("hcpcs_code").agg(F.max(F.col("is_drug").cast("int")).alias("d"))
    return drug.join(descriptions, "hcpcs_code", "left").select(
        F.lit(year).alias("data_year"),
        "hcpcs_code",
        "hcpcs_description",
        (F.coalesce(F.col("d"), F.lit(0)) == 1).alias("is_drug"),
    )


def provider_locations(part_b: DataFrame, year: int) -> DataFrame:
    return (
        part_b.groupBy("npi", "state", "zip5")
        .agg(F.count(F.lit(1)).alias("row_count"))
        .select(F.lit(year).alias("data_year"), "npi", "state", "zip5", "row_count")
    )


def clinician_rows(clinicians: DataFrame, year: int) -> DataFrame:
    keys = ["npi", "specialty", "medical_school", "practice_id", "practice_name", "state", "zip5"]
    return (
        clinicians.groupBy(*keys)
        .agg(F.count(F.lit(1)).alias("row_count"))
        .select(F.lit(year).alias("data_year"), *keys, "row_count")
    )


def hospital_affiliations(affiliations: DataFrame, clinicians: DataFrame, year: int) -> DataFrame:
    """From the affiliations file (type from `facility_type`, no name) and from the older
    clinicians layout's inline hosp_afl_1..5 (type Hospital, name from the LBN column)."""
    current = affiliations.select(
        "npi", "facility_ccn", "facility_type", F.lit(None).cast("string").alias("facility_name")
    )
    inline = [
        clinicians.select(
            "npi",
            F.col(f"hosp_afl_ccn_{i}").alias("facility_ccn"),
            F.lit("Hospital").alias("facility_type"),
            F.col(f"hosp_afl_name_{i}").alias("facility_name"),
        )
        for i in range(1, 6)
    ]
    return (
        union([current, *inline])
        .where(F.col("facility_ccn").isNotNull())
        .groupBy("npi", "facility_ccn")
        .agg(
            F.min("facility_type").alias("facility_type"),
            F.min("facility_name").alias("facility_name"),
        )
        .select(
            F.lit(year).alias("data_year"), "npi", "facility_ccn", "facility_type", "facility_name"
        )
    )


PROVIDER_ROW_KEYS = [
    "npi",
    "last_name",
    "first_name",
    "provider_type",
    "entity_type",
    "state",
    "zip5",
]


def provider_rows(
    part_b: DataFrame, part_d: DataFrame, clinicians: DataFrame, year: int
) -> DataFrame:
    """landing.provider_rows: one row per dataset × distinct (NPI, last name, first name,
    provider type, entity type, state, ZIP5) of the cleaned Part B, Part D and clinicians rows,
    with the number of rows it stands for. dbt picks each NPI's most frequent values from it
    (contract v2 section 2, provider facts); a column a dataset does not have is NULL."""

    def none() -> F.Column:
        return F.lit(None).cast("string")

    sources = {
        "part_b": part_b.select(
            "npi",
            F.col("provider_last_org_name").alias("last_name"),
            F.col("provider_first_name").alias("first_name"),
            "provider_type",
            F.col("entity_code").alias("entity_type"),
            "state",
            "zip5",
        ),
        "part_d": part_d.select(
            "npi",
            F.col("prescriber_last_org_name").alias("last_name"),
            F.col("prescriber_first_name").alias("first_name"),
            F.col("prescriber_type").alias("provider_type"),
            none().alias("entity_type"),
            "state",
            none().alias("zip5"),
        ),
        "clinicians": clinicians.select(
            "npi",
            "last_name",
            "first_name",
            none().alias("provider_type"),
            none().alias("entity_type"),
            none().alias("state"),
            none().alias("zip5"),
        ),
    }
    counted = [
        rows.groupBy(*PROVIDER_ROW_KEYS)
        .agg(F.count(F.lit(1)).alias("row_count"))
        .withColumn("dataset", F.lit(dataset))
        for dataset, rows in sources.items()
    ]
    return union(counted).select(
        F.lit(year).alias("data_year"), "dataset", *PROVIDER_ROW_KEYS, "row_count"
    )


def mips_scores(mips: DataFrame, year: int) -> DataFrame:
    """The largest numeric final score of each NPI (NULL when it has none)."""
    return (
        mips.groupBy("npi")
        .agg(F.max("final_mips_score").alias("final_mips_score"))
        .select(F.lit(year).alias("data_year"), "npi", "final_mips_score")
    )


def landing_frames(spark: SparkSession, lake: str, year: int) -> dict[str, DataFrame]:
    """Every landing table's rows of the year. The events are read from one release of the
    year (its pointer resolved once, so procedures and prescriptions never come from two
    releases); an optional dataset absent from the release gives no rows."""
    from spark_jobs.step2_explode import PRESCRIPTIONS, PROCEDURES, read_events

    event_lake.link_datasets(lake, year)  # a crash right after a first commit: finish it
    release = event_lake.current_release_uri(lake, year)
    if release is None:
        raise RuntimeError(f"no events of {year} in {lake}: the explode step has not run")

    def clean(dataset: str) -> DataFrame:
        return read_clean(spark, lake, dataset, year)

    part_b = clean("part_b")
    clinicians = clean("clinicians")
    procedures = read_events(spark, PROCEDURES, storage.join(release, "procedures"))
    prescriptions = read_events(spark, PRESCRIPTIONS, storage.join(release, "prescriptions"))
    return {
        "procedure_events": procedure_totals(procedures.withColumn("data_year", F.lit(year))),
        "prescription_events": prescription_totals(
            prescriptions.withColumn("data_year", F.lit(year))
        ),
        "hcpcs_codes": hcpcs_codes(part_b, year),
        "provider_locations": provider_locations(part_b, year),
        "clinician_rows": clinician_rows(clinicians, year),
        "hospital_affiliations": hospital_affiliations(clean("affiliations"), clinicians, year),
        "provider_rows": provider_rows(part_b, clean("part_d"), clinicians, year),
        "mips_scores": mips_scores(clean("mips"), year),
    }


# -- loading -------------------------------------------------------------------------------


def _copy_partitions(url: str, table: str, columns: list[str]):
    """A mapInArrow function: stream each Arrow batch of the partition into COPY."""

    def load(batches):
        import io

        import psycopg
        import pyarrow as pa
        import pyarrow.csv as pacsv

        rows = 0
        with psycopg.connect(url) as conn, conn.cursor() as cur:
            statement = f"copy incoming.{table} ({', '.join(columns)}) from stdin (format csv)"
            with cur.copy(statement) as copy:
                for batch in batches:
                    if batch.num_rows:
                        buffer = io.BytesIO()
                        pacsv.write_csv(batch, buffer, pacsv.WriteOptions(include_header=False))
                        copy.write(buffer.getvalue())
                        rows += batch.num_rows
        yield pa.RecordBatch.from_pydict({"rows": [rows]})

    return load


def stage(frame: DataFrame, url: str, incoming_table: str, columns: list[str]) -> int:
    loaded = frame.select(*columns).mapInArrow(
        _copy_partitions(url, incoming_table, columns), "rows long"
    )
    return int(loaded.agg(F.sum("rows")).first()[0] or 0)


INCOMING_LEASES = "medidash incoming"  # advisory lock namespace: one lock per loading run


def _lease_key(suffix: str) -> tuple[str, str]:
    return INCOMING_LEASES, suffix


def drop_dead_incoming(conn, own: str) -> None:
    """Drop the run's own incoming tables (a previous attempt's) and those of dead runs.

    A loading run holds an advisory lock named by its suffix on its connection for as long as
    it loads; a run whose lock can be taken is gone (killed, or its database connection lost),
    and only then are its tables dropped. A live run of another year is never touched."""
    tables = conn.execute(
        "select tablename from pg_tables where schemaname = 'incoming'"
    ).fetchall()
    by_run: dict[str, list[str]] = {}
    for (name,) in tables:
        by_run.setdefault(name.rsplit("__", 1)[-1], []).append(name)
    for suffix, names in sorted(by_run.items()):
        if suffix != own:
            free = conn.execute(
                "select pg_try_advisory_lock(hashtext(%s), hashtext(%s))", _lease_key(suffix)
            ).fetchone()[0]
            if not free:
                continue
        for name in names:
            conn.execute(f'drop table if exists incoming."{name}"')
        if suffix != own:
            conn.execute(
                "select pg_advisory_unlock(hashtext(%s), hashtext(%s))", _lease_key(suffix)
            )


def create_incoming(conn, year: int, suffix: str, loaded_at: datetime) -> None:
    """The run's empty incoming tables: one per landing table, and its quarantine's."""
    for table in LANDING_TABLES:
        # logged, and holding only its year: it becomes the year's landing partition as it is
        conn.execute(
            f"create table incoming.{table}__{suffix} (like landing.{table} "
            f"including defaults, check (data_year = {int(year)}))"
        )
        conn.execute(
            f"alter table incoming.{table}__{suffix} alter column loaded_at "
            f"set default '{loaded_at.isoformat()}'"
        )
    conn.execute(f"create unlogged table incoming.quarantine__{suffix} (like ops.quarantine)")


def load(spark: SparkSession, lake: str, year: int, run_id: str, url: str) -> dict[str, int]:
    import psycopg

    ensure_schema(url)
    suffix = "".join(ch if ch.isalnum() else "_" for ch in run_id.lower())[:40]
    loaded_at = datetime.now(UTC)
    # held open for the whole load: its advisory lock tells other runs this one is alive
    with psycopg.connect(url, autocommit=True) as lease:
        lease.execute("select pg_advisory_lock(hashtext(%s), hashtext(%s))", _lease_key(suffix))
        drop_dead_incoming(lease, suffix)
        create_incoming(lease, year, suffix, loaded_at)
        try:
            counts = {}
            for table, frame in landing_frames(spark, lake, year).items():
                columns = [c for c in LANDING_COLUMNS[table] if c != "loaded_at"]
                counts[table] = stage(frame, url, f"{table}__{suffix}", columns)
            quarantine = spark.read.parquet(storage.join(run_folder(lake, run_id), "quarantine"))
            counts["quarantine"] = stage(
                quarantine, url, f"quarantine__{suffix}", QUARANTINE_COLUMNS
            )
            marts_lock.acquire(url, run_id, year, say=lambda line: print(line, flush=True))
            replace_year(url, year, run_id, suffix, read_reconciliation(lake, run_id))
            # the whole table's statistics; ANALYZE of a partitioned table also analyzes each
            # partition, the new year's among them
            for table in LANDING_TABLES:
                lease.execute(f"analyze landing.{table}")
            return counts
        finally:
            try:
                drop_dead_incoming(lease, suffix)
            except psycopg.Error:
                pass  # the database is gone; the next run drops the leftovers


def replace_year(url: str, year: int, run_id: str, suffix: str, report: dict) -> None:
    """One transaction replaces the year's landing rows with the run's incoming ones, and
    records the run's reconciliation and quarantine.

    The year's rows are not copied: each incoming table already holds the year alone (its
    CHECK constraint says so, so PostgreSQL need not scan it to attach it), and becomes the
    year's partition of its landing table in place of the previous one. What the transaction
    writes is the catalog, whatever the size of the year."""
    import psycopg

    with psycopg.connect(url) as conn:
        for table in LANDING_TABLES:
            partition = year_partition(table, year)
            if conn.execute("select to_regclass(%s)", (f"landing.{partition}",)).fetchone()[0]:
                conn.execute(f"alter table landing.{table} detach partition landing.{partition}")
                conn.execute(f"drop table landing.{partition}")
            # the year's rows in the default partition: an older warehouse's, or written by hand
            conn.execute(f"delete from landing.{table} where data_year = %s", (year,))
            conn.execute(f"alter table incoming.{table}__{suffix} set schema landing")
            conn.execute(f"alter table landing.{table}__{suffix} rename to {partition}")
            conn.execute(
                f"alter table landing.{table} attach partition landing.{partition} "
                f"for values in ({int(year)})"
            )
        conn.execute("delete from ops.reconciliation where run_id = %s", (run_id,))
        for dataset, entry in sorted(report.items()):
            conn.execute(
                "insert into ops.reconciliation (run_id, dataset, input_rows, valid_rows, "
                "duplicate_rows, filtered_rows, quarantined_rows, events_written, "
                "events_expected) values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    run_id,
                    dataset,
                    # a dataset absent from the release has only its (zero) event counts
                    entry.get("input_rows", 0),
                    entry.get("valid_rows", 0),
                    entry.get("duplicate_rows", 0),
                    entry.get("filtered_rows", 0),
                    entry.get("quarantined_rows", 0),
                    entry.get("events_written"),
                    entry.get("events_expected"),
                ),
            )
        columns = ", ".join(QUARANTINE_COLUMNS)
        conn.execute("delete from ops.quarantine where run_id = %s", (run_id,))
        conn.execute(
            f"insert into ops.quarantine ({columns}) select {columns} "
            f"from incoming.quarantine__{suffix}"
        )


def main(argv: list[str] | None = None) -> int:
    args = parser(__doc__.splitlines()[0], database=True).parse_args(argv)

    def body():
        if not args.database_url:
            raise ValueError("no warehouse: MEDIDASH_DATABASE_URL (or --database-url) is not set")
        spark = build_session("medidash-step3-aggregate-load")
        counts = load(spark, args.lake, args.year, args.run_id, args.database_url)
        for table, rows in counts.items():
            print(f"{table}: {rows:,} rows loaded")

    return main_guard("step3_aggregate_load", body)


if __name__ == "__main__":
    sys.exit(main())
