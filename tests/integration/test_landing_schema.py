"""The landing tables' DDL: ensure_schema upgrades an older warehouse (landing.procedure_events
gains the payment columns of contract v2, NULL in the rows already there; a plain table becomes
the default partition of a table partitioned by year), and running it again changes nothing. A
run publishes its year by attaching the tables it loaded, not by copying them."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from medidash.warehouse import EmbeddedServer
from medidash.warehouse.schema import (
    LANDING_TABLES,
    PROCEDURE_MONEY,
    default_partition,
    ensure_schema,
    landing_kind,
    year_partition,
)
from spark_jobs.step3_aggregate_load import create_incoming, replace_year

V1_PROCEDURE_EVENTS = """
    data_year integer not null, npi text not null, state text, zip5 text,
    hcpcs_code text not null, event_count bigint not null,
    service_units numeric(20, 3) not null, loaded_at timestamptz not null"""


def _columns(conn) -> dict[str, str]:
    rows = conn.execute(
        "select column_name, data_type || coalesce('(' || numeric_precision || ','"
        " || numeric_scale || ')', '') from information_schema.columns"
        " where table_schema = 'landing' and table_name = 'procedure_events'"
    ).fetchall()
    return dict(rows)


def test_an_existing_procedure_events_table_gains_the_payment_columns(tmp_path):
    server = EmbeddedServer(tmp_path / "pg")  # its own: the table is made the v1 way
    warehouse = server.start()
    try:
        _upgrade(warehouse.url)
    finally:
        server.stop()


def _upgrade(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create schema if not exists landing")
        conn.execute("drop table if exists landing.procedure_events")
        conn.execute(f"create table landing.procedure_events ({V1_PROCEDURE_EVENTS})")
        conn.execute(
            "insert into landing.procedure_events values "
            "(2019, '1111111111', 'CA', '94110', '99213', 3, 3.000, now())"
        )
        ensure_schema(url)
        ensure_schema(url)  # idempotent
        columns = _columns(conn)
        for money in PROCEDURE_MONEY:
            assert columns[money] == "numeric(22,2)"
        kept = conn.execute(
            f"select event_count, {', '.join(PROCEDURE_MONEY)} from landing.procedure_events"
        ).fetchall()
        assert kept == [(3, None, None, None, None)]
        assert landing_kind(conn, "procedure_events") == "p"
        # the old rows are the default partition's, not a year's
        assert conn.execute(
            f"select count(*) from landing.{default_partition('procedure_events')}"
        ).fetchone() == (1,)


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    server = EmbeddedServer(tmp_path_factory.mktemp("landing") / "pg")
    wh = server.start()
    ensure_schema(wh.url)
    yield wh
    server.stop()


def _load(url: str, year: int, run: str, codes: list[str]) -> dict[str, int]:
    """What step 3 does around Spark: the run's incoming tables, rows COPYed into them (here
    one procedure row per code), then its year replaced. Returns each incoming table's
    relfilenode: its data file."""
    with psycopg.connect(url, autocommit=True) as conn:
        create_incoming(conn, year, run, datetime.now(UTC))
        with (
            conn.cursor() as cur,
            cur.copy(
                f"copy incoming.procedure_events__{run} (data_year, npi, hcpcs_code, event_count,"
                " service_units) from stdin"
            ) as copy,
        ):
            for code in codes:
                copy.write_row((year, "1234567893", code, 2, 2))
        files = {
            table: conn.execute(
                "select relfilenode from pg_class where oid = %s::regclass",
                (f"incoming.{table}__{run}",),
            ).fetchone()[0]
            for table in LANDING_TABLES
        }
    replace_year(url, year, run, run, {})
    return files


def _codes(conn, year: int) -> list[str]:
    rows = conn.execute(
        "select hcpcs_code from landing.procedure_events where data_year = %s order by 1", (year,)
    ).fetchall()
    return [code for (code,) in rows]


def test_a_run_attaches_its_tables_as_its_years_partitions(warehouse):
    url = warehouse.url
    files = _load(url, 2021, "run_a", ["99213", "99214"])
    _load(url, 2022, "run_b", ["J0178"])
    with psycopg.connect(url, autocommit=True) as conn:
        for table in LANDING_TABLES:
            partition = year_partition(table, 2021)
            # the incoming table's own data file is the partition's: nothing was copied
            assert conn.execute(
                "select c.relfilenode, c.relispartition, pg_get_expr(c.relpartbound, c.oid)"
                " from pg_class c where c.oid = %s::regclass",
                (f"landing.{partition}",),
            ).fetchone() == (files[table], True, "FOR VALUES IN (2021)")
        assert conn.execute(
            "select count(*) from pg_tables where schemaname = 'incoming'"
            " and tablename not like 'quarantine%'"
        ).fetchone() == (0,)
        assert _codes(conn, 2021) == ["99213", "99214"]
        # the year again: its rows are the new run's alone; the other year is untouched
        conn.execute(
            "insert into landing.procedure_events (data_year, npi, hcpcs_code, event_count,"
            " service_units, loaded_at) values (2021, '1234567893', 'LEGACY', 1, 1, now())"
        )  # a row of the year in the default partition, as an older warehouse holds
    _load(url, 2021, "run_c", ["G0008"])
    with psycopg.connect(url) as conn:
        assert _codes(conn, 2021) == ["G0008"]
        assert _codes(conn, 2022) == ["J0178"]


def test_a_failed_replace_changes_no_year(warehouse):
    url = warehouse.url
    _load(url, 2019, "run_d", ["99213"])
    with psycopg.connect(url, autocommit=True) as conn:
        create_incoming(conn, 2019, "run_e", datetime.now(UTC))
        conn.execute("drop table incoming.mips_scores__run_e")  # the last table: missing
    with pytest.raises(psycopg.errors.UndefinedTable):
        replace_year(url, 2019, "run_e", "run_e", {})
    with psycopg.connect(url) as conn:
        assert _codes(conn, 2019) == ["99213"]
        assert (
            conn.execute(
                "select count(*) from pg_tables where schemaname = 'incoming'"
                " and tablename like '%\\_\\_run\\_e' and tablename not like 'quarantine%'"
            ).fetchone()[0]
            == len(LANDING_TABLES) - 1
        )  # the others still there, not attached
