"""The release fingerprint: one function per source kind, each an identity of what a run would
load, so `release_changed` can tell an unchanged release (and skip the run) from a new one.

- a local folder: a streamed SHA-256 of every byte of every release file, names included;
- an S3 prefix: every object's key, size and ETag (S3's own content tag, so nothing is read);
- the CMS catalogs: the URLs, modified dates and sizes the catalogs list, known before any
  download (the downloader's manifest then keeps each landed file's SHA-256).

Only the DAG's `resolve_release` task calls these; parsing the DAG never does.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from medidash.release.local import release_files

if TYPE_CHECKING:
    from medidash.release.cms import RemoteFile


def local_folder(folder: Path | str) -> str:
    """SHA-256 over each file's relative path, size and SHA-256 of its bytes, in a stable order.

    Sizes and per-file digests keep file boundaries in the hash: moving bytes from one file to
    the next is a new release too.
    """
    root = Path(folder)
    digest = hashlib.sha256()
    for path in release_files(root):
        with open(path, "rb") as fh:
            content = hashlib.file_digest(fh, "sha256").hexdigest()
        digest.update(f"{path.relative_to(root)}\0{path.stat().st_size}\0{content}\n".encode())
    return digest.hexdigest()


def s3_prefix(uri: str, conn_id: str) -> str:
    """SHA-256 over (key, size, ETag) of every object under the prefix; raises like the landing
    does for an empty prefix or an unsafe key."""
    from medidash.release import s3

    objects = s3.list_objects(uri, conn_id)
    text = json.dumps([[o.key, o.size, o.etag] for o in objects])
    return hashlib.sha256(text.encode()).hexdigest()


def cms_catalog(files: list[RemoteFile]) -> str:
    """SHA-256 of what the catalogs list for the release (URL, modified date, year, size)."""
    text = json.dumps([asdict(f) for f in files], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()
