"""The medidash_refresh DAG: imports cleanly, uses no network or connection while parsed,
and has the settings and the exact task graph the operations guide promises."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap

import pytest

from medidash import settings
from medidash.contract import MARTS

BUILD = "_model_build"  # cosmos TestBehavior.BUILD: a model's task, dbt.<model>_model_build

PARSE_CHECK = textwrap.dedent(
    """
    import hashlib, json, os, socket, sys

    def forbidden(*args, **kwargs):
        raise RuntimeError("network use while parsing the DAG")

    socket.socket.connect = forbidden
    socket.create_connection = forbidden
    socket.getaddrinfo = forbidden

    # what the project's own code hashes and which of its files anything reads while parsing
    # (imports read .py files through the same "open" audit event)
    ROOT = os.path.dirname(os.path.abspath(sys.argv[1]))
    OWN = tuple(os.path.join(ROOT, d) + os.sep for d in ("medidash", "spark_jobs", "dags"))
    hashed, opened = [], set()

    def watched(name):
        real = getattr(hashlib, name)

        def hash_by(*args, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if caller.startswith(OWN):
                hashed.append(f"{name} in {os.path.relpath(caller, ROOT)}")
            return real(*args, **kwargs)

        return hash_by

    for name in ("md5", "sha1", "sha256", "sha512", "blake2b", "new", "file_digest"):
        setattr(hashlib, name, watched(name))

    def audit(event, args):
        if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
            path = os.path.abspath(os.fsdecode(args[0]))
            inside = path.startswith(ROOT + os.sep) and not path.startswith(ROOT + "/.venv/")
            if inside and not path.endswith((".py", ".pyc")):
                opened.add(os.path.relpath(path, ROOT))

    sys.addaudithook(audit)

    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=sys.argv[1])
    if "medidash_refresh" not in bag.dags:
        sys.exit("DAG not loaded: " + json.dumps({k: str(v) for k, v in bag.import_errors.items()}))
    dag = bag.dags["medidash_refresh"]
    from airflow.serialization.serialized_objects import DagSerialization

    # what dag.test() runs (`medidash run`), and what the scheduler reads from the database
    in_process = DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))
    stored = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    print(json.dumps({
        "parse": {
            "hashed": hashed,
            "opened": sorted(opened),
            "pyspark": sorted(m for m in sys.modules if m.split(".")[0] == "pyspark"),
        },
        "serialized_retries": {
            t.task_id: [in_process.task_dict[t.task_id].retries, stored.task_dict[t.task_id].retries]
            for t in dag.tasks
        },
        "errors": {k: str(v) for k, v in bag.import_errors.items()},
        "tags": sorted(dag.tags),
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "schedule": str(getattr(dag.timetable, "_expression", dag.timetable)),
        "params": sorted(dag.params.keys()),
        "spark": {
            t.task_id: {
                "args": [str(a) for a in t.application_args or []],
                "env_vars": t.env_vars,
                "warehouse_conn_id": getattr(t, "warehouse_conn_id", None),
            }
            for t in dag.tasks
            if t.task_id.startswith("spark_")
        },
        "dbt_callbacks": {
            t.task_id: getattr(t, "callback", None) for t in dag.tasks if t.task_id.startswith("dbt.")
        },
        "macros": sorted(dag.user_defined_macros or {}),
        "tasks": {
            t.task_id: {
                "downstream": sorted(t.downstream_task_ids),
                "retries": t.retries,
                "timeout": t.execution_timeout.total_seconds() if t.execution_timeout else None,
                "backoff": t.retry_exponential_backoff,
                "type": type(t).__name__,
                "is_teardown": t.is_teardown,
            }
            for t in dag.tasks
        },
    }))
    """
)


@pytest.fixture(scope="module")
def parsed(tmp_path_factory):
    import os

    home = tmp_path_factory.mktemp("airflow")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW_CONFIG": str(settings.PROJECT_ROOT / "airflow.cfg"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "MEDIDASH_HOME": str(home),
    }
    env.pop("AIRFLOW_CONN_MEDIDASH_WAREHOUSE", None)
    from medidash.orchestration.run import parse_dbt

    parse_dbt("postgresql://nobody@127.0.0.1:9/none")  # compiles the manifest; no connection
    result = subprocess.run(
        [sys.executable, "-c", PARSE_CHECK, str(settings.DAGS_DIR)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_imports_without_errors_or_network(parsed):
    assert parsed["errors"] == {}


def test_dag_settings(parsed):
    assert parsed["tags"] == ["cms", "dbt", "medidash", "spark"]
    assert parsed["catchup"] is False
    assert parsed["max_active_runs"] == 1
    assert "expression='0 0 1 * *'" in parsed["schedule"], parsed["schedule"]
    assert parsed["params"] == ["data_year", "force", "lake", "source"]


def test_every_task_retries_with_backoff_and_a_timeout(parsed):
    for task_id, task in parsed["tasks"].items():
        assert task["retries"] >= 2, task_id
        assert task["backoff"], task_id
        assert task["timeout"] and task["timeout"] <= 6 * 3600, task_id


def test_retries_survive_serialization(parsed):
    """Scheduler and dag.test() run the serialized DAG: a setting lost there is lost in runs
    (a default_task_retries in airflow.cfg once made every task run with 0 retries)."""
    for task_id, (in_process, stored) in parsed["serialized_retries"].items():
        assert in_process == stored == parsed["tasks"][task_id]["retries"], task_id


def test_task_graph(parsed):
    tasks = parsed["tasks"]
    down = {t: v["downstream"] for t, v in tasks.items()}
    assert down["resolve_release"] == [
        "end_run",
        "land_raw_files",
        "record_success",
        "register_run",
        "release_changed",
    ]
    assert down["release_changed"] == ["land_raw_files"]
    assert down["land_raw_files"] == ["check_headers"]
    assert down["check_headers"] == ["register_run"]
    assert down["register_run"] == ["spark_ingest"]
    assert down["package_code"] == ["spark_ingest"]
    assert down["spark_ingest"] == ["spark_explode"]
    assert down["spark_explode"] == ["spark_aggregate_load"]
    for step in ("spark_ingest", "spark_explode", "spark_aggregate_load"):
        assert tasks[step]["type"] == "MedidashSparkSubmitOperator"
    dbt_tasks = sorted(t for t in tasks if t.startswith("dbt."))
    # every dbt model is one build task: the model, then its own tests, in one dbt invocation
    builds = [t for t in dbt_tasks if t.endswith(BUILD)]
    models = {t.split(".")[1].removesuffix(BUILD) for t in builds}
    assert set(MARTS) <= models
    assert "int_provider_facts" in models and "stg_landing__procedure_events" in models
    # the rest are the tests across models (below): no separate run or test task per model
    assert all(t.endswith("_test") for t in set(dbt_tasks) - set(builds)), dbt_tasks
    roots = [
        t for t in dbt_tasks if not any(t in v for k, v in down.items() if k.startswith("dbt."))
    ]
    assert all("stg_landing__" in t for t in roots), roots
    assert all(set(down[r]) <= set(tasks) for r in roots)
    assert any(t.startswith("dbt.") for t in down["spark_aggregate_load"])
    leaves = [t for t in dbt_tasks if not [d for d in down[t] if d.startswith("dbt.")]]
    assert all(down[leaf] == ["publish_marts"] for leaf in leaves), leaves
    # a cross-model test is its own task after every model it reads, not part of the first one's
    cross = "dbt.assert_mart_totals_equal_landing_test"
    assert down[cross] == ["publish_marts"]
    assert len([k for k, v in down.items() if cross in v]) > 1
    assert down["publish_marts"] == ["settle_marts"]
    assert down["settle_marts"] == ["dbt_docs"]
    assert down["dbt_docs"] == ["record_success"]
    assert down["record_success"] == ["end_run"]
    # the work folder goes and the marts lock is given up however the run ends; a teardown
    # does not decide the run's state
    assert down["end_run"] == []
    assert tasks["end_run"]["is_teardown"]


def test_parse_guard_really_blocks_network():
    """The guard used above must itself fail on network use, or the test proves nothing."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            PARSE_CHECK.split("from airflow")[0] + "socket.create_connection(('127.0.0.1', 9))",
            str(settings.DAGS_DIR),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "network use" in result.stderr
    assert socket.socket.connect is not None


