"""`medidash up` → a run of `medidash_refresh` triggered in the Airflow UI → the marts →
`medidash down`, with no process left behind.

The stack is the real one: embedded PostgreSQL (warehouse + Airflow metadata), SeaweedFS, a
Spark standalone master and worker, Airflow's api-server / scheduler / dag-processor / triggerer
on LocalExecutor, and the dashboard. The run is the session's `ui_run` (tests/e2e/conftest.py):
the admin login `up` printed, the trigger form filled with a tiny generated release. Scheduled
runs are switched off for the test (AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE), so turning the DAG
on does not start a CMS download. This module runs last of the stack's tests: it stops it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

import psutil
import psycopg
import pytest

from medidash.orchestration.constants import DAG_ID, MARTS
from tests.e2e.local_stack import YEAR, Api, medidash, stack_processes

pytestmark = pytest.mark.slow


def test_up_runs_the_dag_on_the_cluster_and_down_leaves_nothing(stack, stack_release, ui_run):
    home, state = stack["home"], stack["state"]
    urls = state["urls"]
    folder, manifest = stack_release

    # the UI and API require the login
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(urls["airflow"] + f"/api/v2/dags/{DAG_ID}", timeout=10)
    assert denied.value.code == 401

    api = Api(urls["airflow"], "admin", stack["password"])
    run_path = f"/api/v2/dags/{DAG_ID}/dagRuns/" + urllib.parse.quote(ui_run["run_id"], safe="")
    tasks = api.call("GET", run_path + "/taskInstances?limit=200")["task_instances"]
    failed = [t["task_id"] for t in tasks if t["state"] not in ("success", "skipped")]
    assert ui_run["state"] == "success", f"{failed}; logs under {home}/stack/airflow/logs"
    print(
        f"\nmedidash up: {stack['up_seconds']:.0f} s; "
        f"DAG run triggered in the UI: {ui_run['seconds']:.0f} s"
    )

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

    # no password in any of the stack's command lines, which every user of the machine can read
    server = EmbeddedServer(home / "pg").warehouse()
    secrets = {
        "owner": server.owner_password,
        "dashboard": server.dashboard_password,
        "airflow admin": stack["password"],
    }
    exposed = []
    for process in stack_processes(home):
        try:
            cmdline = " ".join(process.cmdline())
        except psutil.NoSuchProcess:
            continue
        exposed += [(process.pid, name) for name, secret in secrets.items() if secret in cmdline]
    assert exposed == [], exposed

    # down stops everything up started, and nothing else of this home survives
    pids = list(state["processes"].values())
    down = medidash(home, "down", timeout=300)
    assert down.returncode == 0, down.stderr
    assert not (home / "stack.json").exists()
    assert [pid for pid in pids if psutil.pid_exists(pid)] == []
    assert stack_processes(home) == []
    assert not EmbeddedServer(home / "pg").running()
