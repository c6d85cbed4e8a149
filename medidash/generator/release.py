"""Write a synthetic release: the files of one data year in the exact CMS headers + manifest.

Grain of the work: one task = one dataset file x one chunk of providers. A task is a pure
function of (seed, chunk, dataset, year, size), rendered to CSV bytes (pyarrow's CSV writer,
RFC 4180 quoting); tasks run on a process pool and are written in order, so the files are
byte-identical for a seed whatever the number of processes, and memory stays that of a few
chunks whatever the scale.

Dirt, counted in the manifest (contract section 2): exact duplicate rows (copies of valid rows,
placed at the end of their chunk) and bad rows the ingest must quarantine (wrong field count,
11-digit NPI, non-numeric or negative count, MIPS score above 100), appended after them.

`manifest.json` holds year, scale, seed, layout and, per file name: dataset, layout, rows (data
records, header excluded), valid_rows (after quarantine and de-duplication), duplicate_rows,
bad_rows, bad_rows_by_reason, bad_lines ([{line, reason}], the header being line 1),
distinct_npis, bytes; for part_b `events_expected` (sum over valid rows of Tot_Bene_Day_Srvcs
when above 0, else ceil(Tot_Srvcs)); for part_d `events_expected` = `tot_clms` (sum of Tot_Clms).
Reasons: wrong_field_count, npi_11_digits, non_numeric_count, negative_count, score_out_of_range.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from medidash import cms_layouts
from medidash.generator import datasets as ds
from medidash.generator import providers as pv

# per dataset: duplicate share, bad-row share, bad-row kinds (each kind at least once per file)
DIRT = {
    "part_b": (0.0005, 0.0002, ("wrong_field_count", "npi_11_digits", "non_numeric_count",
                                "negative_count")),
    "clinicians": (0.002, 0.0002, ("wrong_field_count", "npi_11_digits")),
    "affiliations": (0.001, 0.0002, ("wrong_field_count", "npi_11_digits")),
    "part_d": (0.0003, 0.0001, ("wrong_field_count", "npi_11_digits", "non_numeric_count",
                                "negative_count")),
    "mips": (0.05, 0.001, ("wrong_field_count", "npi_11_digits", "score_out_of_range")),
}  # fmt: skip
MIPS_2017_DUPLICATES = 0.16  # the share of exact duplicates MediDash saw in PY2017
# the column a bad row of each kind corrupts, and its bad value
BAD_VALUE = {
    ("part_b", "non_numeric_count"): ("tot_srvcs", "1O5"),
    ("part_b", "negative_count"): ("tot_benes", "-14"),
    ("part_d", "non_numeric_count"): ("tot_clms", "twelve"),
    ("part_d", "negative_count"): ("tot_day_suply", "-30"),
    ("mips", "score_out_of_range"): ("final_mips_score", "150"),
}


@dataclass(frozen=True)
class FileSpec:
    dataset: str
    layout: str
    name: str


def release_files(year: int, layout: str) -> list[FileSpec]:
    """The files of a release: real CMS file names, one per dataset."""
    yy = year % 100
    if layout == "2017":
        return [
            FileSpec("part_b", "part_b_display_2017",
                     "Medicare_Provider_Utilization_and_Payment_Data__Physician_and_Other_"
                     f"Supplier_PUF_CY{year}.csv"),
            FileSpec("clinicians", "clinicians_display",
                     "Physician_Compare_National_Downloadable_File.csv"),
            FileSpec("mips", "mips_py2017", "Physician_Compare_2017_Individual_EC_Public_"
                     "Reporting_-_Overall_MIPS_Performance.csv"),
        ]  # fmt: skip
    if layout != "current":
        raise ValueError(f"unknown release layout {layout!r} (current or 2017)")
    mips = {2018: "mips_py2018", 2019: "mips_py2019", 2020: "mips_py2020"}.get(year, "mips_py2021")
    return [
        FileSpec("part_b", "part_b_current_no_gndr", f"MUP_PHY_R{yy + 2:02d}_P05_V20_D{yy:02d}_Prov_Svc.csv"),
        FileSpec("clinicians", "clinicians_current", "DAC_NationalDownloadableFile.csv"),
        FileSpec("affiliations", "affiliations_current", "Facility_Affiliation.csv"),
        FileSpec("part_d", "part_d_current", f"MUP_DPR_RY{yy + 2:02d}_P04_V10_DY{yy:02d}_NPIBN.csv"),
        FileSpec("mips", mips, "ec_score_file.csv"),
    ]  # fmt: skip


def header_line(layout: cms_layouts.Layout) -> bytes:
    """The exact CMS header, quoted only where a name needs it (none does today)."""

    def cell(name: str) -> str:
        return '"' + name.replace('"', '""') + '"' if any(c in name for c in ',"\n') else name

    return (",".join(cell(h) for h in layout.headers) + "\n").encode()


def _csv(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    options = pacsv.WriteOptions(include_header=False, batch_size=65_536)
    pacsv.write_csv(table, buf, options)
    return buf.getvalue()


def _arrange(rows: ds.Rows, layout: cms_layouts.Layout) -> pa.Table:
    """The rows in the layout's column order (a layout column the rows lack stays blank)."""
    arrays = []
    for canonical in layout.canonical:
        column = rows.columns.get(canonical) if canonical else None
        arrays.append(pa.nulls(rows.n, pa.string()) if column is None else column)
    return pa.Table.from_arrays(arrays, names=[f"c{i}" for i in range(len(arrays))])