def test_no_credential_reaches_a_spark_command_line(parsed):
    """The load gets the warehouse from its connection, in its environment at execution time:
    nothing in its (templated, rendered, logged) arguments or env_vars names the warehouse."""
    spark = parsed["spark"]
    assert set(spark) == {"spark_ingest", "spark_explode", "spark_aggregate_load"}
    for task_id, task in spark.items():
        assert not any("database" in a or "warehouse" in a for a in task["args"]), task_id
        assert task["env_vars"] is None, task_id
    assert spark["spark_aggregate_load"]["warehouse_conn_id"] == "medidash_warehouse"
    assert parsed["macros"] == []


def test_every_dbt_task_fails_at_once_on_a_failed_test(parsed):
    callbacks = parsed["dbt_callbacks"]
    assert callbacks
    assert set(callbacks.values()) == {"medidash.orchestration.dbt_env.fail_on_failed_tests"}


def test_parsing_hashes_no_file_and_imports_no_pyspark(parsed):
    """DAG files are parsed every few seconds by the dag-processor: pyspark is never imported
    and the jar of the JVM writer is named (its sources hashed) by the task that builds it,
    `package_code`, never while parsing. The only project files read are Airflow's config and
    the dbt project cosmos renders the dbt group from."""
    parse = parsed["parse"]
    assert parse["pyspark"] == []
    assert parse["hashed"] == []
    read = ("airflow.cfg", "dbt_project/", "medidash.egg-info/", "__editable__.")
    assert [p for p in parse["opened"] if not p.startswith(read)] == []


def test_parse_guard_sees_hashing_and_reading():
    """The instrumentation above must itself see the project hashing and reading a file."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            PARSE_CHECK.split("from airflow")[0]
            + "from spark_jobs import jvm\njvm.jar_path()\nprint(json.dumps([hashed, sorted(opened)]))",
            str(settings.DAGS_DIR),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    hashed, opened = json.loads(result.stdout)
    assert hashed == ["sha256 in spark_jobs/jvm.py"]
    assert any(p.startswith("spark_jobs/java/") and p.endswith(".java") for p in opened), opened
