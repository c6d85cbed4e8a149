"""`medidash run` end to end: a tiny generated release through the Airflow DAG (dag.test in a
subprocess), local Spark and dbt into the marts of the session's real PostgreSQL.

What is checked: the reconciliation invariants of the contract against the generator's own
manifest (rows, duplicates, quarantined lines, events), a second run of the same release without
--force that skips, one with --force that leaves the marts identical and adds one run row, the
same release from a real S3-compatible bucket (SeaweedFS) giving the same marts, and a release
with a broken header that fails fast with the layout error.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from medidash.generator.release import generate
from medidash.orchestration.constants import MARTS, S3_CONN_ID
from medidash.settings import PROJECT_ROOT
from tests.integration.seaweed import seaweed  # noqa: F401 - the session fixture

YEAR = 2022
SCALE = 0.0005
# sized for a tiny release on a shared 2-core machine
SMALL = {
    "MEDIDASH_SPARK_SHUFFLE_PARTITIONS": "2",
    "MEDIDASH_SPARK_DRIVER_MEMORY": "1g",
    "MEDIDASH_RETRY_DELAY_SECONDS": "1",
}


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """One MEDIDASH_HOME for the module: Airflow's metadata database is migrated once."""
    return tmp_path_factory.mktemp("medidash-home")


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("release")
    manifest = generate(out, YEAR, SCALE, seed=3, processes=1)
    return out, manifest


def warehouse_env(url: str) -> dict[str, str]:
    """How a test hands `medidash run` its warehouse: a URL with a password never goes in argv."""
    return {"MEDIDASH_DATABASE_URL": url}


def medidash_run(home: Path, *args: str, env: dict | None = None) -> tuple[int, str, float]:
    code, stdout, stderr, seconds = medidash_run_streams(home, *args, env=env)
    return code, stdout + stderr, seconds


def medidash_run_streams(
    home: Path, *args: str, env: dict | None = None
) -> tuple[int, str, str, float]:
    """`medidash run` in a subprocess (not a terminal): exit code, stdout, stderr, seconds."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "medidash.cli", "run", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, **SMALL, "MEDIDASH_HOME": str(home), **(env or {})},
        capture_output=True,
        text=True,
        timeout=1800,  # a shared 2-core machine under load took over 15 minutes
    )
    (home / f"run-{int(started)}.out").write_text(result.stdout + result.stderr)
    return result.returncode, result.stdout, result.stderr, time.monotonic() - started


def printed_log(text: str) -> Path:
    """The run's log file, from the `log:` line it printed."""
    line = next(line for line in text.splitlines() if line.startswith("log:"))
    return Path(line.split(":", 1)[1].strip())


def runs(url: str, year: int) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select run_id, status, finished_at, error from ops.pipeline_runs "
            "where data_year = %s order by started_at",
            (year,),
        ).fetchall()


def marts(url: str) -> dict[str, list[str]]:
    with psycopg.connect(url) as conn:
        return {
            name: [
                row[0]
                for row in conn.execute(
                    f"select row_to_json(t)::text as r from marts.{name} t order by r"
                )
            ]
            for name in MARTS
        }


def assert_same_marts(now: dict[str, list[str]], before: dict[str, list[str]]) -> None:
    """Equal marts, or a message naming the rows that differ (the first three each way)."""
    diffs = {
        name: {
            "only_now": sorted(set(now[name]) - set(before[name]))[:3],
            "only_before": sorted(set(before[name]) - set(now[name]))[:3],
            "counts": (len(now[name]), len(before[name])),
        }
        for name in MARTS
        if now[name] != before[name]
    }
    assert not diffs, json.dumps(diffs, indent=1)


