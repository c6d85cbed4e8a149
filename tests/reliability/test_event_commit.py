"""A year's two event datasets are replaced together (contract v2 section 3): the explode job
is killed (through its test hook, as a SIGKILL would: no cleanup) at each point of its
commit, and the lake then holds exactly one release's events, complete for both datasets,
read through the contract's paths; the next run commits its release whole and leaves
nothing behind.

`between_event_swaps` is the one moment two folders are swapped one after the other: a year
written by the first lake layout (a real folder per dataset) being adopted as a release.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from spark_jobs import event_lake, step2_explode
from spark_jobs.ingest_cleaning import CLEAN_COLUMNS

YEAR = 2023
NPI_A, NPI_B = "1111111111", "2222222222"


def write_clean(spark, lake: Path, part_b: list[dict], part_d: list[dict]) -> None:
    """A cleaned release in the lake (what step 1 leaves), from a few hand-made rows."""
    for dataset, rows in (("part_b", part_b), ("part_d", part_d)):
        names = [name for name, _ in CLEAN_COLUMNS[dataset]]
        schema = ", ".join(f"{name} {type_}" for name, type_ in CLEAN_COLUMNS[dataset])
        types = dict(CLEAN_COLUMNS[dataset])
        frame = spark.createDataFrame(
            [tuple(typed(r.get(n), types[n]) for n in names) for r in rows], schema
        )
        folder = lake / "clean" / dataset / f"data_year={YEAR}"
        frame.coalesce(1).write.mode("overwrite").parquet(str(folder))


def typed(value, type_: str):
    """A hand-written value as the clean column's type wants it."""
    if value is None or type_ in ("string", "boolean"):
        return value
    if type_.startswith("decimal"):
        return Decimal(str(value))
    return float(value) if type_ in ("double", "float") else int(value)


def release(spark, lake: Path, npi: str, services: float, claims: int) -> None:
    write_clean(
        spark,
        lake,
        [
            dict(
                npi=npi,
                hcpcs_code="99213",
                place_of_service="O",
                state="CA",
                zip5="94110",
                tot_srvcs=services,
                is_drug=False,
            )
        ],  # fmt: skip
        [
            dict(
                npi=npi,
                generic_name="METFORMIN HCL",
                brand_name="X",
                state="CA",
                tot_clms=claims,
                tot_day_suply=claims * 30,
                tot_drug_cst=claims * 1.5,
            )
        ],  # fmt: skip
    )


def current_events(lake: Path) -> dict[str, list[tuple]]:
    """Both datasets of the year as an outside reader sees them at the contract's paths."""
    out = {}
    for kind in event_lake.KINDS:
        table = pq.read_table(str(event_lake.dataset_path(str(lake), kind, YEAR)))
        out[kind] = sorted(tuple(row.values()) for row in table.to_pylist())
    return out


def explode_job(lake: Path, run_id: str, crash_at: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "spark_jobs.step2_explode",
            "--year",
            str(YEAR),
            "--lake",
            str(lake),
            "--run-id",
            run_id,
        ],  # fmt: skip
        env={**os.environ, event_lake.CRASH_ENV: crash_at, "MEDIDASH_SPARK_MASTER": "local[1]"},
        capture_output=True,
        text=True,
        timeout=600,
    )


def to_first_layout(lake: Path) -> None:
    """Rewrite the year as the first lake layout wrote it: a real folder per dataset."""
    current = event_lake.current_release(str(lake), YEAR)
    for kind in event_lake.KINDS:
        path = event_lake.dataset_path(str(lake), kind, YEAR)
        path.unlink()
        shutil.copytree(current / kind, path)
    shutil.rmtree(event_lake.year_releases(str(lake), YEAR))


@pytest.fixture(scope="module")
def releases(spark, tmp_path_factory):
    """The events of release a (3 procedure events, 4 claims) and of release b (5 and 6)."""
    root = tmp_path_factory.mktemp("swap-ref")
    events = {}
    for name, services, claims in (("a", 3.0, 4), ("b", 5.0, 6)):
        lake = root / name
        release(spark, lake, NPI_A if name == "a" else NPI_B, services, claims)
        step2_explode.explode(spark, str(lake), YEAR, name)
        events[name] = current_events(lake)
        assert len(events[name]["procedures"]) == services
        assert len(events[name]["prescriptions"]) == claims
    return events


@pytest.mark.parametrize(
    "point, first_layout, survivor",
    [
        ("before_event_commit", False, "a"),
        ("between_event_swaps", True, "a"),
        ("after_event_commit", False, "b"),
    ],
)
def test_a_crash_while_committing_leaves_one_release_complete(
    spark, tmp_path, releases, point, first_layout, survivor
):
    lake = tmp_path / "lake"
    release(spark, lake, NPI_A, 3.0, 4)
    step2_explode.explode(spark, str(lake), YEAR, "a")
    if first_layout:
        to_first_layout(lake)
    assert current_events(lake) == releases["a"]

    release(spark, lake, NPI_B, 5.0, 6)
    crashed = explode_job(lake, "b", point)
    assert crashed.returncode == 137, crashed.stderr[-3000:]
    assert current_events(lake) == releases[survivor], f"killed at {point}: not one release whole"

    step2_explode.explode(spark, str(lake), YEAR, "b")  # the next run recovers
    assert current_events(lake) == releases["b"]
    root = event_lake.year_releases(str(lake), YEAR)
    current = event_lake.current_release(str(lake), YEAR)
    assert sorted(p.name for p in root.iterdir()) == sorted([event_lake.CURRENT, current.name])
    for kind in event_lake.KINDS:
        assert event_lake.dataset_path(str(lake), kind, YEAR).is_symlink()


def test_a_year_without_part_d_has_a_readable_empty_prescriptions_dataset(spark, tmp_path):
    lake = tmp_path / "lake"
    release(spark, lake, NPI_A, 3.0, 4)
    shutil.rmtree(lake / "clean" / "part_d")  # no Part D in the release
    report = step2_explode.explode(spark, str(lake), YEAR, "no_d")
    assert report["part_d"] == {"events_written": 0, "events_expected": 0}
    events = current_events(lake)
    assert len(events["procedures"]) == 3 and events["prescriptions"] == []
    schema = pq.read_schema(
        next(Path(event_lake.current_release(str(lake), YEAR), "prescriptions").glob("*.parquet"))
    )
    assert {"npi", "generic_name", "fill_date", "days_supply", "drug_cost"} <= set(schema.names)
