"""Releases in S3 (or any S3-compatible store): landed to a local folder through the amazon
provider's S3Hook. The connection (`medidash_s3`) carries the credentials and, for
S3-compatible stores, `endpoint_url` in its extra.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from medidash.errors import BadInput

log = logging.getLogger(__name__)
MANIFEST = "landing-manifest.json"  # one of local.NOT_RELEASE_FILES: never part of a release


def split_uri(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    if parts.scheme not in ("s3", "s3a") or not parts.netloc:
        raise ValueError(f"{uri}: not an s3://bucket/prefix URI")
    prefix = parts.path.lstrip("/")
    return parts.netloc, (prefix.rstrip("/") + "/") if prefix else ""


def _hook(conn_id: str):
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=conn_id)


def client_for(conn_id: str):
    """The boto3 S3 client of the Airflow connection `conn_id` (credentials, endpoint_url)."""
    return _hook(conn_id).get_conn()


@dataclass(frozen=True)
class S3Object:
    """One object of a release prefix: its key, size and ETag as S3 lists them."""

    key: str
    size: int
    etag: str


def check_key(bucket: str, key: str) -> None:
    """Refuse a key whose parts could land a file outside the release folder or on another
    key's file: an empty part (`//`, a leading `/`), `.` or `..`. S3 keys are plain strings, so
    such keys are legal there; they are never made into paths."""
    parts = key.removesuffix("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise BadInput(
            "refusing this object key: a part that is empty ('//' or a leading '/'), '.' or "
            "'..' could land outside the release folder",
            file=f"s3://{bucket}/{key}",
        )


def list_objects(uri: str, conn_id: str) -> list[S3Object]:
    """Every object under the prefix (folder markers left out), sorted by key; raises for an
    empty prefix and for any unsafe key (`check_key`), before anything is read."""
    bucket, prefix = split_uri(uri)
    listed = _hook(conn_id).iter_file_metadata(prefix=prefix, bucket_name=bucket)
    objects = sorted(
        (
            S3Object(o["Key"], int(o["Size"]), o.get("ETag", "").strip('"'))
            for o in listed
            if not o["Key"].endswith("/")
        ),
        key=lambda o: o.key,
    )
    if not objects:
        raise FileNotFoundError(f"{uri}: no objects under this prefix")
    for obj in objects:
        check_key(bucket, obj.key)
    return objects


def land(uri: str, dest: Path | str, conn_id: str) -> Path:
    """Copy every object under the prefix into `dest` (same relative paths); returns `dest`.

    Each landed object is recorded in `landing-manifest.json` with its size and ETag; an object
    already there is copied again unless that record and the file's size still match it, so a
    retried task resumes and a file changed on either side is replaced.
    """
    bucket, prefix = split_uri(uri)
    objects = list_objects(uri, conn_id)
    client = client_for(conn_id)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    manifest_path = dest / MANIFEST
    landed = {}
    if manifest_path.exists():
        landed = {r["key"]: r for r in json.loads(manifest_path.read_text())}
    for obj in objects:
        relative = obj.key[len(prefix) :]
        if relative == MANIFEST:  # an earlier landing uploaded whole: never a release file
            continue
        target = dest / relative
        record = {"key": obj.key, "file": relative, "size": obj.size, "etag": obj.etag}
        if target.exists() and target.stat().st_size == obj.size and landed.get(obj.key) == record:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        client.download_file(bucket, obj.key, str(partial))
        if partial.stat().st_size != obj.size:
            raise OSError(
                f"s3://{bucket}/{obj.key}: got {partial.stat().st_size} of {obj.size} bytes"
            )
        partial.rename(target)
        landed[obj.key] = record
        _write_json(manifest_path, list(landed.values()))
        log.info("landed s3://%s/%s (%d bytes)", bucket, obj.key, obj.size)
    return dest


def _write_json(path: Path, payload) -> None:
    partial = path.with_name(path.name + ".part")
    partial.write_text(json.dumps(payload, indent=2))
    partial.replace(path)


def upload(folder: Path | str, uri: str, conn_id: str) -> list[str]:
    """Put a local release under an S3 prefix (a generated release, say, to land it from S3)."""
    from medidash.release.local import release_files

    bucket, prefix = split_uri(uri)
    hook = _hook(conn_id)
    keys = []
    root = Path(folder)
    for path in release_files(root):
        key = prefix + str(path.relative_to(root))
        hook.load_file(str(path), key=key, bucket_name=bucket, replace=True)
        keys.append(key)
    return keys
