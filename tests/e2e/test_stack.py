"""`medidash up` → a run of `medidash_refresh` triggered through Airflow's REST API → the marts →
`medidash down`, with no process left behind.

The stack is the real one: embedded PostgreSQL (warehouse + Airflow metadata), SeaweedFS, a
Spark standalone master and worker, Airflow's api-server / scheduler / dag-processor / triggerer
on LocalExecutor, and the dashboard. The run is triggered as a user would from a script: a JWT
from /auth/token with the admin login `up` printed, then POST /api/v2/dags/.../dagRuns with conf
pointing at a tiny generated release. Scheduled runs are switched off for the test
(AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE), so unpausing the DAG does not start a CMS download.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import psutil
import psycopg
import pytest

from medidash.generator.release import generate
from medidash.orchestration.constants import DAG_ID, MARTS
from medidash.settings import SPARK_JOBS_DIR

YEAR = 2023
SCALE = 0.0005
RUN_TIMEOUT = 1500

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (SPARK_JOBS_DIR / "step3_aggregate_load.py").exists(),
        reason="the Spark jobs have not landed yet",
    ),
]


def medidash(home: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "MEDIDASH_HOME": str(home),
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "MEDIDASH_SPARK_DRIVER_MEMORY": "1g",
        "MEDIDASH_SPARK_WORKER_MEMORY": "2g",
    }
    return subprocess.run(
        [sys.executable, "-m", "medidash.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class Api:
    """Airflow's REST API with a bearer token from the simple auth manager."""

    def __init__(self, base: str, user: str, password: str):
        self.base = base
        self.token = self.call("POST", "/auth/token", {"username": user, "password": password})[
            "access_token"
        ]

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        headers = {"Content-Type": "application/json"}
        if getattr(self, "token", None):
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(
            self.base + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers=headers,
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)


def stack_processes(home: Path) -> list[psutil.Process]:
    """Every process whose command line or working directory is inside this MEDIDASH_HOME, or
    that carries it in its environment."""
    found = []
    marker = str(home)
    for process in psutil.process_iter(["cmdline", "environ"]):
        try:
            cmdline = " ".join(process.info["cmdline"] or [])
            environ = process.info["environ"] or {}
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if process.pid == os.getpid():
            continue
        if marker in cmdline or environ.get("MEDIDASH_HOME") == marker:
            found.append(process)
    return found


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    home = tmp_path_factory.mktemp("stack-home")
    home.chmod(0o755)
    started = time.perf_counter()
    result = medidash(home, "up")
    seconds = time.perf_counter() - started
    try:
        assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
        state = json.loads((home / "stack.json").read_text())
        assert "login admin / " in result.stdout
        password = (home / "stack" / "airflow-admin-password").read_text().strip()
        assert password in result.stdout
        assert (home / "stack" / "airflow-admin-password").stat().st_mode & 0o077 == 0
        yield {"home": home, "state": state, "password": password, "up_seconds": seconds}
    finally:
        down = medidash(home, "down", timeout=300)
        print(down.stdout, down.stderr)


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("release")
    out.chmod(0o755)
    return out, generate(out, YEAR, SCALE, 5, "current")


def test_up_runs_the_dag_on_the_cluster_and_down_leaves_nothing(stack, release):
    home, state = stack["home"], stack["state"]
    urls = state["urls"]
    folder, manifest = release

    # the UI and API require the login
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(urls["airflow"] + f"/api/v2/dags/{DAG_ID}", timeout=10)
    assert denied.value.code == 401

    api = Api(urls["airflow"], "admin", stack["password"])
    deadline = time.monotonic() + 180
    while True:  # the dag-processor parses the file within its refresh interval
        try:
            api.call("GET", f"/api/v2/dags/{DAG_ID}")
            break
        except urllib.error.HTTPError:
            assert time.monotonic() < deadline, "the DAG never appeared"
            time.sleep(2)
    api.call("PATCH", f"/api/v2/dags/{DAG_ID}", {"is_paused": False})
    conf = {"data_year": YEAR, "source": str(folder), "lake": str(home / "lake"), "force": True}
    run = api.call("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": conf})
    run_path = f"/api/v2/dags/{DAG_ID}/dagRuns/" + urllib.parse.quote(run["dag_run_id"], safe="")

    started = time.perf_counter()
    deadline = time.monotonic() + RUN_TIMEOUT
    while (current := api.call("GET", run_path)["state"]) not in ("success", "failed"):
        assert time.monotonic() < deadline, f"run still {current} after {RUN_TIMEOUT} s"
        time.sleep(5)
    seconds = time.perf_counter() - started
    tasks = api.call("GET", run_path + "/taskInstances?limit=200")["task_instances"]
    failed = [t["task_id"] for t in tasks if t["state"] not in ("success", "skipped")]
    assert current == "success", f"{failed}; logs under {home}/stack/airflow/logs"
    print(f"\nmedidash up: {stack['up_seconds']:.0f} s; DAG run via the REST API: {seconds:.0f} s")

    # the Spark steps ran on the standalone master
    with urllib.request.urlopen(urls["spark_ui"] + "/json/", timeout=10) as response:
        spark = json.load(response)
    assert spark["aliveworkers"] == 1
    assert len(spark["completedapps"]) == 3
    assert all(app["state"] == "FINISHED" for app in spark["completedapps"])

    # the marts are published and reconcile with the generator's manifest
    from medidash.warehouse import EmbeddedServer

    url = EmbeddedServer(home / "pg").warehouse().url
    expected_events = next(
        e["events_expected"] for e in manifest["files"].values() if e["dataset"] == "part_b"
    )
    with psycopg.connect(url) as conn:
        for mart in MARTS:
            rows = conn.execute(
                f"select count(*) from marts.{mart} where data_year = %s", (YEAR,)
            ).fetchone()[0]
            assert rows > 0, mart
        status = conn.execute(
            "select status from ops.pipeline_runs where data_year = %s "
            "order by started_at desc limit 1",
            (YEAR,),
        ).fetchone()[0]
        events = conn.execute(
            "select sum(event_count) from landing.procedure_events where data_year = %s", (YEAR,)
        ).fetchone()[0]
    assert status == "success"
    assert events == expected_events

    # the dashboard of the stack serves the new year
    with urllib.request.urlopen(urls["dashboard"] + "/healthz", timeout=10) as response:
        assert response.status == 200

    # down stops everything up started, and nothing else of this home survives
    pids = list(state["processes"].values())
    down = medidash(home, "down", timeout=300)
    assert down.returncode == 0, down.stderr
    assert not (home / "stack.json").exists()
    assert [pid for pid in pids if psutil.pid_exists(pid)] == []
    assert stack_processes(home) == []
    assert not EmbeddedServer(home / "pg").running()
