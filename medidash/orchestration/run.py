"""`medidash run`: the `medidash_refresh` DAG for one release, in this process (`dag.test()`).

The same DAG as on the scheduler, with connections from the arguments: the warehouse
(`--database-url`, else MEDIDASH_DATABASE_URL, else the embedded server), the Spark master
(`--spark-master`, else `local[*]`), the lake (`--lake`, else `.medidash/lake`). Airflow's own
metadata lives in a SQLite file under `.medidash/airflow`, migrated once.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from medidash import settings
from medidash.orchestration import constants as c

DAG_FILE = settings.DAGS_DIR / "medidash_refresh.py"


def _connection_json(url: str) -> str:
    """The `medidash_warehouse` Airflow connection of a libpq URL; its query parameters
    (sslmode, application_name, ...) become the connection's extras, which the postgres hook
    and cosmos' profile mapping hand on. The only place a warehouse URL is taken apart."""
    parts = urlsplit(url)
    return json.dumps(
        {
            "conn_type": "postgres",
            "host": parts.hostname or "127.0.0.1",
            "port": parts.port or 5432,
            "login": unquote(parts.username or ""),
            # cosmos' profile mapping refuses an empty password (trust-auth servers)
            "password": unquote(parts.password or "") or "unused",
            "schema": parts.path.lstrip("/") or "medidash",
            "extra": dict(parse_qsl(parts.query)),
        }
    )


def airflow_env(database_url: str, spark_master: str | None) -> dict[str, str]:
    home = settings.home()
    airflow_home = home / "airflow"
    airflow_home.mkdir(parents=True, exist_ok=True)
    bin_dir = str(Path(sys.executable).parent)
    env = {
        "MEDIDASH_HOME": str(home),
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW_CONFIG": str(settings.PROJECT_ROOT / "airflow.cfg"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.DAGS_DIR),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(airflow_home / "logs"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps(
            {"conn_type": "spark", "host": spark_master or "local[*]"}
        ),
        "AIRFLOW_CONN_MEDIDASH_WAREHOUSE": _connection_json(database_url),
        "DO_NOT_TRACK": "1",
        "SPARK_LOCAL_IP": os.environ.get("SPARK_LOCAL_IP", "127.0.0.1"),
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
    }
    # spark-submit must start this interpreter (pyspark, psycopg) and find a JVM
    env.setdefault("PYSPARK_PYTHON", os.environ.get("PYSPARK_PYTHON", sys.executable))
    java_home = os.environ.get("JAVA_HOME") or _java_home()
    if java_home:
        env["JAVA_HOME"] = java_home
    given = settings.current()
    if given.s3_endpoint and "AIRFLOW_CONN_MEDIDASH_S3" not in os.environ:
        env["AIRFLOW_CONN_MEDIDASH_S3"] = json.dumps(
            {
                "conn_type": "aws",
                "login": given.s3_access_key,
                "password": given.s3_secret_key,
                "extra": {
                    "endpoint_url": given.s3_endpoint,
                    "region_name": given.s3_region,
                },
            }
        )
    return env


def _java_home() -> str | None:
    java = shutil.which("java")
    return str(Path(os.path.realpath(java)).parent.parent) if java else None


def _migrate(env: dict[str, str]) -> None:
    import airflow

    stamp = Path(env["AIRFLOW_HOME"]) / f".migrated-{airflow.__version__}"
    if stamp.exists():
        return
    result = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{result.stderr[-3000:]}")
    stamp.touch()


def parse_dbt(database_url: str) -> None:
    """Compile dbt's manifest ahead, so the DAG renders the dbt task group without `dbt ls`."""
    from medidash.orchestration.dbt_env import dbt_command

    project = settings.DBT_PROJECT_DIR
    manifest = project / "target" / "manifest.json"
    newest = max(p.stat().st_mtime for p in project.rglob("*") if "target" not in p.parts)
    if manifest.exists() and manifest.stat().st_mtime >= newest:
        return
    command, env = dbt_command(["parse", "--quiet"], database_url)
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"dbt parse failed:\n{result.stdout[-3000:]}")


