"""The lake by URI (issue 17 item 3): every lake operation of the Spark jobs goes through Hadoop's
FileSystem API, so a lake given as a `file://` URI works as a plain path does, and the object-store
form of the year pointer (a small pointer object written once per commit, no links, no rename of
the pointer: `MEDIDASH_LAKE_POINTER=file`, the default on `s3a://`) keeps contract v2 section 3:
a crash right after the pointer is written leaves the new release whole, the next commit
removes the replaced release and the older pointers, and a reader resolving the pointer never
finds one release's procedures beside another's prescriptions.

No hadoop-aws here (no Maven Central): the object-store code paths run on `file://` URIs.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from spark_jobs import event_lake, jobs, step2_explode, storage
from tests.reliability.test_event_commit import NPI_A, NPI_B, YEAR, release


def test_locations_are_uris():
    assert storage.to_uri("/data/lake") == "file:///data/lake"
    assert storage.to_uri("file:/data/lake/") == "file:///data/lake"
    assert storage.to_uri("s3://bucket/lake") == "s3a://bucket/lake"
    assert storage.join("s3a://bucket/lake", "events", "data_year=2023") == (
        "s3a://bucket/lake/events/data_year=2023"
    )
    assert storage.name("s3a://b/x/data_year=2023") == "data_year=2023"
    assert storage.is_within("/data/lake/raw/a.csv", "file:///data/lake")
    assert not storage.is_within("/data/lake2/a.csv", "/data/lake")
    assert storage.is_object_store("s3a://b/x") and not storage.is_object_store("/x")


def current_events(lake: str) -> dict[str, list[tuple]]:
    """Both datasets of the year as a reader resolving the pointer sees them."""
    current = event_lake.current_release_uri(lake, YEAR)
    return {
        kind: sorted(
            tuple(row.values())
            for row in pq.read_table(storage.local_path(storage.join(current, kind))).to_pylist()
        )
        for kind in event_lake.KINDS
    }


def no_links(root: str) -> list[str]:
    return [
        os.path.join(top, name)
        for top, folders, files in os.walk(root)
        for name in folders + files
        if os.path.islink(os.path.join(top, name))
    ]


@pytest.fixture
def pointer_file(monkeypatch):
    monkeypatch.setenv(event_lake.POINTER_ENV, "file")


def test_a_file_uri_lake_commits_through_a_pointer_object(spark, tmp_path, pointer_file):
    lake = f"file://{tmp_path}/lake"
    root = event_lake.releases_uri(lake, YEAR)
    release(spark, tmp_path / "lake", NPI_A, 3.0, 4)
    step2_explode.explode(spark, lake, YEAR, "a")
    assert storage.names(root) == ["a", "current.000000000001"]
    first = current_events(lake)
    assert len(first["procedures"]) == 3 and len(first["prescriptions"]) == 4
    assert jobs.read_reconciliation(lake, "a")["part_b"]["events_written"] == 3

    release(spark, tmp_path / "lake", NPI_B, 5.0, 6)
    crashed = subprocess.run(
        [sys.executable, "-m", "spark_jobs.step2_explode", "--year", str(YEAR),
         "--lake", lake, "--run-id", "b"],
        env={**os.environ, event_lake.CRASH_ENV: "after_event_commit",
             "MEDIDASH_SPARK_MASTER": "local[1]"},
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert crashed.returncode == 137, crashed.stderr[-3000:]
    # the pointer was written, the replaced release and the first pointer not yet removed
    assert storage.names(root) == ["a", "b", "current.000000000001", "current.000000000002"]
    second = current_events(lake)
    assert len(second["procedures"]) == 5 and len(second["prescriptions"]) == 6
    assert {row[0] for rows in second.values() for row in rows} == {NPI_B}

    step2_explode.explode(spark, lake, YEAR, "b")  # the next run: a retry of the same run id
    assert storage.names(root) == ["b.retry", "current.000000000003"]
    assert current_events(lake) == second
    assert no_links(storage.local_path(lake)) == []
    assert not storage.exists(event_lake.dataset_uri(lake, "procedures", YEAR))


def test_a_lake_switched_to_the_pointer_object_drops_its_links(spark, tmp_path, monkeypatch):
    lake = str(tmp_path / "lake")
    release(spark, tmp_path / "lake", NPI_A, 3.0, 4)
    step2_explode.explode(spark, lake, YEAR, "a")  # link form, the default on a filesystem
    assert event_lake.dataset_path(lake, "procedures", YEAR).is_symlink()
    monkeypatch.setenv(event_lake.POINTER_ENV, "file")
    release(spark, tmp_path / "lake", NPI_B, 5.0, 6)
    step2_explode.explode(spark, lake, YEAR, "b")
    assert no_links(lake) == []  # no link is left to lead a reader to a replaced release
    assert storage.names(event_lake.releases_uri(lake, YEAR)) == ["b", "current.000000000001"]
    assert event_lake.current_release(lake, YEAR).name == "b"
