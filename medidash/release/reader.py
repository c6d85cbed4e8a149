"""The release reader: the one place that decides how each file of a release is read
(contract section 1). Pure Python (no Spark, Airflow or dbt), streaming, never a whole file
in memory. The header check (`medidash.release.headers.check_release`) and Spark ingest's
driver side (`spark_jobs.ingest_sources.prepare`) both read files through it, so they cannot
disagree on what a file is.

For every file it decides:
- **which files** belong to the release (`data_files`): every file under the folder except
  hidden ones, MediDash's manifests and partial downloads; a zip's members (not folders, not
  hidden names such as `__MACOSX/._x`) are files of their own;
- **format by content**: gzip and zip by their magic bytes (a name that says `.gz`/`.zip` over
  other content is a broken download), else plain text;
- **encoding**: UTF-8 (with or without BOM) or Latin-1, line by line; a file whose header
  carries a UTF-16/32 byte-order mark or a NUL byte is in neither, and unreadable;
- **delimiter by content**: tab when the header line holds more tabs than commas, else comma;
- **header cells and layout** (`medidash.cms_layouts.detect`), duplicate column names refused;
- **records** (`records`): RFC 4180 in full, a quoted field may hold line breaks; a record's
  line number is the line it starts on (header = 1). A physical line ends at LF, CRLF or a
  lone CR (as Hadoop's line reader, which ingest's fast path uses, splits lines).

Unreadable files (a broken zip, a corrupt or cut gzip stream, an unknown encoding) and a
decompression that passes both 1 GiB and 100 times the compressed size raise `ReleaseError`
(a `BadInput`) naming the file.

Quoted line breaks, cheaply: `scan` streams a file once (the UTF-8 check) and reduces each
block to its quotes and line ends (`bytes.translate`, C speed); a line holding an odd number of
quotes is the only way a quoted field can run past its line. Only a file with such a line is
parsed again by Python's csv module (`has_quoted_line_break`), which tells a real multi-line
record from a stray quote; only then does ingest read that file record by record (`records`).
"""

from __future__ import annotations

import codecs
import csv
import gzip
import re
import zipfile
import zlib
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from medidash.cms_layouts import Layout, detect, normalize_header
from medidash.errors import BadInput
from medidash.release.local import release_files

REQUIRED = ("part_b", "clinicians")
BLOCK = 1 << 22
HEADER_LIMIT = 1 << 20
# No CMS record comes near this; a longer record is garbage, quarantined by ingest unparsed.
MAX_RECORD_CHARS = 1_000_000
# decompression stops a file when it passes both bounds (contract section 1)
DECOMPRESSED_BOUND = 1 << 30
DECOMPRESSION_RATIO = 100
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_WIDE_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")
_KEEP = b'"\r\n'
_DROP = bytes(b for b in range(256) if b not in _KEEP)
_LONE_CR = re.compile(r"(?<=\r)(?!\n)")


class ReleaseError(BadInput):
    """A release, or one of its files, that cannot be read as the contract says."""


@dataclass(frozen=True)
class DataFile:
    """One data file of a release: a file on disk, or a member of a zip on disk."""

    path: Path
    member: str | None
    compression: str  # "plain", "gzip" or "zip"
    compressed_size: int
    source: str  # what errors and ops.quarantine name: the file (and zip member)

    def bound(self) -> int | None:
        """Decompressed bytes past which the file is refused (None: not compressed)."""
        if self.compression == "plain":
            return None
        return max(DECOMPRESSED_BOUND, DECOMPRESSION_RATIO * self.compressed_size)


@dataclass(frozen=True)
class Header:
    """What a file's header line says."""

    file: DataFile
    delimiter: str
    cells: tuple[str, ...]
    layout: Layout
    has_rows: bool  # a non-blank line follows the header (within the first MiB read)


@dataclass(frozen=True)
class Scan:
    """What one full pass over a file found."""

    utf8: bool  # every byte is valid UTF-8
    odd_quotes: bool  # some line holds an odd number of quotes (a quoted line break, maybe)
    size: int  # decompressed bytes


def _format(path: Path) -> str:
    with open(path, "rb") as fh:
        magic = fh.read(4)
    name = path.name.lower()
    if magic.startswith(_GZIP_MAGIC):
        return "gzip"
    if magic.startswith(_ZIP_MAGIC):
        return "zip"
    if name.endswith(".zip"):
        raise ReleaseError("not a readable zip archive: it does not start as one", file=str(path))
    if name.endswith(".gz"):
        raise ReleaseError(
            "the compressed file is cut off or damaged: not a gzip stream", file=str(path)
        )
    return "plain"


def data_files(folder: Path | str) -> list[DataFile]:
    """Every data file of the release folder, zip members included, in a stable order."""
    files = []
    for path in release_files(folder):
        kind = _format(path)
        if kind != "zip":
            files.append(DataFile(path, None, kind, path.stat().st_size, str(path)))
            continue
        try:
            with zipfile.ZipFile(path) as archive:
                members = archive.infolist()
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as error:
            raise ReleaseError(f"not a readable zip archive: {error}", file=str(path)) from error
        for info in members:
            name = info.filename.rsplit("/", 1)[-1]
            if info.is_dir() or name.startswith(".") or info.filename.startswith("__MACOSX/"):
                continue
            member = DataFile(
                path, info.filename, "zip", info.compress_size, f"{path}!{info.filename}"
            )
            bound = member.bound()
            if bound is not None and info.file_size > bound:
                raise _bomb(member)
            files.append(member)
    return files


