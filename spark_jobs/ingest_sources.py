"""The raw side of ingest: what each file of a release is (through the one release reader,
`medidash.release.reader`, which the header check uses too) and how Spark reads it. Runs in
the driver before Spark reads anything; it streams every file once, never loads one.

- every file is decompressed and checked whole once (`reader.scan`): a cut or corrupt stream
  or a decompression bomb stops the run naming the file; the same pass tells whether the file
  is valid UTF-8 and whether a line holds an odd number of quotes;
- a file whose records never span lines (almost all) is read by Spark line by line, as it is
  (`kind` "lines"): a plain or `.gz` UTF-8 file directly (a gzip file not named `.gz` through
  a `.gz` link, Spark picks the codec by name), a zip member from its extracted copy, a file
  that is not valid UTF-8 from a UTF-8 copy (each invalid line decoded as Latin-1);
- a file with a quoted line break (RFC 4180) is rewritten once as JSON lines, one record per
  line with the line number it starts on and its original text (`kind` "records"), so that
  Spark still reads it in parallel and numbers every record as the file does.

The release is a folder of the driver's machine; on a cluster, what Spark reads must be in the
lake's storage, which every executor reads (`for_executors`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

from medidash.cms_layouts import Layout
from medidash.release import reader
from medidash.release.reader import DataFile, ReleaseError
from spark_jobs import storage

ReleaseFileError = ReleaseError  # the name ingest's callers know


@dataclass(frozen=True)
class SourceFile:
    """One data file of the release, ready for Spark."""

    source: str  # what errors and ops.quarantine name: the file (and zip member)
    path: str  # what Spark reads (UTF-8; plain or .gz text, or JSON lines of records)
    layout: Layout
    delimiter: str
    header: tuple[str, ...]
    kind: str = "lines"  # "lines": one record per physical line; "records": JSON lines


def _transcode(file: DataFile, target: Path) -> Path:
    """Rewrite as UTF-8, decoding each line as UTF-8 when it is valid, else as Latin-1."""
    with reader.open_data(file) as raw, open(target, "w", encoding="utf-8", newline="") as out:
        while line := raw.readline(reader.BLOCK):
            out.write(reader.decode_line(line))
    return target


def _write_records(file: DataFile, delimiter: str, target: Path) -> Path:
    """The file's records as JSON lines: {"line_number": N, "raw": original text}."""
    with open(target, "w", encoding="utf-8") as out:
        for number, text in reader.records(file, delimiter):
            out.write(json.dumps({"line_number": number, "raw": text}, ensure_ascii=False))
            out.write("\n")
    return target


def prepare(folder: Path, workdir: Path) -> list[SourceFile]:
    """Every data file of the release with its layout, in the form Spark reads."""
    workdir.mkdir(parents=True, exist_ok=True)
    headers = reader.read_release(folder, verify_compressed=False)
    prepared = []
    for index, header in enumerate(headers):
        file = header.file
        name = Path(file.member or file.path.name).name
        local = file
        if file.compression == "zip":
            target = workdir / f"zip{index}_{name}"
            scanned = reader.scan(file, copy_to=target)
            local = DataFile(target, None, "plain", target.stat().st_size, file.source)
        else:
            scanned = reader.scan(file)
        if scanned.odd_quotes and reader.has_quoted_line_break(local, header.delimiter):
            path = _write_records(local, header.delimiter, workdir / f"records{index}.json")
            kind = "records"
        elif not scanned.utf8:
            path = _transcode(local, workdir / f"utf8_{index}_{name.removesuffix('.gz')}")
            kind = "lines"
        else:
            path = local.path
            kind = "lines"
            if local.compression == "gzip" and not path.name.lower().endswith(".gz"):
                link = workdir / f"gz{index}_{name}.gz"
                link.unlink(missing_ok=True)
                os.symlink(path.resolve(), link)
                path = link
        prepared.append(
            SourceFile(file.source, str(path), header.layout, header.delimiter, header.cells, kind)
        )
    return prepared


def for_executors(spark, sources: list[SourceFile], lake: str, work: str) -> list[SourceFile]:
    """The sources with a `path` every executor reads. Executors of a local master share the
    driver's filesystem, and a file already in the lake's storage (the raw zone of a `file://`
    lake, the work folder) is read where it is; any other file (a release folder on the
    driver's disk, a file derived on the driver for an object-store lake) is copied once, through
    Hadoop's FileSystem API, into `<work>/input/`, which `remove_work` removes with the run."""
    if spark.sparkContext.master.startswith("local"):
        return sources
    ready = []
    for index, source in enumerate(sources):
        if storage.is_within(source.path, lake):
            ready.append(source)
            continue
        target = storage.join(work, "input", f"{index}_{Path(source.path).name}")
        storage.copy_from_local(source.path, target)
        ready.append(replace(source, path=target))
    return ready
