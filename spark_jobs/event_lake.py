"""The event lake's year releases: both event datasets of a year swapped in together by one
atomic pointer (contract section 3).

    <lake>/events/procedures/data_year=YYYY     -> ../_releases/data_year=YYYY/current/procedures
    <lake>/events/prescriptions/data_year=YYYY  -> ../_releases/data_year=YYYY/current/prescriptions
    <lake>/events/_releases/data_year=YYYY/current -> <release>   (the one pointer)
    <lake>/events/_releases/data_year=YYYY/<release>/{procedures,prescriptions}/part-NNNNN.parquet

The contract's paths are symbolic links that never change once made; a release is published by
replacing `current` (a new link renamed over it, atomic on POSIX), so a reader following the
contract's paths, or a crash at any moment, finds the old release of both datasets or the new
release of both, never one of each and never none. Readers that must see one release across
several reads (step 3) resolve `current` once and read the release folder. `_releases` starts
with `_`, so Spark and pyarrow do not take it for a partition of either dataset.

Only one run of a year runs at a time (`register_run`), so every folder of a year's `_releases`
other than the current release belongs to a dead attempt or to a replaced release, and is
removed by the next publish of that year; other years' folders are never touched.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

KINDS = ("procedures", "prescriptions")
RELEASES = "_releases"
CURRENT = "current"
LEGACY = "v1"  # a year written by the first lake layout (real folders), adopted as a release
# A test hook: the name of a point below at which the job ends as if SIGKILLed (exit 137).
CRASH_ENV = "MEDIDASH_TEST_CRASH_AT"


def crash_point(name: str) -> None:
    """End the process at once, without cleanup, when the test hook names this point."""
    if os.environ.get(CRASH_ENV) == name:
        os._exit(137)


def year_releases(lake: str, year: int) -> Path:
    return Path(lake) / "events" / RELEASES / f"data_year={year}"


def dataset_path(lake: str, kind: str, year: int) -> Path:
    """The contract's path of a year's events of one kind."""
    return Path(lake) / "events" / kind / f"data_year={year}"


def current_release(lake: str, year: int) -> Path | None:
    """The folder of the year's published release, resolved once (None before the first)."""
    pointer = year_releases(lake, year) / CURRENT
    if not pointer.is_symlink():
        return None
    return pointer.parent / os.readlink(pointer)


def new_release(lake: str, year: int, run_id: str) -> Path:
    """An empty folder for a run's release of the year. Named after the run (so the same
    release gives the same paths); a retry of a run whose release is already current gets the
    alternate name, so the published release is never overwritten."""
    root = year_releases(lake, year)
    root.mkdir(parents=True, exist_ok=True)
    current = current_release(lake, year)
    name = run_id if current is None or current.name != run_id else f"{run_id}.retry"
    folder = root / name
    shutil.rmtree(folder, ignore_errors=True)  # a dead attempt of this run
    folder.mkdir()
    return folder


def publish_release(lake: str, year: int, built: Path) -> None:
    """Make `built` (holding both datasets, complete and checked) the year's release."""
    root = year_releases(lake, year)
    for kind in KINDS:
        if not (built / kind).is_dir():
            raise RuntimeError(f"{built} has no {kind}: a release holds both event datasets")
    _adopt_legacy(lake, year)
    crash_point("before_event_swap")
    _point(root / CURRENT, built.name)
    crash_point("after_event_swap")
    link_datasets(lake, year)
    remove_stale(lake, year)


def link_datasets(lake: str, year: int) -> None:
    """Make the contract's paths of the year point at its current release (idempotent; also a
    recovery after a crash between the pointer's first setting and the links)."""
    if current_release(lake, year) is None:
        return
    for kind in KINDS:
        path = dataset_path(lake, kind, year)
        if not path.is_symlink():
            path.parent.mkdir(parents=True, exist_ok=True)
            _point(path, f"../{RELEASES}/data_year={year}/{CURRENT}/{kind}")


def remove_stale(lake: str, year: int) -> None:
    """Remove the year's replaced releases and dead attempts (never the current release)."""
    root = year_releases(lake, year)
    current = current_release(lake, year)
    if not root.exists():
        return
    for child in root.iterdir():
        if child.name == CURRENT or (current is not None and child.name == current.name):
            continue
        if child.is_symlink() or child.is_file():
            child.unlink(missing_ok=True)
        else:
            shutil.rmtree(child, ignore_errors=True)


def _point(link: Path, target: str) -> None:
    """Create or replace the symbolic link `link` -> `target` atomically."""
    partial = link.parent / f".{link.name}.{uuid.uuid4().hex}"
    os.symlink(target, partial)
    os.replace(partial, link)


def _adopt_legacy(lake: str, year: int) -> None:
    """A year written by the first layout (real `data_year=YYYY` folders, swapped one by one)
    becomes a release: the pointer is set to it first, then each folder is moved into it and
    replaced by its link. Until both are moved, both paths still hold that same release; a
    crash between the rename and the link of one folder leaves that path missing until the
    next run of the year finishes the move."""
    paths = {kind: dataset_path(lake, kind, year) for kind in KINDS}
    legacy = [kind for kind, path in paths.items() if path.is_dir() and not path.is_symlink()]
    if not legacy:
        return
    root = year_releases(lake, year)
    current = current_release(lake, year)
    if current is None:
        current = root / LEGACY
        current.mkdir(parents=True, exist_ok=True)
        _point(root / CURRENT, LEGACY)
    for index, kind in enumerate(legacy):
        if index:
            crash_point("between_event_swaps")
        if (current / kind).exists():
            paths[kind].rename(root / f".old-{kind}-{uuid.uuid4().hex}")
        else:
            paths[kind].rename(current / kind)
        _point(paths[kind], f"../{RELEASES}/data_year={year}/{CURRENT}/{kind}")
    for kind in KINDS:
        (current / kind).mkdir(exist_ok=True)