def assert_reconciles(url: str, run_id: str, manifest: dict) -> None:
    expected: dict[str, dict] = {}
    for name, entry in manifest["files"].items():
        e = expected.setdefault(entry["dataset"], {"rows": 0, "dups": 0, "bad": 0, "lines": []})
        e["rows"] += entry["rows"]
        e["dups"] += entry["duplicate_rows"]
        e["bad"] += entry["bad_rows"]
        e["lines"] += [(name, b["line"]) for b in entry["bad_lines"]]
        e["events"] = entry.get("events_expected")
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select dataset, input_rows, valid_rows, duplicate_rows, filtered_rows, "
            "quarantined_rows, events_written, events_expected "
            "from ops.reconciliation where run_id = %s",
            (run_id,),
        ).fetchall()
        quarantined = conn.execute(
            "select dataset, source_file, line_number from ops.quarantine where run_id = %s",
            (run_id,),
        ).fetchall()
    assert sorted(r[0] for r in rows) == sorted(expected)
    for dataset, inputs, valid, dups, filtered, bad, written, events in rows:
        e = expected[dataset]
        assert inputs == valid + dups + filtered + bad, dataset
        assert (inputs, dups, bad) == (e["rows"], e["dups"], e["bad"]), dataset
        if dataset in ("part_b", "part_d"):
            assert written == events == e["events"], dataset
    for dataset, e in expected.items():
        got = sorted((Path(f).name, line) for d, f, line in quarantined if d == dataset)
        assert got == sorted(e["lines"]), dataset


@pytest.fixture(scope="module")
def first_run(home, release, warehouse, tmp_path_factory):
    folder, manifest = release
    lake = tmp_path_factory.mktemp("lake")
    code, stdout, stderr, seconds = medidash_run_streams(
        home, "--input", str(folder), "--year", str(YEAR),
        "--lake", str(lake), "--spark-master", "local[2]",
        env=warehouse_env(warehouse.url),
    )  # fmt: skip
    assert code == 0, (stdout + stderr)[-6000:]
    return {
        "lake": lake,
        "output": stdout + stderr,
        "stdout": stdout,
        "stderr": stderr,
        "seconds": seconds,
        "marts": marts(warehouse.url),
    }


def test_a_local_release_lands_in_the_marts_and_reconciles(first_run, release, warehouse):
    _, manifest = release
    history = runs(warehouse.url, YEAR)
    run_id, status, finished_at, error = history[-1]

    assert (status, error) == ("success", None) and finished_at is not None
    assert_reconciles(warehouse.url, run_id, manifest)
    assert all(first_run["marts"][name] for name in MARTS), "every mart has rows"
    assert "spark_aggregate_load" in first_run["output"] and "Dashboard:" in first_run["output"]
    assert (PROJECT_ROOT / "dbt_project" / "target" / "static_index.html").exists()


def test_a_run_prints_a_line_per_task_and_the_summary_and_logs_to_a_file(first_run):
    stdout = first_run["stdout"]
    lines = stdout.strip().splitlines()

    assert len(lines) < 45, stdout
    assert first_run["stderr"] == "", first_run["stderr"][-3000:]
    tasks = {line.split()[0]: line.split() for line in lines if line.startswith("  ")}
    for task in ("check_headers", "spark_ingest", "spark_explode", "dbt", "record_success"):
        assert tasks.get(task, [None, None])[1] == "success", stdout
    assert tasks["spark_ingest"][-1] == "rows/s" and tasks["spark_explode"][-1] == "events/s"
    for mart in MARTS:
        assert int(tasks[mart][1].replace(",", "")) > 0, stdout  # its rows for the run's year
    assert lines[-1].startswith("log:"), stdout
    log = printed_log(stdout).read_text()
    assert "SparkContext" in log and "spark_aggregate_load" in log, log[-3000:]
    assert "dbt" in log and ("OK created" in log or "PASS" in log), log[-3000:]


