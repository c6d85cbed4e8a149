"""The same cleaned release exploded on one core and on two gives the same event files: the
same names, the same rows in the same order (contract section 3)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.reliability import harness as h

pytestmark = pytest.mark.slow


def test_explode_is_identical_on_one_and_two_cores(tmp_path):
    release = h.generate(tmp_path / "release", 2023, scale=0.001, seed=11)
    lake_one = tmp_path / "lake1"
    h.run_step(1, release=release, year=2023, lake=lake_one, run_id="d", url="")
    lake_two = tmp_path / "lake2"
    shutil.copytree(lake_one, lake_two)
    for lake, master in ((lake_one, "local[1]"), (lake_two, "local[2]")):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "spark_jobs.step2_explode",
                "--year",
                "2023",
                "--lake",
                str(lake),
                "--run-id",
                "d",
            ],
            env={**os.environ, "MEDIDASH_SPARK_MASTER": master},
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr[-3000:]
    one = h.parquet_digest(lake_one / "events")
    two = h.parquet_digest(lake_two / "events")
    assert one and one == two
