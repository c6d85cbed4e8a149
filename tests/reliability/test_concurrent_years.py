"""Runs of two different years at the same time (a backfill beside the monthly run), through
`medidash run` (two processes, their own Airflow homes, one warehouse and one lake), twice,
with SQL readers reading the marts throughout: both runs succeed, no reader sees an error or a
mix of two releases, and each year's marts equal what that year gives alone. No run touches
the other's incoming tables, `_tmp_` folders or dbt build: the second to reach its landing
replace waits for the marts lock (medidash/warehouse/marts_lock.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import psycopg
import pytest

from medidash.warehouse import EmbeddedServer, marts_lock
from medidash.warehouse.schema import ensure_schema
from spark_jobs.jobs import clean_leftovers
from spark_jobs.step3_aggregate_load import drop_dead_incoming
from tests.e2e.test_medidash_run import medidash_run, warehouse_env
from tests.reliability import harness as h
from tests.reliability.test_airflow_runs import start_run
from tests.reliability.test_refresh_consistency import CONSISTENCY_SQL

YEARS = (2021, 2022)
# rounds of the two years at once: 1 in CI's 90 minutes (2 take ~26 min on a loaded 2-core
# machine, both seen passing); MEDIDASH_CONCURRENT_ROUNDS=N repeats it N times
ROUNDS = int(os.environ.get("MEDIDASH_CONCURRENT_ROUNDS", "1"))


def year_marts(url: str, year: int) -> dict[str, tuple[int, str]]:
    """Each mart's rows of one year: count and digest."""
    with psycopg.connect(url) as conn:
        return {
            mart: h.table_digest(conn, f"(select * from marts.{mart} where data_year = {year})")
            for mart in h.MARTS
        }


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("concurrent-years")
    server = EmbeddedServer(root / "pg")
    wh = server.start()
    try:
        lake = root / "lake"
        runs = {}
        for index, year in enumerate(YEARS):
            release = h.generate(root / f"release-{year}", year, scale=0.0005, seed=20 + index)
            args = ("--input", str(release), "--year", str(year),
                    "--lake", str(lake), "--spark-master", "local[1]")  # fmt: skip
            home = root / f"home-{year}"
            # alone: the reference of its year
            code, output, _ = medidash_run(home, *args, env=warehouse_env(wh.url))
            assert code == 0, output[-6000:]
            runs[year] = (home, args)
        alone = {year: year_marts(wh.url, year) for year in YEARS}
        for year in YEARS:
            assert all(n > 0 for n, _ in alone[year].values()), alone[year]
        yield wh, lake, runs, alone
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.timeout(2400)  # ROUNDS × two whole-DAG runs at a time, after two alone
def test_two_years_at_once_both_succeed_unmixed(env):
    wh, lake, runs, alone = env
    stop = threading.Event()
    seen: dict[int, list[tuple]] = {year: [] for year in YEARS}
    errors: list[str] = []

    def reader(year: int):
        with psycopg.connect(wh.dashboard_url, autocommit=True) as conn:
            while not stop.is_set():
                try:
                    seen[year].append(conn.execute(CONSISTENCY_SQL, {"y": year}).fetchone())
                except psycopg.Error as error:
                    errors.append(f"{year}: {error}")

    threads = [threading.Thread(target=reader, args=(year,)) for year in YEARS]
    for thread in threads:
        thread.start()
    try:
        for round_ in range(ROUNDS):
            procs = {
                year: start_run(home, warehouse_env(wh.url), *args, "--force")
                for year, (home, args) in runs.items()
            }
            try:
                codes = {year: proc.wait(timeout=1500) for year, (proc, _) in procs.items()}
            finally:
                for proc, _ in procs.values():
                    if proc.poll() is None:
                        h.kill_tree(proc)
            logs = {year: log.read_text()[-6000:] for year, (_, log) in procs.items()}
            assert codes == dict.fromkeys(YEARS, 0), (round_, logs)
            for year in YEARS:
                assert year_marts(wh.url, year) == alone[year], f"round {round_}: {year} differs"
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert errors == []
    for year in YEARS:
        assert len(seen[year]) > 20, "the readers must have run through the refreshes"
        for events, summary_events, claims, summary_claims, specialties in seen[year]:
            assert events > 0 and claims > 0 and specialties > 0, f"{year}: an empty mart"
            assert (events, claims) == (summary_events, summary_claims), f"{year}: a mix"
    assert h.incoming_tables(wh.url) == []
    with psycopg.connect(wh.url) as conn:
        assert (
            conn.execute(
                "select count(*) from ops.pipeline_runs where status = 'running'"
            ).fetchone()[0]
            == 0
        )
        assert conn.execute("select count(*) from ops.marts_lock").fetchone()[0] == 0
    assert not list((lake / "runs").glob("*/work")), "a run left its work folder"