def _bad_row(table: pa.Table, layout: cms_layouts.Layout, dataset: str, kind: str, i: int) -> bytes:
    row = table.slice(i, 1)
    strings = [pa.compute.cast(col, pa.string()) for col in row.columns]
    names = row.column_names
    position = {c: k for k, c in enumerate(layout.canonical) if c}
    if kind == "npi_11_digits":
        k = position["npi"]
        strings[k] = pa.array([strings[k][0].as_py() + "7"])
    elif kind != "wrong_field_count":
        column, value = BAD_VALUE[(dataset, kind)]
        strings[position[column]] = pa.array([value])
    text = _csv(pa.Table.from_arrays(strings, names=names))
    if kind == "wrong_field_count":
        # odd rows gain a trailing field, even rows lose their last one (no value holds a comma
        # in the last column of any layout)
        line = text.rstrip(b"\n")
        text = (line + b"," if i % 2 else line.rsplit(b",", 1)[0]) + b"\n"
    return text


def render(
    dataset: str,
    layout: cms_layouts.Layout,
    rows: ds.Rows,
    rng: np.random.Generator,
    first_chunk: bool,
    duplicate_share: float,
) -> tuple[bytes, dict]:
    """CSV bytes of one chunk (valid rows, then duplicates, then bad rows) and its counts."""
    table = _arrange(rows, layout)
    n = table.num_rows
    _, bad_share, kinds = DIRT[dataset]
    dups = rng.binomial(n, duplicate_share) if n else 0
    if first_chunk and n:
        dups = max(dups, 1)
    dup_index = np.sort(rng.choice(n, size=min(dups, n), replace=False)) if dups else []
    bad_kinds = [kinds[k] for k in rng.integers(0, len(kinds), rng.binomial(n, bad_share))]
    if first_chunk and n:
        bad_kinds = list(kinds) + bad_kinds
    parts = [_csv(table)]
    if len(dup_index):
        parts.append(_csv(table.take(pa.array(dup_index))))
    bad_lines = []
    for j, kind in enumerate(bad_kinds):
        parts.append(_bad_row(table, layout, dataset, kind, int(rng.integers(0, n))))
        bad_lines.append((n + len(dup_index) + j, kind))
    stats = {
        "rows": n + len(dup_index) + len(bad_kinds),
        "valid_rows": n,
        "duplicate_rows": len(dup_index),
        "bad_rows": len(bad_kinds),
        "bad_lines": bad_lines,
        "events_expected": rows.events,
        "npis": rows.extra.get("npis", 0),
    }
    return b"".join(parts), stats


@dataclass(frozen=True)
class Task:
    file: FileSpec
    seed: int
    year: int
    chunk: int
    lo: int
    hi: int
    total: int


