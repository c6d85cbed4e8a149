"""An `s3a://` lake outside Spark (the DAG's `end_run` teardown, `medidash run`'s rates): the
run's reconciliation is read and its work folder removed on a real S3-compatible store
(SeaweedFS) with the client the orchestration makes from the `medidash_s3` connection and hands
to spark_jobs.storage, which reads no connection itself (tests/unit/test_dependencies.py).

Each case runs in a process of its own, as the Airflow worker does: in this one the session's
Spark may be running, and storage would then go through Hadoop (no hadoop-aws here).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from medidash.orchestration.constants import S3_CONN_ID
from tests.integration.seaweed import seaweed  # noqa: F401 - the session fixture

RUN = "manual__2023"
OUTSIDE_SPARK = """
import json, sys
from medidash.orchestration.tasks import lake_s3_client
from spark_jobs import jobs

lake, run, other = sys.argv[1:]
s3 = lake_s3_client(lake)
found = {"report": jobs.read_reconciliation(lake, run, s3),
         "none_yet": jobs.read_reconciliation(lake, other, s3)}
jobs.remove_work(lake, run, s3)
try:
    jobs.read_reconciliation(lake, run)
except RuntimeError as error:
    found["without_client"] = str(error)
found["spark"] = "pyspark" in sys.modules
print(json.dumps(found))
"""


@pytest.fixture
def lake(seaweed):  # noqa: F811
    bucket = seaweed.new_bucket()
    client = seaweed.client()
    client.put_object(
        Bucket=bucket,
        Key=f"lake/runs/{RUN}/reconciliation.json",
        Body=json.dumps({"part_b": {"input_rows": 7}}).encode(),
    )
    for key in (
        f"lake/runs/{RUN}/work/input/MUP_PHY.csv",
        f"lake/runs/{RUN}/work/frames/part-00000.parquet",
        f"lake/runs/{RUN}/quarantine/part-00000.parquet",
        f"lake/runs/{RUN}_2/work/input/MUP_PHY.csv",  # another run whose id starts the same
    ):
        client.put_object(Bucket=bucket, Key=key, Body=b"x")
    return seaweed, bucket


def test_an_s3a_lake_is_read_and_cleaned_with_the_connections_client(lake):
    store, bucket = lake
    result = subprocess.run(
        [sys.executable, "-c", OUTSIDE_SPARK, f"s3a://{bucket}/lake", RUN, "other_run"],
        env={**os.environ, f"AIRFLOW_CONN_{S3_CONN_ID.upper()}": store.connection_json()},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.splitlines()[-1])
    assert found["report"] == {"part_b": {"input_rows": 7}}
    assert found["none_yet"] == {}
    assert "needs the caller's S3 client" in found["without_client"]
    assert not found["spark"]
    keys = sorted(o["Key"] for o in store.client().list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == [
        f"lake/runs/{RUN}/quarantine/part-00000.parquet",
        f"lake/runs/{RUN}/reconciliation.json",
        f"lake/runs/{RUN}_2/work/input/MUP_PHY.csv",
    ]


def test_a_lake_on_a_filesystem_needs_no_client():
    from medidash.orchestration.tasks import lake_s3_client

    assert lake_s3_client("/data/lake") is None
    assert lake_s3_client("file:///data/lake") is None
