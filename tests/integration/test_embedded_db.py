"""The embedded PostgreSQL: start, reuse, stop, both roles, with either set of binaries."""

from __future__ import annotations

import subprocess
import sys

import psycopg
import pytest

from medidash.warehouse import EmbeddedServer


@pytest.mark.parametrize("binaries", ["auto", "pgserver"])
def test_start_reuse_stop_and_roles(tmp_path, monkeypatch, binaries):
    monkeypatch.setenv("MEDIDASH_PG_BINARIES", binaries)
    server = EmbeddedServer(tmp_path / "pg")
    wh = server.start()
    try:
        assert server.running()
        pid = (server.data / "postmaster.pid").read_text().split()[0]
        again = EmbeddedServer(tmp_path / "pg").start()
        assert again == wh, "a second start must reuse the running server and its credentials"
        assert (server.data / "postmaster.pid").read_text().split()[0] == pid

        with psycopg.connect(wh.url, autocommit=True) as conn:
            schemas = {r[0] for r in conn.execute("select nspname from pg_namespace")}
            assert {"landing", "marts", "ops", "incoming"} <= schemas
            conn.execute("create table marts.t (x int)")
            conn.execute("insert into marts.t values (1)")
            conn.execute("create table landing.secret (x int)")

        with psycopg.connect(wh.dashboard_url, autocommit=True) as conn:
            assert conn.execute("select x from marts.t").fetchall() == [(1,)]
            for statement in (
                "insert into marts.t values (2)",
                "create table marts.u (x int)",
                "select * from landing.secret",
                "create table public.u (x int)",
            ):
                with pytest.raises(psycopg.Error):
                    conn.execute(statement)

        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(wh.url.replace(wh.owner_password, "wrong-password")).close()
    finally:
        server.stop()
    assert not server.running()
    restarted = server.start()
    try:
        with psycopg.connect(restarted.url) as conn:
            assert conn.execute("select count(*) from marts.t").fetchone() == (1,)
    finally:
        server.stop()


def test_db_command_line(tmp_path):
    env = {"MEDIDASH_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    cli = [sys.executable, "-m", "medidash.cli", "db"]

    def db(*args):
        return subprocess.run(cli + list(args), env=env, capture_output=True, text=True)

    assert db("status").returncode == 3
    started = db("start")
    assert started.returncode == 0, started.stderr
    try:
        assert db("status").stdout.startswith("running")
        url = db("url").stdout.strip()
        with psycopg.connect(url) as conn:
            assert conn.execute("select current_user").fetchone() == ("medidash_owner",)
        assert "medidash_dashboard" in db("url", "--role", "dashboard").stdout
        assert str(tmp_path) in db("status").stdout, "state must stay under MEDIDASH_HOME"
    finally:
        assert db("stop").returncode == 0
    assert db("status").stdout.startswith("stopped")


def test_a_table_built_in_one_transaction_is_not_written_to_the_wal(warehouse):
    """A dbt table model is built by one CREATE TABLE AS in one transaction: the embedded
    server writes its rows to the table only (wal_level=minimal), and they are there to read."""
    with psycopg.connect(warehouse.url) as conn:
        before = conn.execute("select pg_current_wal_insert_lsn()").fetchone()[0]
        conn.execute(
            "create table marts.wal_probe as "
            "select i, repeat('x', 40) as t from generate_series(1, 200000) i"
        )
        conn.commit()
        size, written = conn.execute(
            "select pg_total_relation_size('marts.wal_probe'), "
            "pg_wal_lsn_diff(pg_current_wal_insert_lsn(), %s)",
            (before,),
        ).fetchone()
        assert conn.execute("select count(*) from marts.wal_probe").fetchone() == (200000,)
        conn.execute("drop table marts.wal_probe")
        conn.commit()
    assert size > 10 * 2**20
    assert written < 2**20, f"{written} bytes of WAL for a {size}-byte table"