def _bomb(file: DataFile) -> ReleaseError:
    return ReleaseError(
        f"decompresses past the bound (more than {DECOMPRESSED_BOUND:,} bytes and "
        f"{DECOMPRESSION_RATIO} times its {file.compressed_size:,} compressed bytes)",
        file=file.source,
    )


class _Guarded:
    """A file's decompressed bytes; read errors and the decompression bound name the file."""

    def __init__(self, raw, file: DataFile) -> None:
        self._raw = raw
        self._file = file
        self._bound = file.bound()
        self.size = 0

    def _count(self, data: bytes) -> bytes:
        self.size += len(data)
        if self._bound is not None and self.size > self._bound:
            raise _bomb(self._file)
        return data

    def _damaged(self, error: Exception) -> ReleaseError:
        if self._file.compression == "zip":
            return ReleaseError(f"not a readable zip archive: {error}", file=self._file.source)
        return ReleaseError(
            f"the compressed file is cut off or damaged: {error}", file=self._file.source
        )

    def read(self, size: int = BLOCK) -> bytes:
        try:
            return self._count(self._raw.read(size))
        except (EOFError, zlib.error, gzip.BadGzipFile, zipfile.BadZipFile) as error:
            raise self._damaged(error) from error

    def readline(self, size: int = -1) -> bytes:
        try:
            return self._count(self._raw.readline(size))
        except (EOFError, zlib.error, gzip.BadGzipFile, zipfile.BadZipFile) as error:
            raise self._damaged(error) from error


@contextmanager
def open_data(file: DataFile) -> Iterator[_Guarded]:
    """The file's decompressed bytes, as a stream with `read` and `readline`."""
    if file.compression == "zip":
        try:
            with zipfile.ZipFile(file.path) as archive, archive.open(file.member) as member:
                yield _Guarded(member, file)
        except (zipfile.BadZipFile, zlib.error, EOFError) as error:
            raise ReleaseError(f"not a readable zip archive: {error}", file=file.source) from error
    elif file.compression == "gzip":
        with open(file.path, "rb") as fh, gzip.GzipFile(fileobj=fh) as raw:
            yield _Guarded(raw, file)
    else:
        with open(file.path, "rb") as raw:
            yield _Guarded(raw, file)


def decode_line(line: bytes) -> str:
    """One line's text: UTF-8 when it is valid, else Latin-1 (CMS's older files)."""
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("latin-1")


def delimiter_of(header_line: str) -> str:
    """Tab when the header line holds more tabs than commas, else comma (by content alone)."""
    return "\t" if header_line.count("\t") > header_line.count(",") else ","


def read_header(file: DataFile) -> Header:
    """The file's header line, delimiter, cells and layout; errors name the file."""
    with open_data(file) as fh:
        first = fh.readline(HEADER_LIMIT)
        has_rows = False
        budget = HEADER_LIMIT
        while budget > 0:
            line = fh.readline(budget)
            if not line:
                break
            budget -= len(line)
            if line.strip():
                has_rows = True
                break
        else:
            has_rows = True  # only blank lines in the first MiB: ingest decides
    if first.startswith(_WIDE_BOMS) or b"\x00" in first:
        raise ReleaseError(
            "unreadable: the encoding is neither UTF-8 nor Latin-1 (a UTF-16/32 byte-order "
            "mark or NUL bytes in the header)",
            file=file.source,
            line=1,
        )
    text = decode_line(first).removeprefix("\ufeff").rstrip("\r\n")
    if not text.strip():
        raise ReleaseError("empty file, no header", file=file.source, line=1)
    delimiter = delimiter_of(text)
    cells = tuple(next(csv.reader([text], delimiter=delimiter)))
    normalised = [normalize_header(h) for h in cells]
    repeated = sorted({h for h in normalised if h and normalised.count(h) > 1})
    if repeated:
        raise ReleaseError(
            f"duplicate column names: {', '.join(repeated)}", file=file.source, line=1
        )
    return Header(file, delimiter, cells, detect(cells, file.source), has_rows)


def verify(file: DataFile) -> int:
    """Decompress the whole file (no-op for plain ones): a cut or corrupt stream, a bad CRC or
    the decompression bound raises here. Returns the decompressed size."""
    if file.compression == "plain":
        return file.compressed_size
    with open_data(file) as fh:
        while fh.read(BLOCK):
            pass
        return fh.size


