"""Releases in S3 (or any S3-compatible store): landed to a local folder through the amazon
provider's S3Hook. The connection (`medidash_s3`) carries the credentials and, for
S3-compatible stores, `endpoint_url` in its extra.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit

log = logging.getLogger(__name__)


def split_uri(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    if parts.scheme not in ("s3", "s3a") or not parts.netloc:
        raise ValueError(f"{uri}: not an s3://bucket/prefix URI")
    prefix = parts.path.lstrip("/")
    return parts.netloc, (prefix.rstrip("/") + "/") if prefix else ""


def _hook(conn_id: str):
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=conn_id)


def land(uri: str, dest: Path | str, conn_id: str) -> Path:
    """Copy every object under the prefix into `dest` (same relative paths); returns `dest`.

    Objects already there with the same size are not copied again, so a retried task resumes.
    """
    bucket, prefix = split_uri(uri)
    hook = _hook(conn_id)
    client = hook.get_conn()
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    keys = [k for k in hook.list_keys(bucket_name=bucket, prefix=prefix) if not k.endswith("/")]
    if not keys:
        raise FileNotFoundError(f"{uri}: no objects under this prefix")
    for key in keys:
        target = dest / key[len(prefix) :]
        size = client.head_object(Bucket=bucket, Key=key)["ContentLength"]
        if target.exists() and target.stat().st_size == size:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        client.download_file(bucket, key, str(partial))
        if partial.stat().st_size != size:
            raise OSError(f"s3://{bucket}/{key}: got {partial.stat().st_size} of {size} bytes")
        partial.rename(target)
        log.info("landed s3://%s/%s (%d bytes)", bucket, key, size)
    return dest


def upload(folder: Path | str, uri: str, conn_id: str) -> list[str]:
    """Put a local release under an S3 prefix (used to publish generated releases)."""
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
