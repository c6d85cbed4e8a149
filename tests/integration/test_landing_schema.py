"""ensure_schema upgrades a warehouse made before contract v2: landing.procedure_events gains
the payment columns (NULL in the rows already there), and running it again changes nothing."""

from __future__ import annotations

import psycopg

from medidash.warehouse import EmbeddedServer
from medidash.warehouse.schema import PROCEDURE_MONEY, ensure_schema

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
