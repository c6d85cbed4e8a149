"""Faults during a refresh: a SIGKILLed Spark driver (explode, load) and a database stopped
mid-load. After a re-run the marts equal those of a clean run, the lake holds each event once and
no incoming table is left behind.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medidash.warehouse import EmbeddedServer
from spark_jobs import event_lake
from tests.reliability import harness as h

YEAR = 2023
pytestmark = pytest.mark.slow


def events_digest(lake: Path) -> dict[str, str]:
    """Every event file of the year's current release: its name and a digest of its rows, in
    order."""
    out = {}
    for kind in ("procedures", "prescriptions"):
        part = lake / "events" / kind / f"data_year={YEAR}"
        out.update({f"{kind}/{k}": v for k, v in h.parquet_digest(part).items()})
    return out


def leftovers(lake: Path) -> list[str]:
    """What a writer left in the lake's events: temporary folders, and year releases that are
    not the current one (a dead attempt, a replaced release)."""
    found = [
        str(p.relative_to(lake))
        for p in (lake / "events").rglob("*")
        if p.is_dir() and ("tmp" in p.name or p.name.startswith("_temporary"))
    ]
    current = event_lake.current_release(str(lake), YEAR)
    releases = event_lake.year_releases(str(lake), YEAR)
    found += [
        str(p.relative_to(lake))
        for p in releases.iterdir()
        if p.name != event_lake.CURRENT and (current is None or p.name != current.name)
    ]
    return found


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    server = EmbeddedServer(root / "pg")
    wh = server.start()
    release = h.generate(root / "release", YEAR, scale=0.005)
    lake = root / "lake"
    common = dict(release=release, year=YEAR, lake=lake, url=wh.url)
    h.run_pipeline(run_id="clean", **common)
    h.dbt_build(wh.url)
    clean = {
        "marts": h.marts_snapshot(wh.url),
        "landing": h.landing_snapshot(wh.url),
        "events": events_digest(lake),
    }
    assert all(n > 0 for n, _ in clean["marts"].values()), clean["marts"]
    yield server, wh, common, clean
    server.stop()


def test_kill_driver_during_explode(env):
    server, wh, common, clean = env
    lake = common["lake"]
    h.run_step(1, run_id="kill-explode", **common)
    proc = h.start_step(2, run_id="kill-explode", **common)
    attempt = event_lake.year_releases(str(lake), YEAR) / "kill-explode"
    started_writing = h.wait_for(lambda: attempt.exists(), timeout=180, proc=proc)
    assert started_writing and proc.poll() is None, "explode ended before it could be killed"
    h.kill_tree(proc)
    assert events_digest(lake) == clean["events"], "a killed explode changed the committed year"

    h.run_step(2, run_id="kill-explode", **common)
    assert events_digest(lake) == clean["events"], "re-run must give the same event files"
    assert leftovers(lake) == []
    recon = json.loads((lake / "runs" / "kill-explode" / "reconciliation.json").read_text())
    for dataset in ("part_b", "part_d"):
        assert recon[dataset]["events_written"] == recon[dataset]["events_expected"]
    h.run_step(3, run_id="kill-explode", **common)
    h.dbt_build(wh.url)
    assert h.marts_snapshot(wh.url) == clean["marts"]
    assert h.incoming_tables(wh.url) == []


def test_kill_driver_during_load(env):
    server, wh, common, clean = env
    h.run_step(1, run_id="kill-load", **common)
    h.run_step(2, run_id="kill-load", **common)
    proc = h.start_step(3, run_id="kill-load", **common)
    copying = h.wait_for(lambda: h.copy_in_progress(wh.url), timeout=180, proc=proc, poll=0.02)
    assert copying and proc.poll() is None, "load ended before it could be killed"
    h.kill_tree(proc)
    assert h.landing_snapshot(wh.url) == clean["landing"], "a killed load changed landing"

    h.run_step(3, run_id="kill-load", **common)
    assert h.incoming_tables(wh.url) == [], "the re-run must clean the dead run's incoming tables"
    assert h.landing_snapshot(wh.url) == clean["landing"]
    h.dbt_build(wh.url)
    assert h.marts_snapshot(wh.url) == clean["marts"]


def test_database_stopped_during_load(env):
    server, wh, common, clean = env
    h.run_step(1, run_id="pg-down", **common)
    h.run_step(2, run_id="pg-down", **common)
    proc = h.start_step(3, run_id="pg-down", **common)
    copying = h.wait_for(lambda: h.copy_in_progress(wh.url), timeout=180, proc=proc, poll=0.02)
    assert copying and proc.poll() is None, "load ended before the database could be stopped"
    server.stop()
    try:
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode != 0, "a load whose database went away must fail"
        last = stderr.strip().splitlines()[-1] if stderr.strip() else ""
        assert "Traceback" not in last and last, f"unclear failure: {stderr[-2000:]}"
    finally:
        server.start()
    assert h.landing_snapshot(wh.url) == clean["landing"]
    h.run_step(3, run_id="pg-down", **common)
    assert h.incoming_tables(wh.url) == []
    h.dbt_build(wh.url)
    assert h.marts_snapshot(wh.url) == clean["marts"]
