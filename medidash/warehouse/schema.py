"""DDL of the tables MediDash itself writes: `landing.*` (step 3) and `ops.*` (contract section 5).

The `marts` schema is dbt's. Every statement is idempotent, so any stage may call
`ensure_schema` before it writes.
"""

from __future__ import annotations

from medidash.contract import MARTS, MARTS_SCHEMA, SCHEMAS

# Part B's money in dollars (contract v2 section 4); NULL where every summed event has none
PROCEDURE_MONEY = ("submitted_charge", "allowed_amount", "paid_amount", "standardized_amount")
MONEY = "numeric(22, 2)"

LANDING_TABLES: dict[str, str] = {
    "procedure_events": """
        data_year integer not null, npi text not null, state text, zip5 text,
        hcpcs_code text not null, event_count bigint not null,
        service_units numeric(20, 3) not null,
        """
    + "".join(f"{column} {MONEY}, " for column in PROCEDURE_MONEY)
    + """loaded_at timestamptz not null""",
    "prescription_events": """
        data_year integer not null, npi text not null, state text,
        generic_name text not null, claim_count bigint not null, day_supply bigint not null,
        drug_cost numeric(20, 2) not null, loaded_at timestamptz not null""",
    "hcpcs_codes": """
        data_year integer not null, hcpcs_code text not null, hcpcs_description text,
        is_drug boolean not null, loaded_at timestamptz not null""",
    "provider_locations": """
        data_year integer not null, npi text not null, state text, zip5 text,
        row_count bigint not null, loaded_at timestamptz not null""",
    "clinician_rows": """
        data_year integer not null, npi text not null, specialty text not null,
        medical_school text not null, practice_id text, practice_name text, state text,
        zip5 text, row_count bigint not null, loaded_at timestamptz not null""",
    "hospital_affiliations": """
        data_year integer not null, npi text not null, facility_ccn text not null,
        facility_type text, facility_name text, loaded_at timestamptz not null""",
    # contract v2 section 2, provider facts: the names, types and places of each NPI's rows
    "provider_rows": """
        data_year integer not null, dataset text not null, npi text not null, last_name text,
        first_name text, provider_type text, entity_type text, state text, zip5 text,
        row_count bigint not null, loaded_at timestamptz not null""",
    "mips_scores": """
        data_year integer not null, npi text not null, final_mips_score double precision,
        loaded_at timestamptz not null""",
}

OPS_DDL = """
create table if not exists ops.pipeline_runs (
    run_id text primary key,
    data_year integer not null,
    source text not null,
    started_at timestamptz not null,
    finished_at timestamptz,
    status text not null check (status in ('running', 'success', 'failed')),
    release_fingerprint text,
    error text
);
-- why a failed run failed: bad_input, refused or fault (medidash.orchestration.outcome)
alter table ops.pipeline_runs add column if not exists failure_kind text;
create table if not exists ops.reconciliation (
    run_id text not null,
    dataset text not null,
    input_rows bigint not null,
    valid_rows bigint not null,
    duplicate_rows bigint not null,
    filtered_rows bigint not null,
    quarantined_rows bigint not null,
    events_written bigint,
    events_expected bigint,
    primary key (run_id, dataset),
    check (input_rows = valid_rows + duplicate_rows + filtered_rows + quarantined_rows),
    check (events_written is not distinct from events_expected)
);
create table if not exists ops.quarantine (
    run_id text not null,
    dataset text not null,
    source_file text not null,
    line_number bigint not null,
    reason text not null,
    raw_record text
);
create index if not exists quarantine_run_idx on ops.quarantine (run_id, dataset);
-- the run building the marts (medidash/warehouse/marts_lock.py); at most one row
create table if not exists ops.marts_lock (
    run_id text primary key,
    data_year integer not null,
    acquired_at timestamptz not null default now()
);
"""


def settle_marts(url: str) -> None:
    """VACUUM each published mart, once no build is running: a mart is read-only until the
    next publish, and VACUUM marks its pages all-visible, so that counting a list's rows (a
    common code's 40,000 providers) reads the list's index alone instead of a page per row.
    (A VACUUM inside the dbt build cannot: the other models' open transactions keep the new
    rows from counting as visible to all.)"""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for mart in MARTS:
            conn.execute(f"vacuum {MARTS_SCHEMA}.{mart}")


SCHEMA_LOCK = "medidash schema"  # advisory lock: one ensure_schema at a time


def year_partition(table: str, year: int) -> str:
    """The name (in `landing`) of the partition holding one year of a landing table."""
    return f"{table}_{year}"


def default_partition(table: str) -> str:
    """The partition of a landing table for the rows of no year's own partition: those of a
    warehouse from before the partitions, and rows written by hand."""
    return f"{table}_default"


def landing_kind(conn, table: str) -> str | None:
    """pg_class.relkind of `landing.<table>`: 'p' partitioned, 'r' plain, None missing."""
    row = conn.execute(
        "select c.relkind from pg_class c join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = 'landing' and c.relname = %s",
        (table,),
    ).fetchone()
    return row[0] if row else None


def partitioned(table: str, columns: str) -> str:
    """The DDL of a landing table: partitioned by year, its partitions attached separately."""
    return f"create table landing.{table} ({columns}) partition by list (data_year)"


def ensure_schema(url: str) -> None:
    """Create the landing, incoming and ops schemas and tables if they are missing.

    Each landing table is partitioned by `data_year`, a partition per year, so that a run
    publishes its year by attaching the table it loaded instead of copying it (step 3's
    `replace_year`). A plain landing table of an older warehouse becomes the default partition
    of its partitioned table, its rows kept."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("select pg_advisory_lock(hashtext(%s))", (SCHEMA_LOCK,))
        try:
            for schema in SCHEMAS:
                conn.execute(f"create schema if not exists {schema}")
            for table, columns in LANDING_TABLES.items():
                if landing_kind(conn, table) is None:
                    conn.execute(partitioned(table, columns))
            # columns added after a table's first version: an existing database gains them
            for column in PROCEDURE_MONEY:
                conn.execute(
                    f"alter table landing.procedure_events "
                    f"add column if not exists {column} {MONEY}"
                )
            for table, columns in LANDING_TABLES.items():
                default = default_partition(table)
                if landing_kind(conn, table) == "r":
                    with conn.transaction():
                        conn.execute(f"alter table landing.{table} rename to {default}")
                        conn.execute(partitioned(table, columns))
                        conn.execute(
                            f"alter table landing.{table} attach partition "
                            f"landing.{default} default"
                        )
                conn.execute(
                    f"create table if not exists landing.{default} "
                    f"partition of landing.{table} default"
                )
            conn.execute(OPS_DDL)
        finally:
            conn.execute("select pg_advisory_unlock(hashtext(%s))", (SCHEMA_LOCK,))
