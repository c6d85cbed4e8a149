"""The Spark jobs on a real standalone cluster: a master and two workers from the installed pyspark.

The workers run in their own mount namespace (`unshare --mount`), where a tmpfs covers pytest's
whole temporary tree: the release folder, the driver's MediDash home and working directory, the
code zip do not exist for them (issue 17 item 3). Driver and workers both see only the lake,
outside that tree, as they would an NFS or EFS mount; so every file an executor reads is in the
lake's storage, and the jobs' lake operations go through Hadoop's FileSystem API on that path.

The three steps are spark-submitted to `spark://127.0.0.1:PORT` the way the DAG submits them:
the application file by absolute path, the project code as the `--py-files` zip the DAG's
`package_code` task builds, from a working directory outside the repository. The master's JSON
status shows two ALIVE workers and the finished applications; the results must match the
generator's manifest (events written = events expected) and land in the `warehouse` fixture.

A slow test runs the whole DAG (`medidash run --spark-master spark://...`) on the cluster and
once locally (`local[*]`) on the same release: the events and the marts are equal.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest

from medidash.generator.release import generate
from medidash.ports import free_port
from medidash.settings import PROJECT_ROOT, SPARK_JOBS_DIR
from spark_jobs import event_lake, jvm
from tests.reliability import harness as h

YEAR = 2023
SCALE = 0.0005
BIN = Path(sys.executable).parent
STEPS = ("step1_ingest", "step2_explode", "step3_aggregate_load")


def spark_env() -> dict[str, str]:
    """This venv's pyspark as SPARK_HOME: spark-class would otherwise look for `python3` on PATH."""
    import pyspark

    return {
        "SPARK_HOME": str(Path(pyspark.__file__).parent),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def _can_unshare() -> bool:
    try:
        return subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode == 0
    except OSError:
        return False


pytestmark = pytest.mark.skipif(
    not _can_unshare(), reason="no mount namespace here (unshare --mount needs CAP_SYS_ADMIN)"
)


def hidden(folders: list[Path]) -> list[str]:
    """A command prefix that runs a command in a new mount namespace where each folder is an
    empty tmpfs: what is under it on this machine does not exist for the command."""
    mounts = "".join(f'mount -t tmpfs -o size=1m medidash-hidden "{f}" && ' for f in folders)
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", mounts + 'exec "$@"', "-"]


@pytest.fixture(scope="module")
def shared():
    """Folders driver and workers both see (the lake, as an NFS or EFS mount; the workers'
    own work folders), outside pytest's temporary tree."""
    root = Path(tempfile.mkdtemp(prefix="medidash-shared-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def master_status(ui: str) -> dict:
    with urllib.request.urlopen(f"{ui}/json/", timeout=5) as response:
        return json.load(response)


def _wait(predicate, timeout: float, what: str, processes=()) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"{what}: a cluster process exited ({process.args[:3]})")
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(what)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, shared):
    """A standalone master and two 1-core workers, each in a mount namespace without pytest's
    temporary tree (`hidden`); yields (master URL, web UI URL, the workers' PIDs)."""
    root = tmp_path_factory.mktemp("spark-cluster")
    driver_disk = tmp_path_factory.getbasetemp()
    env = {**os.environ, **spark_env(), "SPARK_NO_DAEMONIZE": "1"}
    port, ui = free_port(), free_port()
    spark_class = str(BIN / "spark-class")
    processes: list[subprocess.Popen] = []

    def start(name: str, argv: list[str]) -> None:
        log = open(root / f"{name}.log", "w")  # noqa: SIM115 - open for the process's lifetime
        processes.append(
            subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        )

    master = f"spark://127.0.0.1:{port}"
    web = f"http://127.0.0.1:{ui}"
    try:
        start(
            "master",
            [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
             "--port", str(port), "--webui-port", str(ui)],
        )  # fmt: skip
        _wait(lambda: master_status(web), 90, "master web UI", processes)
        for n in (1, 2):
            work = shared / f"worker-{n}"
            work.mkdir()
            start(
                f"worker-{n}",
                [*hidden([driver_disk]), spark_class, "org.apache.spark.deploy.worker.Worker",
                 "--cores", "1", "--memory", "1g", "--webui-port", str(free_port()),
                 "--work-dir", str(work), master],
            )  # fmt: skip
        _wait(lambda: master_status(web)["aliveworkers"] == 2, 90, "two workers", processes)
        yield master, web, [process.pid for process in processes[1:]]
    finally:
        for process in processes:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("release")
    manifest = generate(out, YEAR, SCALE, 11, "current")
    return out, manifest


@pytest.fixture(scope="module")
def code_zip(tmp_path_factory) -> Path:
    """The archive the DAG's `package_code` task ships, built by that same function."""
    from medidash.orchestration import tasks

    home = tmp_path_factory.mktemp("home")
    previous = os.environ.get("MEDIDASH_HOME")
    os.environ["MEDIDASH_HOME"] = str(home)
    try:
        return Path(tasks.package_code())
    finally:
        if previous is None:
            os.environ.pop("MEDIDASH_HOME")
        else:
            os.environ["MEDIDASH_HOME"] = previous


def _failure(stderr: str) -> str:
    """The job's own error lines (the traceback and its one-line summary), which Spark's
    shutdown logging pushes out of any fixed-size tail."""
    own = [
        line
        for line in stderr.splitlines()
        if not re.match(r"^\d\d/\d\d/\d\d \S+ (INFO|WARN) ", line)
    ]
    return "\n".join(own)[-6000:]


def spark_submit(
    master: str, code: Path, step: str, args: list[str], cwd: Path, url: str | None = None
):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "PYSPARK_SUBMIT_ARGS", "SPARK_MASTER")
    }
    env.update(spark_env())
    if url:
        env["MEDIDASH_DATABASE_URL"] = url  # as the DAG passes it: never in argv
    command = [
        str(BIN / "spark-submit"),
        "--master", master,
        "--name", f"medidash-{step}",
        "--py-files", str(code),
        "--jars", str(jvm.jar_path()),
        "--conf", "spark.driver.memory=1g",
        "--conf", "spark.executor.memory=768m",
        "--conf", "spark.executor.cores=1",
        "--conf", "spark.cores.max=2",
        "--conf", "spark.sql.shuffle.partitions=4",
        "--conf", "spark.ui.enabled=false",
        str(SPARK_JOBS_DIR / f"{step}.py"),
        *args,
    ]  # fmt: skip
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def cluster_run(cluster, release, code_zip, warehouse, tmp_path_factory, shared):
    master, web, _ = cluster
    folder, manifest = release
    lake = shared / "lake-steps"
    elsewhere = tmp_path_factory.mktemp("driver-cwd")
    assert not (elsewhere / "spark_jobs").exists() and elsewhere != PROJECT_ROOT
    run_id = "cluster_test"
    common = ["--year", str(YEAR), "--lake", str(lake), "--run-id", run_id]
    arguments = {
        "step1_ingest": ["--input", str(folder), *common],
        "step2_explode": common,
        "step3_aggregate_load": common,
    }
    timings = {}
    for step in STEPS:
        started = time.perf_counter()
        result = spark_submit(master, code_zip, step, arguments[step], elsewhere, warehouse.url)
        timings[step] = time.perf_counter() - started
        assert result.returncode == 0, f"{step}:\n{_failure(result.stderr)}"
    print(f"\nspark-submit on the standalone cluster: {timings}")
    return {"lake": lake, "run_id": run_id, "manifest": manifest, "web": web}


