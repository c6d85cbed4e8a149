"""The event lake's year releases: both event datasets of a year committed together by one
atomic pointer (contract section 3), on a shared filesystem or an object store.

    <lake>/events/_releases/data_year=YYYY/<release>/{procedures,prescriptions}/part-NNNNN.parquet
    <lake>/events/_releases/data_year=YYYY/<pointer>            (names the current release)

A release is committed by setting the pointer once, after both datasets are written and
checked, so a reader resolving the pointer, or a crash at any moment, finds the old release of
both datasets or the new release of both, never one of each and never none. Readers that must
see one release across several reads (step 3) resolve the pointer once and read the release
folder. `_releases` starts with `_`, so Spark and pyarrow do not take it for a partition of
either dataset. The pointer takes one of two forms (`pointer_kind`):

- `link` (default on `file://`, a local or NFS/EFS filesystem): `current` is a symbolic link to
  the release, replaced by a rename (atomic on POSIX); the contract's paths are links that never
  change once made and lead through it, so any reader of a plain path follows the pointer:

      <lake>/events/procedures/data_year=YYYY     -> ../_releases/data_year=YYYY/current/procedures
      <lake>/events/prescriptions/data_year=YYYY  -> ../_releases/data_year=YYYY/current/prescriptions

- `file` (default on object stores, where a rename is a copy and a delete and nothing is
  atomic but writing one object): each commit writes one new small object
  `current.NNNNNNNNNNNN` (a sequence number one above the last) holding the release's name; it is
  written once and never changed, visible only whole (S3 shows an object once its PUT has
  completed, and lists it at once after). The pointer is the highest-numbered one; the contract's
  paths are resolved through it (`current_release_uri`), there are no links.
  `MEDIDASH_LAKE_POINTER=file` chooses it on a filesystem too (one without symbolic links).

Only one run of a year runs at a time (`register_run`), so every folder of a year's `_releases`
other than the current release belongs to a dead attempt or to a replaced release, and is
removed by the next commit of that year, with the pointers older than the current one; other
years' folders are never touched. All of it goes through `spark_jobs.storage` (Hadoop's
FileSystem API); making a symbolic link is the one POSIX call, in `link` form only.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path

from medidash import settings
from spark_jobs import storage

KINDS = ("procedures", "prescriptions")
RELEASES = "_releases"
CURRENT = "current"
LEGACY = "v1"  # a year written by the first lake layout (real folders), adopted as a release
POINTER_ENV = "MEDIDASH_LAKE_POINTER"
POINTER_FILE = re.compile(rf"^{CURRENT}\.(\d{{12}})$")
# A test hook: the name of a point below at which the job ends as if SIGKILLed (exit 137).
CRASH_ENV = "MEDIDASH_TEST_CRASH_AT"


def crash_point(name: str) -> None:
    """End the process at once, without cleanup, when the test hook names this point."""
    if os.environ.get(CRASH_ENV) == name:
        os._exit(137)


def pointer_kind(lake: str) -> str:
    """`link` or `file` (module docstring): what a commit into this lake writes."""
    chosen = (settings.current().lake_pointer or "").strip().lower()
    if chosen in ("link", "file"):
        if chosen == "link" and not storage.is_local(lake):
            raise ValueError(f"{POINTER_ENV}=link needs a lake on a filesystem, not {lake}")
        return chosen
    return "link" if storage.is_local(lake) else "file"


def releases_uri(lake: str, year: int) -> str:
    return storage.join(lake, "events", RELEASES, f"data_year={year}")


def dataset_uri(lake: str, kind: str, year: int) -> str:
    """The contract's path of a year's events of one kind (a link in `link` form)."""
    return storage.join(lake, "events", kind, f"data_year={year}")


def _resolve(names: list[str], read, link_target) -> str | None:
    """The current release's name among a year's `_releases` entries: the highest pointer
    file's content, else the `current` link's target, else None."""
    pointers = sorted(n for n in names if POINTER_FILE.match(n))
    if pointers:
        return read(pointers[-1]).strip()
    if CURRENT in names:
        return link_target()
    return None


def current_release_uri(lake: str, year: int) -> str | None:
    """The folder of the year's current release, resolved once (None before the first)."""
    root = releases_uri(lake, year)
    local = storage.local_path(root) if storage.is_local(root) else None

    def link_target() -> str | None:
        pointer = os.path.join(local, CURRENT) if local else None
        return os.readlink(pointer) if pointer and os.path.islink(pointer) else None

    found = _resolve(
        storage.names(root), lambda n: storage.read_text(storage.join(root, n)), link_target
    )
    return storage.join(root, found) if found else None


def new_release(lake: str, year: int, run_id: str) -> str:
    """An empty folder for a run's release of the year. Named after the run (so the same
    release gives the same paths); a retry of a run whose release is already current gets the
    alternate name, so the current release is never overwritten."""
    root = releases_uri(lake, year)
    storage.mkdirs(root)
    current = current_release_uri(lake, year)
    name = run_id if current is None or storage.name(current) != run_id else f"{run_id}.retry"
    folder = storage.join(root, name)
    storage.delete(folder)  # a dead attempt of this run
    storage.mkdirs(folder)
    return folder


