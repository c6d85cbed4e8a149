"""Drive the real pipeline stages as separate processes, so faults can be injected from outside.

Each stage runs the way the DAG runs it (its own process, its own Spark driver), which is what a
SIGKILL, a stopped database or a concurrent reader has to survive.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import psycopg

from medidash.contract import MARTS
from medidash.orchestration.dbt_env import dbt_command

STEPS = {
    1: "spark_jobs.step1_ingest",
    2: "spark_jobs.step2_explode",
    3: "spark_jobs.step3_aggregate_load",
}


def generate(out: Path, year: int, scale: float, seed: int = 7) -> Path:
    if not (out / "manifest.json").exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "medidash.cli",
                "generate",
                "--out",
                str(out),
                "--year",
                str(year),
                "--scale",
                str(scale),
                "--seed",
                str(seed),
            ],
            check=True,
            capture_output=True,
        )
    return out


def step_command(step: int, *, release: Path, year: int, lake: Path, run_id: str):
    args = [
        sys.executable,
        "-m",
        STEPS[step],
        "--year",
        str(year),
        "--lake",
        str(lake),
        "--run-id",
        run_id,
    ]
    if step == 1:
        args += ["--input", str(release)]
    return args


def _env(url: str) -> dict[str, str]:
    """The step's environment; the warehouse URL, password and all, goes here, not in argv."""
    return {
        **os.environ,
        "PYSPARK_SUBMIT_ARGS": "--master local[2] pyspark-shell",
        "MEDIDASH_DATABASE_URL": url,
    }


def run_step(step: int, *, url: str, **kw) -> subprocess.CompletedProcess:
    result = subprocess.run(step_command(step, **kw), capture_output=True, text=True, env=_env(url))
    if result.returncode != 0:
        raise AssertionError(f"step {step} failed:\n{result.stderr[-4000:]}")
    return result


def start_step(step: int, *, url: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        step_command(step, **kw),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(url),
        start_new_session=True,
    )


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the stage and every process under it (the Spark driver JVM included)."""
    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    for p in [*children]:
        try:
            p.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)


def wait_for(predicate, timeout: float, proc: subprocess.Popen | None = None, poll=0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(poll)
    return False


def run_pipeline(*, release: Path, year: int, lake: Path, run_id: str, url: str) -> None:
    for step in (1, 2, 3):
        run_step(step, release=release, year=year, lake=lake, run_id=run_id, url=url)


def dbt_build(url: str) -> None:
    command, env = dbt_command(["build", "--quiet"], url)
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"dbt build failed:\n{result.stdout[-4000:]}{result.stderr[-2000:]}")


def table_digest(conn, qualified: str) -> tuple[int, str]:
    """Row count and an order-independent digest of a table's content."""
    rows = conn.execute(f"select t::text from {qualified} t order by 1").fetchall()
    digest = hashlib.sha256("\n".join(r[0] for r in rows).encode()).hexdigest()
    return len(rows), digest


def marts_snapshot(url: str) -> dict[str, tuple[int, str]]:
    with psycopg.connect(url) as conn:
        return {t: table_digest(conn, f"marts.{t}") for t in MARTS}


def landing_snapshot(url: str) -> dict[str, tuple[int, str]]:
    from medidash.warehouse.schema import LANDING_TABLES

    with psycopg.connect(url) as conn:
        return {t: _landing_digest(conn, t) for t in LANDING_TABLES}


def _landing_digest(conn, table: str) -> tuple[int, str]:
    columns = [
        r[0]
        for r in conn.execute(
            "select column_name from information_schema.columns where table_schema = 'landing' "
            "and table_name = %s and column_name <> 'loaded_at' order by ordinal_position",
            (table,),
        )
    ]
    rows = conn.execute(
        f"select ({', '.join(columns)})::text from landing.{table} order by 1"
    ).fetchall()
    return len(rows), hashlib.sha256("\n".join(r[0] for r in rows).encode()).hexdigest()


def incoming_tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [
            r[0]
            for r in conn.execute(
                "select table_name from information_schema.tables where table_schema = 'incoming'"
            )
        ]


def copy_in_progress(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        return bool(
            conn.execute(
                "select 1 from pg_stat_activity where query ilike 'copy %%' "
                "and state = 'active' and pid <> pg_backend_pid()"
            ).fetchone()
        )


def parquet_digest(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of each Parquet file's rows, in file order.

    The rows and their order, not the raw bytes: parquet-mr writes each column's set of
    encodings into the footer in the JVM's hash order, which changes from one JVM to the next
    while the data pages stay identical.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = {}
    for path in sorted(folder.rglob("*.parquet")):
        sink = pa.BufferOutputStream()
        table = pq.read_table(path)
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        out[str(path.relative_to(folder))] = hashlib.sha256(
            sink.getvalue().to_pybytes()
        ).hexdigest()
    return out