def test_the_workers_do_not_see_the_drivers_disk(cluster, release, code_zip, shared):
    folder, _ = release
    for pid in cluster[2]:
        seen = subprocess.run(
            ["nsenter", "--target", str(pid), "--mount", "ls", "-A", str(folder), str(shared)],
            capture_output=True, text=True,
        )  # fmt: skip
        assert "No such file or directory" in seen.stderr and str(folder) in seen.stderr, seen
        assert "worker-1" in seen.stdout, seen


def test_two_workers_ran_the_three_applications(cluster_run):
    status = master_status(cluster_run["web"])
    assert status["aliveworkers"] == 2
    assert all(w["state"] == "ALIVE" and w["cores"] == 1 for w in status["workers"])
    finished = status["completedapps"]
    # the jobs name themselves (build_session's app name), one application per step
    assert len(finished) == len(STEPS)
    assert all(app["state"] == "FINISHED" for app in finished), finished
    assert all(app["name"].startswith("medidash") for app in finished), finished
    assert status["activeapps"] == []


def test_events_written_match_the_manifest(cluster_run):
    manifest = cluster_run["manifest"]
    expected = {
        entry["dataset"]: entry["events_expected"]
        for entry in manifest["files"].values()
        if entry.get("events_expected") is not None
    }
    assert set(expected) == {"part_b", "part_d"}
    report_file = cluster_run["lake"] / "runs" / cluster_run["run_id"] / "reconciliation.json"
    report = json.loads(report_file.read_text())
    text = json.dumps(report)
    for dataset, events in expected.items():
        assert dataset in report, text[:2000]
        entry = report[dataset]
        assert entry.get("events_written") == events, dataset