def _lock(year: int):
    locks = settings.home() / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    handle = open(locks / f"run-{year}.lock", "w")  # noqa: SIM115 - held for the whole run
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def run(
    source: str,
    year: int,
    *,
    database_url: str | None = None,
    lake: str | None = None,
    spark_master: str | None = None,
    force: bool = False,
    verbose: bool = False,
) -> int:
    """Run the DAG for the release at `source` (a folder, s3://bucket/prefix or `cms`) as data
    year `year`; the exit status of contract section 6. The terminal shows a line per task
    and the summary; every log goes to the run's log file (also to the terminal if verbose)."""
    from medidash.orchestration.console import RunConsole, summary

    lock = _lock(year)
    if lock is None:
        print(
            f"medidash run: another run of {year} is in progress here; refusing to "
            "load the same year twice at once",
            file=sys.stderr,
        )
        return 3
    with RunConsole(year, verbose=verbose) as console:
        try:
            database_url, outcome, seconds = _run_dag(
                console, source, year, database_url, lake, spark_master, force
            )
        except Exception as error:  # noqa: BLE001 - before or around the DAG: one line, the log
            import traceback

            from medidash.orchestration.outcome import one_line

            traceback.print_exc()  # into the log file
            console.say(f"medidash run failed: {one_line(error)}", error=True)
            console.say(f"log: {console.log}", error=True)
            return 1
    summary(console, outcome, database_url, year, seconds)
    return outcome.exit_status


def _run_dag(console, source, year, database_url, lake, spark_master, force):
    """Prepare Airflow and the warehouse, run the DAG with live task lines, read its outcome."""
    from medidash.orchestration.outcome import read_outcome
    from medidash.warehouse import resolve_database_url
    from medidash.warehouse.schema import ensure_schema

    database_url = resolve_database_url(database_url)
    ensure_schema(database_url)
    env = airflow_env(database_url, spark_master)
    os.environ.update(env)
    _mask_credentials(database_url)  # imports Airflow: only once its environment is set
    _migrate(env)
    parse_dbt(database_url)
    # runs started from this home earlier: holding the lock, they are known to be dead
    _abandon_dead_runs(database_url, Path(env["AIRFLOW_HOME"]) / "airflow.db", year)

    if source != "cms" and "://" not in source:
        source = str(Path(source).resolve())
    conf = {
        "data_year": year,
        "source": source,
        "lake": lake or settings.default_lake(),
        "force": bool(force),
    }
    import importlib.util

    spec = importlib.util.spec_from_file_location("medidash_refresh", DAG_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.medidash_refresh_dag

    started = time.perf_counter()
    with console.watch(Path(env["AIRFLOW_HOME"]) / "airflow.db", c.DAG_ID, conf["lake"]):
        dag_run = dag.test(run_conf=conf)
    seconds = time.perf_counter() - started
    return database_url, read_outcome(dag_run, database_url), seconds


def _mask_credentials(database_url: str) -> None:
    """Register every credential the run is given (the warehouse password and URL, the S3
    secret key) with Airflow's secret masker in this process, where `dag.test()` runs the
    tasks and prints their logs."""
    from airflow.sdk.log import mask_secret

    password = urlsplit(database_url).password
    if password:
        mask_secret(password)
        mask_secret(unquote(password))
        mask_secret(database_url)
    mask_secret(settings.current().s3_secret_key)


def _abandon_dead_runs(database_url: str, airflow_db: Path, year: int) -> None:
    """Mark as failed the runs of `year` this home started that are still `running` in the
    warehouse: whoever holds the home's lock for the year knows their process is gone
    (SIGKILL, power loss). The home's runs are the DAG runs in its own Airflow database. Runs
    of other machines or homes are never taken over; they block the year until they end."""
    import sqlite3

    import psycopg

    from medidash.orchestration.tasks import safe_run_id

    if not airflow_db.exists():
        return
    with sqlite3.connect(f"file:{airflow_db}?mode=ro", uri=True, timeout=30) as conn:
        airflow_runs = conn.execute(
            "select run_id from dag_run where dag_id = ?", (c.DAG_ID,)
        ).fetchall()
    run_ids = [safe_run_id(run_id) for (run_id,) in airflow_runs]
    if run_ids:
        with psycopg.connect(database_url) as conn:
            conn.execute(
                "update ops.pipeline_runs set status = 'failed', finished_at = now(), "
                "error = 'abandoned: its process ended without finishing', "
                "failure_kind = 'fault' "
                "where status = 'running' and data_year = %s and run_id = any(%s)",
                (year, run_ids),
            )