def commit_release(lake: str, year: int, built: str) -> None:
    """Make `built` (holding both datasets, complete and checked) the year's release."""
    root = releases_uri(lake, year)
    for kind in KINDS:
        if not storage.is_dir(storage.join(built, kind)):
            raise RuntimeError(f"{built} has no {kind}: a release holds both event datasets")
    kind = pointer_kind(lake)
    if kind == "link":
        _adopt_legacy(lake, year)
    crash_point("before_event_commit")
    if kind == "link":
        _point(storage.join(root, CURRENT), storage.name(built))
    else:
        _write_pointer(root, storage.name(built))
    crash_point("after_event_commit")
    link_datasets(lake, year)
    remove_stale(lake, year)


def _write_pointer(root: str, release: str) -> None:
    """A new pointer object naming `release`, numbered one above the highest so far."""
    numbers = [int(m.group(1)) for n in storage.names(root) if (m := POINTER_FILE.match(n))]
    sequence = max(numbers, default=0) + 1
    storage.write_text(storage.join(root, f"{CURRENT}.{sequence:012d}"), release + "\n")


def link_datasets(lake: str, year: int) -> None:
    """In `link` form, make the contract's paths of the year point at its current release
    (idempotent; also a recovery after a crash between the pointer's first setting and the
    links). In `file` form, remove links a former `link` commit left, which would lead to an
    old release."""
    if current_release_uri(lake, year) is None:
        return
    for kind in KINDS:
        path = dataset_uri(lake, kind, year)
        if pointer_kind(lake) == "file":
            if storage.is_local(path) and os.path.islink(storage.local_path(path)):
                storage.delete(path)
            continue
        if not os.path.islink(storage.local_path(path)):
            storage.mkdirs(storage.parent(path))
            _point(path, f"../{RELEASES}/data_year={year}/{CURRENT}/{kind}")


def remove_stale(lake: str, year: int) -> None:
    """Remove the year's replaced releases, dead attempts and older pointers (never the
    current release, nor the pointer naming it)."""
    root = releases_uri(lake, year)
    current = current_release_uri(lake, year)
    if current is None:
        return
    children = storage.names(root)
    pointers = sorted(n for n in children if POINTER_FILE.match(n))
    keep = {storage.name(current), *pointers[-1:]}
    if not pointers:
        keep.add(CURRENT)
    for child in children:
        if child not in keep:
            storage.delete(storage.join(root, child))


def _point(link: str, target: str) -> None:
    """Create or replace the symbolic link `link` -> `target` atomically (`link` form: a new
    link made beside it, renamed over it)."""
    partial = storage.join(storage.parent(link), f".{storage.name(link)}.{uuid.uuid4().hex}")
    os.symlink(target, storage.local_path(partial))
    storage.rename(partial, link)


def _adopt_legacy(lake: str, year: int) -> None:
    """A year written by the first layout (real `data_year=YYYY` folders, swapped one by one)
    becomes a release: the pointer is set to it first, then each folder is moved into it and
    replaced by its link. Until both are moved, both paths still hold that same release; a
    crash between the rename and the link of one folder leaves that path missing until the
    next run of the year finishes the move."""
    paths = {kind: dataset_uri(lake, kind, year) for kind in KINDS}
    legacy = [
        kind
        for kind, path in paths.items()
        if not os.path.islink(storage.local_path(path)) and storage.is_dir(path)
    ]
    if not legacy:
        return
    root = releases_uri(lake, year)
    current = current_release_uri(lake, year)
    if current is None:
        current = storage.join(root, LEGACY)
        storage.mkdirs(current)
        _point(storage.join(root, CURRENT), LEGACY)
    for index, kind in enumerate(legacy):
        if index:
            crash_point("between_event_swaps")
        if storage.exists(storage.join(current, kind)):
            storage.rename(paths[kind], storage.join(root, f".old-{kind}-{uuid.uuid4().hex}"))
        else:
            storage.rename(paths[kind], storage.join(current, kind))
        _point(paths[kind], f"../{RELEASES}/data_year={year}/{CURRENT}/{kind}")
    for kind in KINDS:
        storage.mkdirs(storage.join(current, kind))


# The same locations as local paths, for tools and tests that read a `file://` lake on this
# machine (pyarrow, a shell) without a Spark session.


def year_releases(lake: str, year: int) -> Path:
    return Path(storage.local_path(releases_uri(lake, year)))


def dataset_path(lake: str, kind: str, year: int) -> Path:
    """The contract's path of a year's events of one kind, as a local path."""
    return Path(storage.local_path(dataset_uri(lake, kind, year)))


def current_release(lake: str, year: int) -> Path | None:
    """The year's current release folder on a `file://` lake, read with the local
    filesystem (None before the first)."""
    root = year_releases(lake, year)
    if not root.is_dir():
        return None
    pointer = root / CURRENT
    found = _resolve(
        [p.name for p in root.iterdir()],
        lambda n: (root / n).read_text(),
        lambda: os.readlink(pointer) if pointer.is_symlink() else None,
    )
    return root / found if found else None