def test_landing_rows_are_in_the_warehouse(cluster_run, warehouse):
    expected = {
        entry["dataset"]: entry["events_expected"]
        for entry in cluster_run["manifest"]["files"].values()
        if entry.get("events_expected") is not None
    }
    with psycopg.connect(warehouse.url) as conn:
        procedures = conn.execute(
            "select sum(event_count) from landing.procedure_events where data_year = %s", (YEAR,)
        ).fetchone()[0]
        prescriptions = conn.execute(
            "select count(*) from landing.prescription_events where data_year = %s", (YEAR,)
        ).fetchone()[0]
        reconciled = {
            dataset: (written, expected_events)
            for dataset, written, expected_events in conn.execute(
                "select dataset, events_written, events_expected from ops.reconciliation "
                "where run_id = %s and events_written is not null",
                (cluster_run["run_id"],),
            ).fetchall()
        }
        counts = {
            table: conn.execute(
                f"select count(*) from landing.{table} where data_year = %s", (YEAR,)
            ).fetchone()[0]
            for table in ("hcpcs_codes", "provider_locations", "clinician_rows", "mips_scores")
        }
    assert procedures == expected["part_b"]
    assert prescriptions > 0
    assert reconciled == {dataset: (events, events) for dataset, events in expected.items()}
    assert all(n > 0 for n in counts.values()), counts


def medidash_run(release: Path, lake: Path, home: Path, url: str, *spark: str) -> float:
    env = {
        **os.environ,
        "MEDIDASH_HOME": str(home),
        "MEDIDASH_SPARK_DRIVER_MEMORY": "1g",
        "SPARK_LOCAL_IP": "127.0.0.1",
        "MEDIDASH_DATABASE_URL": url,
    }
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "medidash.cli", "run", "--input", str(release),
         "--year", str(YEAR), "--lake", str(lake), *spark, "--force"],
        cwd=home.parent, env=env, capture_output=True, text=True, timeout=1500,
    )  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    return time.perf_counter() - started


def current_events(lake: Path) -> dict[str, str]:
    """Every event file of the year's current release: its name and a digest of its rows."""
    current = event_lake.current_release(str(lake), YEAR)
    return {
        f"{kind}/{name}": digest
        for kind in event_lake.KINDS
        for name, digest in h.parquet_digest(current / kind).items()
    }


@pytest.mark.slow
def test_the_dag_on_the_cluster_equals_a_local_run(cluster, release, warehouse, tmp_path, shared):
    """`medidash run --spark-master spark://...`: the DAG's SparkSubmitOperator tasks go to the
    standalone master (the spark_default connection), whose workers see only the shared lake;
    the run's events and marts equal those of the same DAG run with `local[*]`."""
    master, web, _ = cluster
    folder, _ = release
    before = {app["id"] for app in master_status(web)["completedapps"]}
    took = {"cluster": medidash_run(folder, shared / "lake-dag", tmp_path / "home-cluster",
                                    warehouse.url, "--spark-master", master)}  # fmt: skip
    apps = [a for a in master_status(web)["completedapps"] if a["id"] not in before]
    assert len(apps) == len(STEPS)
    assert all(app["state"] == "FINISHED" for app in apps), apps
    on_cluster = {"events": current_events(shared / "lake-dag"),
                  "marts": h.marts_snapshot(warehouse.url)}  # fmt: skip
    assert all(rows > 0 for rows, _ in on_cluster["marts"].values()), on_cluster["marts"]

    took["local"] = medidash_run(folder, tmp_path / "lake-local", tmp_path / "home-local",
                                 warehouse.url)  # fmt: skip
    print(f"\nmedidash run on the cluster and locally (s): {took}")
    assert current_events(tmp_path / "lake-local") == on_cluster["events"]
    assert h.marts_snapshot(warehouse.url) == on_cluster["marts"]