def read_release(folder: Path | str, *, verify_compressed: bool = True) -> list[Header]:
    """The header of every data file; a release without a file, or without any data row, of a
    required dataset raises. With `verify_compressed`, every compressed file is decompressed
    whole first (the header check: a broken file stops the run before Spark starts)."""
    headers = []
    for file in data_files(folder):
        if verify_compressed:
            verify(file)
        headers.append(read_header(file))
    found = {h.layout.dataset for h in headers}
    missing = [d for d in REQUIRED if d not in found]
    if missing:
        raise ReleaseError(
            f"the release has no {' and no '.join(missing)} file "
            f"(found: {', '.join(sorted(found)) or 'no CMS file'})",
            file=str(folder),
        )
    for dataset in REQUIRED:
        files = [h for h in headers if h.layout.dataset == dataset]
        if not any(h.has_rows for h in files):
            raise ReleaseError(
                f"{dataset} has no data row after its header (a truncated download?); "
                "a required dataset without a valid row would empty the year's marts",
                file=", ".join(h.file.source for h in files),
            )
    return headers


def scan(file: DataFile, copy_to: Path | None = None) -> Scan:
    """One pass over the file's bytes: valid UTF-8? a line with an odd number of quotes?
    With `copy_to`, the decompressed bytes are written there on the way (a zip member)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8 = True
    odd = False
    carry = b""  # the quotes of the line cut by the block's end, reduced to their parity
    out = open(copy_to, "wb") if copy_to else None  # noqa: SIM115 - closed below
    try:
        with open_data(file) as fh:
            while block := fh.read(BLOCK):
                if out:
                    out.write(block)
                if utf8:
                    try:
                        decoder.decode(block)
                    except UnicodeDecodeError:
                        utf8 = False
                if odd:
                    continue
                reduced = carry + block.translate(None, _DROP)
                cut = max(reduced.rfind(b"\n"), reduced.rfind(b"\r")) + 1
                # per line, pairs of quotes cancel; one left over is an odd line
                if cut and b'"' in re.sub(rb'""', b"", reduced[:cut]):
                    odd = True
                carry = b'"' if reduced.count(b'"', cut) % 2 else b""
            if carry:
                odd = True
            if utf8:
                try:
                    decoder.decode(b"", final=True)
                except UnicodeDecodeError:
                    utf8 = False
            size = fh.size
    finally:
        if out:
            out.close()
    return Scan(utf8, odd, size)


def _physical_lines(fh: _Guarded) -> Iterator[str]:
    """Decoded lines with their line ends (LF, CRLF or a lone CR); a line longer than
    MAX_RECORD_CHARS is cut just past it (ingest quarantines it as too long)."""
    while line := fh.readline(MAX_RECORD_CHARS + 1):
        if len(line) > MAX_RECORD_CHARS and not line.endswith(b"\n"):
            while (rest := fh.readline(BLOCK)) and not rest.endswith(b"\n"):
                pass
            line += b"\n"
        yield from _LONE_CR.split(decode_line(line)) if b"\r" in line else (decode_line(line),)


class _TooLong(Exception):
    pass


class _Lines:
    """Feeds csv.reader one physical line at a time and keeps the lines of the record being
    read, so that a record can be given back as its original text, or undone."""

    def __init__(self, lines: Iterator[str]) -> None:
        self.source = lines
        self.replay: deque[str] = deque()
        self.record: list[str] = []
        self.chars = 0

    def __iter__(self):
        return self

    def __next__(self) -> str:
        line = self.replay.popleft() if self.replay else next(self.source)
        self.record.append(line)
        self.chars += len(line)
        if self.chars > MAX_RECORD_CHARS and len(self.record) > 1:
            raise _TooLong
        return line

    def take(self) -> list[str]:
        record, self.record, self.chars = self.record, [], 0
        return record


def _text(lines: list[str]) -> str:
    text = "".join(lines)
    return (
        text[:-2] if text.endswith("\r\n") else text[:-1] if text.endswith(("\n", "\r")) else text
    )


def records(file: DataFile, delimiter: str) -> Iterator[tuple[int, str]]:
    """(line number of its first line, original text without its final line end) of every
    record after the header, RFC 4180: a quoted field may hold line breaks. Blank records are
    skipped (their lines still count). A quoted field still open after MAX_RECORD_CHARS is
    not a record: its first line is given alone (ingest quarantines it for its unbalanced
    quote) and reading resumes on the next line."""
    limit = csv.field_size_limit()
    csv.field_size_limit(MAX_RECORD_CHARS * 4)
    try:
        with open_data(file) as fh:
            lines = _physical_lines(fh)
            next(lines, None)  # the header
            feed = _Lines(lines)
            number = 2
            while True:
                try:
                    for _ in csv.reader(feed, delimiter=delimiter, quotechar='"', strict=False):
                        record = feed.take()
                        text = _text(record)
                        if text.strip():
                            yield number, text
                        number += len(record)
                    break
                except (_TooLong, csv.Error):
                    record = feed.take()
                    yield number, _text(record[:1])
                    number += 1
                    feed.replay.extendleft(reversed(record[1:]))
            if feed.record:  # lines csv.reader took at the end of the file without a record
                record = feed.take()
                if _text(record).strip():
                    yield number, _text(record)
    finally:
        csv.field_size_limit(limit)


def has_quoted_line_break(file: DataFile, delimiter: str) -> bool:
    """True when some record of the file spans more than one line."""
    return any("\n" in text or "\r" in text for _, text in records(file, delimiter))
