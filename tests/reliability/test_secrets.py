"""No secret anywhere (contract section 5, v2): a `medidash run` against a PostgreSQL whose owner
has a password, failing in the load for a real reason (the owner lost its write privilege on a
landing table), leaves the password in none of what the run wrote or showed:

- its stdout and stderr;
- every file under the run's MEDIDASH_HOME (Airflow's task logs when it writes them, its
  metadata database's bytes, the raw zone, the code zip), and the metadata database's XComs and
  rendered template fields read as rows;
- every `ops` table;
- the command line of every process, sampled every 0.2 s while the run lasts (`ps -eww -o args`,
  at full width).

The failed run's error still says, in words, which task failed and why.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from urllib.parse import quote

import psycopg
import pytest

from medidash.settings import PROJECT_ROOT
from medidash.warehouse import EmbeddedServer
from tests.e2e.test_medidash_run import SMALL
from tests.reliability import harness as h

YEAR = 2021
pytestmark = pytest.mark.slow


class ProcessSampler(threading.Thread):
    """Every command line on the machine, every 0.2 s, until stopped."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.lines: set[str] = set()
        self.samples = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            result = subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True, text=True)
            self.lines.update(result.stdout.splitlines())
            self.samples += 1
            self._done.wait(0.2)

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=10)


def hits(text: str, secrets: list[str]) -> list[str]:
    """The lines of `text` that hold any of the secrets (for the failure message)."""
    return [line[:300] for line in text.splitlines() if any(s in line for s in secrets)]


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("secrets")
    server = EmbeddedServer(root / "pg")
    wh = server.start()
    release = h.generate(root / "release", YEAR, scale=0.0005, seed=11)
    home = root / "home"
    secrets = sorted({wh.owner_password, quote(wh.owner_password, safe=""), wh.url})
    assert len(wh.owner_password) >= 16
    # a real fault in the load: the owner may no longer write one landing table
    from medidash.warehouse.schema import ensure_schema

    ensure_schema(wh.url)
    with psycopg.connect(wh.admin_url, autocommit=True) as conn:
        conn.execute("revoke insert, delete on landing.procedure_events from medidash_owner")
    sampler = ProcessSampler()
    sampler.start()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "medidash.cli", "run", "--input", str(release),
             "--year", str(YEAR), "--lake", str(root / "lake"), "--spark-master", "local[2]"],
            cwd=PROJECT_ROOT,
            # the URL through the environment: on the command line it would be the caller's leak
            env={**os.environ, **SMALL, "MEDIDASH_HOME": str(home), "MEDIDASH_DATABASE_URL": wh.url},
            capture_output=True,
            text=True,
            timeout=1200,
        )  # fmt: skip
    finally:
        sampler.stop()
    yield {"result": result, "home": home, "url": wh.url, "secrets": secrets, "ps": sampler}
    server.stop()


def test_the_run_failed_in_the_load_and_says_why(failed_run):
    result = failed_run["result"]
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-6000:]
    with psycopg.connect(failed_run["url"]) as conn:
        row = conn.execute(
            "select status, error from ops.pipeline_runs order by started_at desc limit 1"
        ).fetchone()
    assert row, output[-6000:]
    status, error = row
    assert status == "failed"
    assert "spark_aggregate_load" in error and "permission denied" in error, error


def test_no_password_in_the_output(failed_run):
    result = failed_run["result"]
    output = result.stdout + result.stderr
    assert output.strip()
    assert hits(output, failed_run["secrets"]) == []


def test_no_password_in_any_file_of_the_home(failed_run):
    home = failed_run["home"]
    files = [p for p in home.rglob("*") if p.is_file()]
    assert home / "airflow" / "airflow.db" in files
    secrets = failed_run["secrets"]
    leaking = {
        str(p.relative_to(home)): hits(p.read_bytes().decode("utf-8", "replace"), secrets)
        for p in files
        if any(s.encode() in p.read_bytes() for s in secrets)
    }
    assert leaking == {}


def test_no_password_in_xcoms_or_rendered_fields(failed_run):
    db = failed_run["home"] / "airflow" / "airflow.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rendered = conn.execute(
            "select task_id, rendered_fields from rendered_task_instance_fields"
        ).fetchall()
        xcoms = conn.execute("select task_id, key, value from xcom").fetchall()
    assert any(task == "spark_aggregate_load" for task, _ in rendered), rendered
    assert xcoms
    rows = [str(row) for row in rendered + xcoms]
    assert [r[:300] for r in rows if any(s in r for s in failed_run["secrets"])] == []


def test_no_password_in_ops(failed_run):
    with psycopg.connect(failed_run["url"]) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "select tablename from pg_tables where schemaname = 'ops' order by 1"
            )
        ]
        assert "pipeline_runs" in tables
        leaking = {
            table: hits(
                "\n".join(str(row) for row in conn.execute(f"select * from ops.{table}")),
                failed_run["secrets"],
            )
            for table in tables
        }
    assert leaking == {t: [] for t in tables}


def test_no_password_in_any_process_command_line(failed_run):
    sampler = failed_run["ps"]
    assert sampler.samples > 20
    # the sampler saw the run's own processes (the Spark driver of the load among them)
    assert any("step3_aggregate_load" in line for line in sampler.lines)
    assert hits("\n".join(sampler.lines), failed_run["secrets"]) == []