def test_the_same_release_again_skips_without_force(first_run, home, release, warehouse):
    folder, _ = release
    before = runs(warehouse.url, YEAR)

    code, output, seconds = medidash_run(
        home, "--input", str(folder), "--year", str(YEAR),
        "--lake", str(first_run["lake"]),
        env=warehouse_env(warehouse.url),
    )  # fmt: skip

    assert code == 0, output[-4000:]
    assert "unchanged since the last successful run" in output
    assert runs(warehouse.url, YEAR) == before
    assert seconds < first_run["seconds"] / 2, (seconds, first_run["seconds"])


@pytest.mark.slow  # a third full run (~5 min on 2 busy cores); the S3 run covers a re-load
def test_forcing_the_same_release_leaves_the_marts_identical(first_run, home, release, warehouse):
    folder, manifest = release
    before = runs(warehouse.url, YEAR)

    code, output, _ = medidash_run(
        home, "--input", str(folder), "--year", str(YEAR), "--force",
        "--lake", str(first_run["lake"]),
        "--spark-master", "local[2]",
        env=warehouse_env(warehouse.url),
    )  # fmt: skip

    assert code == 0, output[-6000:]
    after = runs(warehouse.url, YEAR)
    assert after[: len(before)] == before and len(after) == len(before) + 1
    assert after[-1][1] == "success"
    assert_reconciles(warehouse.url, after[-1][0], manifest)
    assert_same_marts(marts(warehouse.url), first_run["marts"])


def test_the_same_release_from_s3_gives_the_same_marts(
    first_run,
    home,
    release,
    warehouse,
    seaweed,  # noqa: F811
):
    folder, manifest = release
    bucket = seaweed.new_bucket()
    client = seaweed.client()
    for path in sorted(folder.iterdir()):
        client.upload_file(str(path), bucket, f"cms/{YEAR}/{path.name}")

    code, output, _ = medidash_run(
        home, "--input", f"s3://{bucket}/cms/{YEAR}", "--year", str(YEAR),
        "--lake", str(first_run["lake"]),
        "--spark-master", "local[2]",
        env={
            **warehouse_env(warehouse.url),
            f"AIRFLOW_CONN_{S3_CONN_ID.upper()}": seaweed.connection_json(),
        },
    )  # fmt: skip

    assert code == 0, output[-6000:]
    run_id, status, _, _ = runs(warehouse.url, YEAR)[-1]
    assert status == "success"
    with psycopg.connect(warehouse.url) as conn:
        source = conn.execute(
            "select source from ops.pipeline_runs where run_id = %s", (run_id,)
        ).fetchone()[0]
    assert source == f"s3://{bucket}/cms/{YEAR}"
    assert_reconciles(warehouse.url, run_id, manifest)
    assert_same_marts(marts(warehouse.url), first_run["marts"])


def test_a_broken_header_fails_fast_with_the_layout_error(home, release, warehouse, tmp_path):
    folder, _ = release
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    part_b = next(broken.glob("MUP_PHY_*.csv"))
    lines = part_b.read_bytes().split(b"\n", 1)
    part_b.write_bytes(lines[0].replace(b"HCPCS_Cd", b"HCPCS_Code") + b"\n" + lines[1])
    before = runs(warehouse.url, YEAR - 1)

    code, stdout, stderr, _ = medidash_run_streams(
        home, "--input", str(broken), "--year", str(YEAR - 1),
        "--lake", str(tmp_path / "lake"),
        env=warehouse_env(warehouse.url),
    )  # fmt: skip

    assert code != 0
    first_error, *rest = stderr.strip().splitlines()
    assert first_error.startswith("medidash run failed in check_headers: "), stderr
    assert part_b.name in first_error and "missing 1: HCPCS_Cd" in first_error, first_error
    assert rest and rest[0].startswith("log:") and printed_log(stderr).exists(), stderr
    assert "Traceback" not in stdout + stderr and len(stdout.splitlines()) < 20, stdout
    assert runs(warehouse.url, YEAR - 1) == before
    assert not (tmp_path / "lake").exists()
