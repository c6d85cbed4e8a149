"""Check every file of a release against the CMS layouts, before Spark starts.

Every file is read through `medidash.release.reader` (the reader ingest uses too): its header
must match a layout, every compressed file is decompressed whole (a broken zip, a cut gzip or a
decompression bomb stops the run here), and each required dataset must have a data row. Fails
with a `BadInput` naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from medidash.release.reader import REQUIRED, ReleaseError, read_release

__all__ = ["REQUIRED", "ReleaseError", "ReleaseFile", "check_release"]


@dataclass(frozen=True)
class ReleaseFile:
    path: str
    member: str | None
    dataset: str
    layout: str


def check_release(folder: Path | str) -> list[ReleaseFile]:
    """Every file recognised by header; raises `ReleaseError` (a `BadInput`) naming the first
    file that cannot be read or recognised, or the required dataset that is missing."""
    return [
        ReleaseFile(str(h.file.path), h.file.member, h.layout.dataset, h.layout.name)
        for h in read_release(folder, verify_compressed=True)
    ]
