"""Faults the orchestration has to absorb, through `medidash run` (the DAG under Airflow):

- a task that fails on its first attempt (the database is down when the load starts) is
  retried by Airflow and the run still yields exactly the marts of a clean run;
- two runs of the same year started at once: one is refused (exit status 3, its register_run
  failed on its first attempt), never a mix; a third started from the same home is refused at
  once by the home's lock.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from medidash.errors import EXIT_REFUSED
from medidash.settings import PROJECT_ROOT
from medidash.warehouse import EmbeddedServer
from tests.e2e.test_medidash_run import SMALL, medidash_run, warehouse_env
from tests.reliability import harness as h

YEAR = 2021
REFUSED = "refusing to load the same year twice at once"
pytestmark = pytest.mark.slow


def start_run(home: Path, env_extra: dict, *args: str) -> tuple[subprocess.Popen, Path]:
    log = home / f"run-{time.monotonic_ns()}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "medidash.cli", "run", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, **SMALL, "MEDIDASH_HOME": str(home), **env_extra},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return proc, log


def task_states(home: Path, task_id: str) -> list[tuple[str, int]]:
    """(state, try_number) of the task in every DAG run of this home's Airflow database."""
    db = home / "airflow" / "airflow.db"
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute(
                "select state, try_number from task_instance where task_id = ? order by start_date",
                (task_id,),
            ).fetchall()
    except sqlite3.OperationalError:  # locked or not migrated yet
        return []


def successful_runs(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select count(*) from ops.pipeline_runs where data_year = %s and status = 'success'",
            (YEAR,),
        ).fetchone()[0]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("airflow-runs")
    server = EmbeddedServer(root / "pg")
    wh = server.start()
    release = h.generate(root / "release", YEAR, scale=0.0005, seed=5)
    lake = root / "lake"
    homes = {name: root / f"home-{name}" for name in ("a", "b")}
    args = ("--input", str(release), "--year", str(YEAR),
            "--lake", str(lake), "--spark-master", "local[2]")  # fmt: skip
    warehouse = warehouse_env(wh.url)
    code, output, _ = medidash_run(homes["a"], *args, env=warehouse)
    assert code == 0, output[-6000:]
    # home b: the same release again is skipped, but its Airflow database is ready, so the two
    # concurrent runs below start on equal terms
    code, output, _ = medidash_run(homes["b"], *args, env=warehouse)
    assert code == 0, output[-6000:]
    clean = {"marts": h.marts_snapshot(wh.url), "landing": h.landing_snapshot(wh.url)}
    assert all(n > 0 for n, _ in clean["marts"].values()), clean["marts"]
    yield {"server": server, "url": wh.url, "homes": homes, "args": args,
           "warehouse": warehouse, "lake": lake, "clean": clean}  # fmt: skip
    server.stop()


def test_a_task_failing_its_first_attempt_is_retried_and_the_result_is_exact(env):
    home, url, server = env["homes"]["a"], env["url"], env["server"]
    events = env["lake"] / "events" / "prescriptions" / f"data_year={YEAR}"
    before = events.stat().st_ino
    runs_before = successful_runs(url)
    proc, log = start_run(
        home, {**env["warehouse"], "MEDIDASH_RETRY_DELAY_SECONDS": "20"}, *env["args"], "--force"
    )
    try:
        # explode commits the year's new release; the load starts right after: stop the db
        committed = h.wait_for(
            lambda: events.exists() and events.stat().st_ino != before, 600, proc, 0.05
        )
        assert committed, log.read_text()[-6000:]
        server.stop()
        try:
            failed_once = h.wait_for(
                lambda: ("up_for_retry", 1) in task_states(home, "spark_aggregate_load"),
                300,
                proc,
                0.5,
            )
            assert failed_once, log.read_text()[-6000:]
        finally:
            server.start()
        assert proc.wait(timeout=900) == 0, log.read_text()[-6000:]
    finally:
        if proc.poll() is None:
            h.kill_tree(proc)
    assert task_states(home, "spark_aggregate_load")[-1] == ("success", 2)
    assert successful_runs(url) == runs_before + 1
    assert h.landing_snapshot(url) == env["clean"]["landing"]
    assert h.marts_snapshot(url) == env["clean"]["marts"]
    assert h.incoming_tables(url) == []


def test_two_runs_of_the_same_year_at_once_one_is_refused(env):
    homes, url = env["homes"], env["url"]
    runs_before = successful_runs(url)
    first, first_log = start_run(homes["a"], env["warehouse"], *env["args"], "--force")
    second, second_log = start_run(homes["b"], env["warehouse"], *env["args"], "--force")
    try:
        time.sleep(2)
        # the same home again: its lock refuses at once
        third, third_log = start_run(homes["a"], env["warehouse"], *env["args"], "--force")
        assert third.wait(timeout=120) == EXIT_REFUSED, third_log.read_text()[-3000:]
        assert "in progress here" in third_log.read_text()
        codes = (first.wait(timeout=900), second.wait(timeout=900))
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                h.kill_tree(proc)
    outputs = (first_log.read_text(), second_log.read_text())
    assert sorted(codes) == [0, EXIT_REFUSED], outputs
    refused = outputs[codes.index(EXIT_REFUSED)]
    assert REFUSED in refused, refused[-6000:]
    refused_home = (homes["a"], homes["b"])[codes.index(EXIT_REFUSED)]
    assert task_states(refused_home, "register_run")[-1] == ("failed", 1)
    assert successful_runs(url) == runs_before + 1
    assert h.landing_snapshot(url) == env["clean"]["landing"]
    assert h.marts_snapshot(url) == env["clean"]["marts"]
    with psycopg.connect(url) as conn:
        running = conn.execute(
            "select count(*) from ops.pipeline_runs where status = 'running'"
        ).fetchone()[0]
    assert running == 0
