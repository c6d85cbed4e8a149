"""The stack's S3 store: SeaweedFS (`weed server -s3`), one identity with a generated key, and
the buckets the DAG lands releases from and may keep a lake in."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from medidash.orchestration.stack.processes import BIN_DIR, Launcher, StackPaths, secret_file

NAME = "seaweedfs"
ACCESS_KEY = "medidash"
BUCKETS = ("medidash-releases", "medidash-lake")


@dataclass(frozen=True)
class S3:
    endpoint: str
    secret_key: str
    secret_key_file: str


def write_identity(config: Path, access_key: str, secret_key: str) -> None:
    """SeaweedFS's S3 identities file (`-s3.config`): one identity, every action, mode 0600."""
    identity = {
        "name": "medidash",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    config.chmod(0o600)


def server_command(
    weed: str, data: Path, config: Path, ports: dict[str, int], volume_mb: int = 256
) -> list[str]:
    """`weed server -s3` on 127.0.0.1 only, on `ports` (weed_master, weed_volume, weed_filer,
    s3), storing in `data`; also what the tests' store runs (tests/integration/seaweed.py)."""
    return [
        weed,
        "server",
        "-s3",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={ports['weed_master']}",
        f"-volume.port={ports['weed_volume']}",
        f"-filer.port={ports['weed_filer']}",
        f"-s3.port={ports['s3']}",
        f"-s3.config={config}",
        # no Iceberg or Lance listeners: theirs are fixed ports another weed may hold
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-master.volumeSizeLimitMB={volume_mb}",
        "-volume.max=100",
    ]


def start(launcher: Launcher, paths: StackPaths, ports: dict[str, int]) -> S3:
    secret_path = paths.stack / "s3-secret-key"
    secret_key = secret_file(secret_path)
    config = paths.stack / "s3.json"
    write_identity(config, ACCESS_KEY, secret_key)
    data = paths.stack / "seaweedfs"
    data.mkdir(exist_ok=True)
    launcher.start(
        NAME,
        server_command(str(BIN_DIR / "weed"), data, config, ports),
        {**os.environ, "HOME": str(data)},
    )
    return S3(f"http://127.0.0.1:{ports['s3']}", secret_key, str(secret_path))


def wait_ready(launcher: Launcher, s3: S3) -> None:
    """Until S3 answers and every bucket exists."""
    launcher.wait_for(NAME, lambda: _buckets_ready(s3), "S3 buckets")


def _buckets_ready(s3: S3) -> bool:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=s3.endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=s3.secret_key,
        region_name="us-east-1",
    )
    try:
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        for bucket in BUCKETS:
            if bucket not in existing:
                client.create_bucket(Bucket=bucket)
    except Exception:  # noqa: BLE001 - not up yet
        return False
    return True
