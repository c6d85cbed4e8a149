"""Bad input fails at once (contract section 6, v2), through `medidash run` (the DAG under
Airflow) on a scale-0.001 release: the task that finds the data error fails on its first
attempt (try_number 1 in Airflow's metadata database, no retry spent), the run exits 4 in
under 60 s, and the first line it prints about the failure is the data error naming the file.

- a header no CMS layout matches: found by check_headers, before any Spark job;
- a required dataset without a valid row (a header-only Part B): found by the release reader in
  check_headers now (by ingest's check where the reader cannot tell), never by a retry.

How a Spark step's data error fails its task at once is tested on a real spark-submit in
tests/integration/test_spark_job_failures.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from medidash.errors import EXIT_BAD_INPUT
from medidash.settings import PROJECT_ROOT
from medidash.warehouse import EmbeddedServer
from tests.e2e.test_medidash_run import SMALL
from tests.reliability import harness as h
from tests.reliability.test_airflow_runs import task_states

YEAR = 2021
BUDGET_SECONDS = 60
SPARK_TASKS = ("spark_ingest", "spark_explode", "spark_aggregate_load")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("fail-fast")
    server = EmbeddedServer(root / "pg")
    wh = server.start()
    release = h.generate(root / "release", YEAR, scale=0.001, seed=13)
    home = root / "home"
    # Airflow's metadata database is migrated once per home, before any timed run
    subprocess.run(
        [sys.executable, "-c", "from medidash.orchestration.run import airflow_env, _migrate; "
         "_migrate(airflow_env('postgresql://nobody@127.0.0.1:9/none', None))"],
        cwd=PROJECT_ROOT, env={**os.environ, "MEDIDASH_HOME": str(home)}, check=True,
        capture_output=True,
    )  # fmt: skip
    yield {"url": wh.url, "release": release, "home": home, "root": root}
    server.stop()


def run(env, release: Path) -> tuple[int, str, str, float]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "medidash.cli", "run", "--input", str(release),
         "--year", str(YEAR), "--lake", str(env["root"] / "lake"), "--spark-master", "local[2]"],
        cwd=PROJECT_ROOT,
        env={**os.environ, **SMALL, "MEDIDASH_HOME": str(env["home"]),
             "MEDIDASH_DATABASE_URL": env["url"], "MEDIDASH_RETRY_DELAY_SECONDS": "30"},
        capture_output=True,
        text=True,
        timeout=900,
    )  # fmt: skip
    return result.returncode, result.stdout, result.stderr, time.monotonic() - started


def failure_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("medidash run failed")]
    assert lines, stderr[-4000:]
    return lines[0]


def copy_release(env, name: str) -> tuple[Path, Path]:
    folder = env["root"] / name
    shutil.copytree(env["release"], folder)
    return folder, next(folder.glob("MUP_PHY_*.csv"))


def test_a_header_no_layout_matches_fails_at_once(env):
    folder, part_b = copy_release(env, "bad-header")
    header, rest = part_b.read_bytes().split(b"\n", 1)
    part_b.write_bytes(header.replace(b"HCPCS_Cd", b"HCPCS_Code") + b"\n" + rest)

    code, stdout, stderr, seconds = run(env, folder)

    assert code == EXIT_BAD_INPUT, (stdout + stderr)[-6000:]
    line = failure_line(stderr)
    assert "check_headers" in line and part_b.name in line and "HCPCS_Cd" in line, line
    assert task_states(env["home"], "check_headers")[-1] == ("failed", 1)
    assert seconds < BUDGET_SECONDS, seconds


def test_a_header_only_required_file_fails_at_once(env):
    folder, part_b = copy_release(env, "header-only")
    part_b.write_bytes(part_b.read_bytes().split(b"\n", 1)[0] + b"\n")

    code, stdout, stderr, seconds = run(env, folder)

    assert code == EXIT_BAD_INPUT, (stdout + stderr)[-6000:]
    line = failure_line(stderr)
    assert part_b.name in line, line
    checked = [t for t in ("check_headers", *SPARK_TASKS) if task_states(env["home"], t)]
    last = {t: task_states(env["home"], t)[-1] for t in checked}
    assert ("failed", 1) in last.values(), last
    assert not any(state == "up_for_retry" or tries > 1 for state, tries in last.values()), last
    assert seconds < BUDGET_SECONDS, seconds
