"""Generator benchmark: time `medidash generate` at a scale and extrapolate to national size.

Figures are measured on this machine in one run; `national_seconds_estimate` scales the measured
time linearly by rows (the generator is chunked, so its time is linear in rows once past the
first chunk), and equals the measured time when scale >= 1.
"""

from __future__ import annotations

import resource
import shutil
import time
from pathlib import Path

from medidash.generator.release import generate


def run(scale: float, workdir: Path, keep: bool = False) -> dict:
    """Generate a release of `scale` under workdir and return its figures (output deleted)."""
    workdir = Path(workdir)
    out = workdir / f"release-scale-{scale:g}"
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    manifest = generate(out, 2023, scale, seed=42, layout="current")
    seconds = time.perf_counter() - started
    files = manifest["files"].values()
    rows = {entry["dataset"]: entry["rows"] for entry in files}
    total_rows = sum(rows.values())
    total_bytes = sum(entry["bytes"] for entry in files)
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if not keep:
        shutil.rmtree(out, ignore_errors=True)
    return {
        "scale": scale,
        "seconds": round(seconds, 2),
        "rows": rows,
        "total_rows": total_rows,
        "rows_per_second": round(total_rows / seconds),
        "megabytes": round(total_bytes / 1e6, 1),
        "mb_per_second": round(total_bytes / 1e6 / seconds, 1),
        "peak_rss_mib": round(self_rss, 1),
        "peak_rss_worker_mib": round(child_rss, 1),
        "national_seconds_estimate": round(seconds / scale, 1),
    }
