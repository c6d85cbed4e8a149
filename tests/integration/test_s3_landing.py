"""Land a release from a real S3-compatible store (SeaweedFS) through the amazon provider's S3Hook.

The Airflow connection comes from the environment (AIRFLOW_CONN_MEDIDASH_S3, JSON, endpoint_url in
extra), exactly as the DAG's land_raw_files task gets it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from medidash.errors import BadInput
from medidash.generator.release import generate
from medidash.orchestration.constants import S3_CONN_ID
from medidash.release import s3
from medidash.release.headers import check_release
from medidash.release.local import release_files
from tests.integration.seaweed import seaweed  # noqa: F401 - the session fixture

YEAR = 2023


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("s3-release")
    generate(out, YEAR, 0.0005, seed=5, processes=1)
    return out


@pytest.fixture
def s3_conn(seaweed, monkeypatch):  # noqa: F811
    monkeypatch.setenv(f"AIRFLOW_CONN_{S3_CONN_ID.upper()}", seaweed.connection_json())
    return seaweed


def upload_with_boto3(store, folder: Path, bucket: str, prefix: str) -> None:
    client = store.client()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(folder)}")


def test_land_copies_every_object_byte_for_byte(s3_conn, release, tmp_path):
    bucket = s3_conn.new_bucket()
    upload_with_boto3(s3_conn, release, bucket, "releases/2023")

    landed = s3.land(f"s3://{bucket}/releases/2023", tmp_path / "raw", S3_CONN_ID)

    names = sorted(p.name for p in landed.iterdir() if p.name != s3.MANIFEST)
    assert names == sorted(p.name for p in release.iterdir())
    for path in release.iterdir():
        assert (landed / path.name).read_bytes() == path.read_bytes(), path.name
    assert {f.dataset for f in check_release(landed)} == {
        "part_b",
        "part_d",
        "clinicians",
        "affiliations",
        "mips",
    }


def test_landing_again_copies_nothing_and_a_short_copy_is_redone(s3_conn, release, tmp_path):
    bucket = s3_conn.new_bucket()
    upload_with_boto3(s3_conn, release, bucket, "r")
    landed = s3.land(f"s3://{bucket}/r/", tmp_path, S3_CONN_ID)
    part_b = next(landed.glob("MUP_PHY_*.csv"))
    other = landed / "DAC_NationalDownloadableFile.csv"
    os.utime(other, (1_000_000, 1_000_000))
    part_b.write_bytes(part_b.read_bytes()[:1000])  # an interrupted earlier copy

    s3.land(f"s3://{bucket}/r", tmp_path, S3_CONN_ID)

    assert other.stat().st_mtime == 1_000_000
    assert part_b.read_bytes() == (release / part_b.name).read_bytes()


def test_upload_then_land_round_trip_and_fingerprint(s3_conn, release, tmp_path):
    from medidash.orchestration.tasks import resolve_release

    bucket = s3_conn.new_bucket()
    keys = s3.upload(release, f"s3://{bucket}/drop/{YEAR}", S3_CONN_ID)
    assert sorted(keys) == sorted(f"drop/{YEAR}/{p.name}" for p in release_files(release))

    first = resolve_release(f"s3://{bucket}/drop/{YEAR}", YEAR, str(tmp_path / "lake"), "manual__1")
    again = resolve_release(f"s3://{bucket}/drop/{YEAR}", YEAR, str(tmp_path / "lake"), "manual__2")
    s3_conn.client().put_object(
        Bucket=bucket, Key=f"drop/{YEAR}/ec_score_file.csv", Body=b"changed"
    )
    changed = resolve_release(f"s3://{bucket}/drop/{YEAR}", YEAR, str(tmp_path / "lake"), "m__3")

    assert first["kind"] == "s3" and first["fingerprint"] == again["fingerprint"]
    assert first["run_id"] != again["run_id"]
    assert changed["fingerprint"] != first["fingerprint"]


def test_an_empty_prefix_is_a_clear_error(s3_conn, tmp_path):
    bucket = s3_conn.new_bucket()

    with pytest.raises(FileNotFoundError, match=f"s3://{bucket}/nothing: no objects"):
        s3.land(f"s3://{bucket}/nothing", tmp_path, S3_CONN_ID)


@pytest.mark.parametrize(
    "key",
    ["r/../outside.csv", "r/sub/../../outside.csv", "r//twice.csv", "/abs/x.csv", "r/./x.csv"],
)
def test_a_key_that_could_land_outside_the_folder_is_refused(key):
    """Real S3 stores such keys as they are (SeaweedFS normalises or refuses them on upload, so
    it cannot list one): every listed key passes this check before it becomes a path."""
    with pytest.raises(BadInput, match=f"^s3://bkt/{re.escape(key)}: refusing this object key"):
        s3.check_key("bkt", key)


@pytest.mark.parametrize("key", ["r/x.csv", "r/a/b.csv", "r/.../x.csv", "r/dir/"])
def test_ordinary_keys_pass(key):
    s3.check_key("bkt", key)


def test_a_changed_object_of_the_same_size_is_landed_again(s3_conn, release, tmp_path):
    bucket = s3_conn.new_bucket()
    upload_with_boto3(s3_conn, release, bucket, "r")
    landed = s3.land(f"s3://{bucket}/r", tmp_path, S3_CONN_ID)
    mips = landed / "ec_score_file.csv"
    data = mips.read_bytes()
    changed = data[:-2] + (b"7" if data[-2:-1] != b"7" else b"8") + data[-1:]
    s3_conn.client().put_object(Bucket=bucket, Key="r/ec_score_file.csv", Body=changed)

    s3.land(f"s3://{bucket}/r", tmp_path, S3_CONN_ID)

    assert mips.read_bytes() == changed