def run_task(task: Task) -> tuple[bytes, dict]:
    p = pv.providers(task.seed, task.chunk, task.lo, task.hi)
    dataset, name = task.file.dataset, task.file.layout
    layout = cms_layouts.layout(name)
    if dataset == "part_b":
        rows = ds.part_b(p, task.seed, task.chunk, task.year, name == "part_b_display_2017")
    elif dataset == "clinicians":
        rows = ds.clinicians(p, task.seed, task.chunk, task.total, task.year,
                             inline=any(c and c.startswith("hosp_afl") for c in layout.canonical))  # fmt: skip
    elif dataset == "affiliations":
        rows = ds.affiliations(p, task.seed, task.chunk, task.total)
    elif dataset == "part_d":
        rows = ds.part_d(p, task.seed, task.chunk)
    else:
        rows = ds.mips(p, task.seed, task.chunk, task.total, by_source=name == "mips_py2017")
    rng = np.random.default_rng([task.seed, task.chunk, 100 + cms_layouts.DATASETS.index(dataset)])
    share = DIRT[dataset][0]
    if name == "mips_py2017":
        share = MIPS_2017_DUPLICATES
    return render(dataset, layout, rows, rng, task.chunk == 0, share)


def _results(tasks: list[Task], processes: int) -> Iterator[tuple[bytes, dict]]:
    if processes <= 1:
        yield from map(run_task, tasks)
        return
    context = multiprocessing.get_context("fork")
    with context.Pool(processes) as pool:
        yield from pool.imap(run_task, tasks, chunksize=1)


def generate(
    out: Path,
    year: int,
    scale: float,
    seed: int = 42,
    layout: str = "current",
    processes: int | None = None,
    progress: Callable[[int, int, int], None] | None = None,
) -> dict:
    """Write the release into `out` (created) and return the manifest also written there.

    `progress(tasks_done, tasks, rows_written)` is called after each chunk is written."""
    if scale <= 0:
        raise ValueError("--scale must be positive")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").unlink(missing_ok=True)
    files = release_files(year, layout)
    total = pv.provider_count(scale)
    bounds = pv.chunk_bounds(total)
    if processes is None:
        processes = min(2, os.cpu_count() or 1) if len(bounds) > 1 else 1
    tasks = [
        Task(f, seed, year, k, lo, hi, total) for f in files for k, (lo, hi) in enumerate(bounds)
    ]
    entries: dict[str, dict] = {}
    handles = {}
    done = rows_written = 0
    try:
        for f in files:
            handles[f.name] = open(out / f.name, "wb")  # noqa: SIM115 - closed in finally
            handles[f.name].write(header_line(cms_layouts.layout(f.layout)))
            entries[f.name] = {
                "dataset": f.dataset, "layout": f.layout, "rows": 0, "valid_rows": 0,
                "duplicate_rows": 0, "bad_rows": 0, "bad_rows_by_reason": {}, "bad_lines": [],
                "distinct_npis": 0, "bytes": 0,
            }  # fmt: skip
        for task, (data, stats) in zip(tasks, _results(tasks, processes), strict=True):
            entry = entries[task.file.name]
            handles[task.file.name].write(data)
            first_line = entry["rows"] + 2  # line 1 is the header
            for offset, kind in stats["bad_lines"]:
                entry["bad_lines"].append({"line": first_line + offset, "reason": kind})
                entry["bad_rows_by_reason"][kind] = entry["bad_rows_by_reason"].get(kind, 0) + 1
            for key in ("rows", "valid_rows", "duplicate_rows", "bad_rows"):
                entry[key] += stats[key]
            entry["distinct_npis"] += stats["npis"]
            rows_written += stats["rows"]
            done += 1
            if progress is not None:
                progress(done, len(tasks), rows_written)
            if task.file.dataset in ("part_b", "part_d"):
                entry["events_expected"] = (
                    entry.get("events_expected", 0) + stats["events_expected"]
                )
    finally:
        for handle in handles.values():
            handle.close()
    for name, entry in entries.items():
        entry["bytes"] = (out / name).stat().st_size
        if entry["dataset"] == "part_d":
            entry["tot_clms"] = entry["events_expected"]
    manifest = {
        "year": year, "scale": scale, "seed": seed, "layout": layout, "providers": total,
        "files": entries,
    }  # fmt: skip
    # written last and renamed into place: its presence means the release is complete
    partial = out / "manifest.json.partial"
    partial.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    partial.replace(out / "manifest.json")
    return manifest