# What a run may remove of another's: only what a dead run left.


def test_a_runs_start_drops_dead_runs_incoming_tables_never_a_live_runs(warehouse):
    ensure_schema(warehouse.url)
    with (
        psycopg.connect(warehouse.url, autocommit=True) as live,
        psycopg.connect(warehouse.url, autocommit=True) as starting,
    ):
        live.execute("select pg_advisory_lock(hashtext('medidash incoming'), hashtext('live_run'))")
        for suffix in ("live_run", "dead_run", "starting_run"):
            live.execute(f"create unlogged table incoming.mips_scores__{suffix} (x int)")
        drop_dead_incoming(starting, "starting_run")
        left = h.incoming_tables(warehouse.url)
        live.execute("drop table incoming.mips_scores__live_run")
    assert left == ["mips_scores__live_run"]


def test_tmp_folders_of_a_live_run_of_another_year_are_kept(tmp_path):
    lake = tmp_path / "lake"
    root = lake / "clean" / "part_b"
    for run in ("live", "dead", "mine"):
        (root / f"_tmp_{run}").mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from spark_jobs.jobs import hold_run_lease; "
         f"hold_run_lease({str(lake)!r}, 'live'); print('held', flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        (lake / "runs" / "dead").mkdir(parents=True)
        (lake / "runs" / "dead" / ".lease").touch()  # its process ended: nobody holds it
        clean_leftovers(root, owner="mine")
        assert sorted(p.name for p in root.iterdir()) == ["_tmp_live", "_tmp_mine"]
    finally:
        holder.kill()
        holder.wait()
    clean_leftovers(root, owner="mine")  # now the live run is dead too
    assert sorted(p.name for p in root.iterdir()) == ["_tmp_mine"]


def test_the_marts_lock_waits_for_a_live_run_of_another_year(warehouse):
    ensure_schema(warehouse.url)
    ids = ("lock_test_first", "lock_test_second")
    with psycopg.connect(warehouse.url, autocommit=True) as conn:
        conn.execute("delete from ops.pipeline_runs where run_id = any(%s)", (list(ids),))
        for run_id, year in zip(ids, (1998, 1999), strict=True):
            conn.execute(
                "insert into ops.pipeline_runs (run_id, data_year, source, started_at, status) "
                "values (%s, %s, 'test', now(), 'running')",
                (run_id, year),
            )
    said: list[str] = []
    marts_lock.acquire(warehouse.url, ids[0], 1998)
    assert marts_lock.acquire(warehouse.url, ids[0], 1998) < 1  # re-entrant: a retried task
    waited: list[float] = []
    second = threading.Thread(
        target=lambda: waited.append(marts_lock.acquire(warehouse.url, ids[1], 1999, said.append))
    )
    second.start()
    time.sleep(3)
    assert waited == [] and ids[0] in said[0], said  # waiting, and saying for whom
    with psycopg.connect(warehouse.url, autocommit=True) as conn:
        conn.execute("update ops.pipeline_runs set status = 'failed' where run_id = %s", (ids[0],))
    second.join(timeout=30)
    assert waited and waited[0] >= 3
    with psycopg.connect(warehouse.url, autocommit=True) as conn:
        holder = conn.execute("select run_id from ops.marts_lock").fetchall()
        marts_lock.release(warehouse.url, ids[1])
        conn.execute("delete from ops.pipeline_runs where run_id = any(%s)", (list(ids),))
    assert holder == [(ids[1],)]
