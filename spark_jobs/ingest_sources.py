"""The raw side of ingest: which files a release holds, how each is decoded, and what its
header says. Runs in the driver before Spark reads anything; it streams, never loads a file.

- `.zip` members are extracted to the run's work folder (Spark cannot split a zip);
- `.gz` files are read by Spark directly when they are valid UTF-8;
- a file that is not valid UTF-8 is rewritten as UTF-8, each invalid line decoded as Latin-1
  (CMS's older files are Latin-1; a valid UTF-8 line is kept as it is).
"""

from __future__ import annotations

import codecs
import csv
import gzip
import zipfile
from dataclasses import dataclass
from pathlib import Path

from medidash.cms_layouts import Layout, detect

NOT_RELEASE_FILES = {"manifest.json", "landing-manifest.json"}
CHUNK = 1 << 22


class ReleaseFileError(ValueError):
    pass


@dataclass(frozen=True)
class SourceFile:
    """One data file of the release, ready for Spark."""

    source: str  # what errors and ops.quarantine name: the file (and zip member)
    path: str  # what Spark reads (UTF-8; plain or .gz)
    layout: Layout
    delimiter: str
    header: tuple[str, ...]


def release_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ReleaseFileError(f"{folder}: release folder not found")
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        and p.name not in NOT_RELEASE_FILES
        and not p.name.endswith(".part")
    )


def _open(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def _is_utf8(path: Path, source: str) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with _open(path) as fh:
            for block in iter(lambda: fh.read(CHUNK), b""):
                decoder.decode(block)
            decoder.decode(b"", final=True)
        return True
    except UnicodeDecodeError:
        return False
    except (EOFError, gzip.BadGzipFile, OSError) as error:
        raise ReleaseFileError(
            f"{source}: the compressed file is cut off or damaged: {error}"
        ) from error


def _transcode(path: Path, target: Path, source: str) -> Path:
    """Rewrite as UTF-8, decoding each line as UTF-8 when it is valid, else as Latin-1."""
    try:
        with _open(path) as raw, open(target, "w", encoding="utf-8", newline="") as out:
            for line in raw:
                try:
                    out.write(line.decode("utf-8"))
                except UnicodeDecodeError:
                    out.write(line.decode("latin-1"))
    except (EOFError, gzip.BadGzipFile) as error:
        raise ReleaseFileError(
            f"{source}: the compressed file is cut off or damaged: {error}"
        ) from error
    return target


def _header(path: Path, source: str) -> tuple[str, str]:
    with _open(path) as fh:
        first = fh.readline(1 << 20)
    text = first.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r\n")
    if not text.strip():
        raise ReleaseFileError(f"{source}: line 1: empty file, no header")
    delimiter = "\t" if ("\t" in text and text.count("\t") >= text.count(",")) else ","
    return text, delimiter


def prepare(folder: Path, workdir: Path) -> list[SourceFile]:
    """Every data file of the release, decoded to UTF-8 where needed, with its layout."""
    workdir.mkdir(parents=True, exist_ok=True)
    files: list[tuple[str, Path]] = []
    for path in release_files(folder):
        if path.name.lower().endswith(".zip"):
            try:
                with zipfile.ZipFile(path) as archive:
                    for index, info in enumerate(archive.infolist()):
                        if info.is_dir() or Path(info.filename).name.startswith("."):
                            continue
                        target = workdir / f"zip{len(files)}_{index}_{Path(info.filename).name}"
                        with archive.open(info) as member, open(target, "wb") as out:
                            for block in iter(lambda m=member: m.read(CHUNK), b""):
                                out.write(block)
                        files.append((f"{path}!{info.filename}", target))
            except zipfile.BadZipFile as error:
                raise ReleaseFileError(f"{path}: not a readable zip archive: {error}") from error
        else:
            files.append((str(path), path))

    prepared = []
    for index, (source, path) in enumerate(files):
        if not _is_utf8(path, source):
            path = _transcode(
                path, workdir / f"utf8_{index}_{path.name.removesuffix('.gz')}", source
            )
        text, delimiter = _header(path, source)
        header = next(csv.reader([text], delimiter=delimiter))
        normalised = [h.strip().lower() for h in header]
        repeated = sorted({h for h in normalised if normalised.count(h) > 1 and h})
        if repeated:
            raise ReleaseFileError(
                f"{source}: line 1: duplicate column names: {', '.join(repeated)}"
            )
        layout = detect(header, source)
        prepared.append(SourceFile(source, str(path), layout, delimiter, tuple(header)))
    found = {f.layout.dataset for f in prepared}
    missing = [d for d in ("part_b", "clinicians") if d not in found]
    if missing:
        raise ReleaseFileError(
            f"{folder}: the release has no {' and no '.join(missing)} file "
            f"(found: {', '.join(sorted(found)) or 'no CMS file'})"
        )
    return prepared
