"""Generator benchmark: time `medidash generate` at a scale, and measure what it wrote.

Figures are measured on this machine in one run; `national_seconds_estimate` scales the measured
time linearly by rows (the generator is chunked, so its time is linear in rows once past the
first chunk), and equals the measured time when scale >= 1.

`measure(folder)` re-reads a release's CSV files with pyarrow, independently of the generator's
own counters, and returns per dataset its data rows, distinct NPIs and, for part_b and part_d,
the events of contract section 3 (docs/calibration.md compares these with CMS's totals). It
counts every parsed data record (the release's few exact duplicates included, its bad rows
left out when they do not parse).
"""

from __future__ import annotations

import csv
import resource
import shutil
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from medidash import cms_layouts
from medidash.generator import calibration
from medidash.generator.release import generate

_NUMBER = r"^[0-9]+(\.[0-9]+)?$"


def _numbers(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A text column as float64: NULL where blank or not a plain non-negative number."""
    ok = pc.fill_null(pc.match_substring_regex(column, _NUMBER), False)
    return pc.cast(pc.if_else(ok, column, pa.scalar(None, pa.string())), pa.float64())


def measure_file(path: Path) -> dict:
    """Rows, distinct NPIs and (part_b, part_d) events and unit totals of one release file."""
    with open(path, encoding="utf-8", newline="") as handle:
        columns = next(csv.reader(handle))
    lay = cms_layouts.detect(columns, path.name)
    rename = lay.rename_map()
    canonical = [rename.get(cms_layouts.normalize_header(c), f"_x{i}") for i, c in
                 enumerate(columns)]  # fmt: skip
    wanted = {"npi", "tot_srvcs", "tot_bene_day_srvcs", "tot_clms"} & set(canonical)
    table = pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(column_names=canonical, skip_rows=1,
                                       block_size=64 << 20),
        parse_options=pacsv.ParseOptions(invalid_row_handler=lambda _row: "skip"),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in canonical}, include_columns=sorted(wanted)
        ),
    )  # fmt: skip
    npi = table["npi"]
    valid = pc.fill_null(pc.equal(pc.utf8_length(npi), 10), False)
    table = table.filter(valid)
    out = {"dataset": lay.dataset, "rows": table.num_rows,
           "distinct_npis": len(pc.unique(table["npi"]))}  # fmt: skip
    if lay.dataset == "part_b":
        services = _numbers(table["tot_srvcs"])
        day = _numbers(table["tot_bene_day_srvcs"])
        events = pc.if_else(pc.fill_null(pc.greater(day, 0), False), day, pc.ceil(services))
        out["tot_srvcs"] = int(pc.sum(services).as_py() or 0)
        out["tot_bene_day_srvcs"] = int(pc.sum(day).as_py() or 0)
        out["events"] = int(pc.sum(events).as_py() or 0)
    elif lay.dataset == "part_d":
        out["events"] = int(pc.sum(_numbers(table["tot_clms"])).as_py() or 0)
    return out


def measure(folder: Path) -> dict[str, dict]:
    """measure_file of every CSV file of a release, by dataset."""
    found = {}
    for path in sorted(Path(folder).glob("*.csv")):
        figures = measure_file(path)
        found[figures.pop("dataset")] = figures
    return found


def against_targets(measured: dict[str, dict], scale: float) -> dict[str, dict[str, float]]:
    """Each calibration target's measured value over scale x the target (1.0 = on target)."""
    ratios: dict[str, dict[str, float]] = {}
    for dataset, target in calibration.TARGETS.items():
        got = measured.get(dataset, {})
        ratios[dataset] = {
            key: round(got.get("distinct_npis" if key == "npis" else key, 0) / (value * scale), 3)
            for key, value in target.items()
        }
    return ratios


def run(scale: float, workdir: Path, keep: bool = False, year: int = calibration.DATA_YEAR) -> dict:
    """Generate a release of `scale` under workdir and return its figures (output deleted),
    `calibration` being its measured rows, NPIs and events over the scaled CMS targets."""
    workdir = Path(workdir)
    out = workdir / f"release-scale-{scale:g}"
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    manifest = generate(out, year, scale, seed=42, layout="current")
    seconds = time.perf_counter() - started
    files = manifest["files"].values()
    rows = {entry["dataset"]: entry["rows"] for entry in files}
    events = {entry["dataset"]: entry["events_expected"] for entry in files
              if "events_expected" in entry}  # fmt: skip
    total_rows = sum(rows.values())
    total_bytes = sum(entry["bytes"] for entry in files)
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    ratios = against_targets(measure(out), scale)
    if not keep:
        shutil.rmtree(out, ignore_errors=True)
    return {
        "scale": scale,
        "year": year,
        "seconds": round(seconds, 2),
        "rows": rows,
        "events": events,
        "total_rows": total_rows,
        "rows_per_second": round(total_rows / seconds),
        "megabytes": round(total_bytes / 1e6, 1),
        "mb_per_second": round(total_bytes / 1e6 / seconds, 1),
        "peak_rss_mib": round(self_rss, 1),
        "peak_rss_worker_mib": round(child_rss, 1),
        "national_seconds_estimate": round(seconds / scale, 1),
        "calibration": ratios,
    }
