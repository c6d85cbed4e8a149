"""Check every file of a release against the CMS layouts, from its header line alone.

Fails fast, before Spark starts, with the layout module's error (file, closest layout, missing
columns).
"""

from __future__ import annotations

import csv
import gzip
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from medidash.cms_layouts import detect
from medidash.release.local import release_files

REQUIRED = ("part_b", "clinicians")


@dataclass(frozen=True)
class ReleaseFile:
    path: str
    member: str | None
    dataset: str
    layout: str


class ReleaseError(ValueError):
    pass


def _first_line(raw: io.BufferedIOBase) -> str:
    line = raw.readline(1 << 20)
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = line.decode("latin-1")
    return text.rstrip("\r\n")


def _header(text: str, name: str) -> list[str]:
    delimiter = "\t" if name.lower().endswith(".txt") or ("\t" in text and "," not in text) else ","
    return next(csv.reader([text], delimiter=delimiter))


def headers_of(path: Path) -> list[tuple[str | None, list[str]]]:
    """(zip member or None, header cells) of every data file inside `path`."""
    name = path.name.lower()
    if name.endswith(".zip"):
        out = []
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.is_dir() or info.filename.rsplit("/", 1)[-1].startswith("."):
                    continue
                with archive.open(info) as member:
                    out.append((info.filename, _header(_first_line(member), info.filename)))
        return out
    opener = gzip.open if name.endswith(".gz") else open
    try:
        with opener(path, "rb") as raw:
            first = _first_line(raw)
    except (OSError, EOFError) as error:
        raise ReleaseError(f"{path}: cannot be read: {error}") from error
    if not first.strip():
        raise ReleaseError(f"{path}: line 1: empty file, no header")
    return [(None, _header(first, name.removesuffix(".gz")))]


def check_release(folder: Path | str) -> list[ReleaseFile]:
    """Every file recognised by header; raises with the layout error of the first that is not."""
    files = []
    for path in release_files(folder):
        for member, header in headers_of(path):
            source = f"{path}!{member}" if member else str(path)
            layout = detect(header, source)
            files.append(ReleaseFile(str(path), member, layout.dataset, layout.name))
    found = {f.dataset for f in files}
    missing = [d for d in REQUIRED if d not in found]
    if missing:
        raise ReleaseError(
            f"{folder}: the release has no {' and no '.join(missing)} file "
            f"(found: {', '.join(sorted(found)) or 'no CMS file'})"
        )
    return files
