"""What every MediDash Spark job shares: its command line, its error reporting, and the
run folder of the lake. Lake locations are URIs (`spark_jobs.storage`), reached through
Hadoop's FileSystem API."""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import sys
import time
import traceback
import uuid
from collections.abc import Callable
from contextlib import contextmanager

from medidash import settings
from spark_jobs import storage

RECONCILIATION = "reconciliation.json"
# The warehouse URL reaches a job through this environment variable only: a command line is
# visible in every process list and in the task log.
DATABASE_URL_ENV = settings.env_name("database_url")
# What a job prints before its one-line error when it fails for any reason but bad input.
JOB_FAILED_PREFIX = "MEDIDASH JOB FAILED: "
# On an object store (no locks) a run's lease is the age of its lease object: a run is taken
# for dead once it has not started a step for this long (the run registry's stale-run limit).
LEASE_SECONDS = 12 * 3600


def parser(description: str, *, database: bool = False, release: bool = False):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--year", type=int, required=True)
    p.add_argument("--lake", required=True)
    p.add_argument("--run-id", required=True)
    if release:
        p.add_argument("--input", required=True, help="local folder holding the release")
    if database:
        # the DAG sets the environment variable; the option is for a person's own runs, and
        # refuses a URL holding a password
        p.add_argument(
            "--database-url",
            action=settings.DatabaseURLOption,
            env=DATABASE_URL_ENV,
            default=settings.current().database_url,
            help=f"the warehouse's URL (default: ${DATABASE_URL_ENV}, the better place for it)",
        )
    return p


def run_folder(lake: str, run_id: str) -> str:
    return storage.join(lake, "runs", run_id)


def read_reconciliation(lake: str, run_id: str, s3: storage.S3Client | None = None) -> dict:
    """The run's reconciliation report ({} before step 1 wrote it); also outside Spark, where
    an `s3a://` lake is read with `s3` (storage.read_text)."""
    report = storage.join(run_folder(lake, run_id), RECONCILIATION)
    try:
        return json.loads(storage.read_text(report, s3))
    except FileNotFoundError:
        return {}
    except Exception as error:  # noqa: BLE001 - through py4j, Hadoop's FileNotFoundException
        if "FileNotFoundException" in str(error):
            return {}
        raise


def write_reconciliation(lake: str, run_id: str, report: dict) -> None:
    folder = run_folder(lake, run_id)
    storage.mkdirs(folder)
    text = json.dumps(report, indent=2, sort_keys=True)
    storage.write_text(storage.join(folder, RECONCILIATION), text)


def union(frames):
    """The frames' rows in one DataFrame, columns matched by name (a non-empty list)."""
    result = frames[0]
    for frame in frames[1:]:
        result = result.unionByName(frame)
    return result


def read_clean(spark, lake: str, dataset: str, year: int):
    """The cleaned rows of a dataset's year (`<lake>/clean/<dataset>/data_year=YYYY`) with
    their schema (ingest_cleaning.CLEAN_COLUMNS), also when the dataset is absent from the
    release: its folder then holds no file, or does not exist, and the frame is empty."""
    from spark_jobs.ingest_cleaning import clean_schema

    schema = clean_schema(dataset)
    folder = storage.join(lake, "clean", dataset, f"data_year={year}")
    if not storage.names(folder, "*.parquet"):
        return spark.createDataFrame([], schema)
    return spark.read.schema(schema).parquet(folder)


def swap_directory(built: str, final: str) -> None:
    """Swap a freshly written folder into place: the old one is moved aside, the new one
    renamed in, the old one deleted. A job killed at any point leaves either the old or the
    new folder at `final` (and a `_tmp_`/`_old_` leftover that the next run removes). On an
    object store each rename is a copy: the step's readers run after it, never during it."""
    storage.mkdirs(storage.parent(final))
    old = storage.join(storage.parent(final), f"_old_{uuid.uuid4().hex}")
    if storage.exists(final):
        storage.rename(final, old)
    storage.rename(built, final)
    storage.delete(old)


def clean_leftovers(folder: str, owner: str | None = None) -> None:
    """Remove what dead runs left while writing in `folder` (a dataset root of the lake,
    `<lake>/<zone>/<dataset>`): `_old_*` folders, and the `_tmp_<run>` folders of runs whose
    lease is free. Given `owner` (the calling run, about to write its own `_tmp_<owner>`),
    first take that run's lease, so that a run of another year never removes it."""
    lake = storage.parent(storage.parent(folder))
    if owner is not None:
        hold_run_lease(lake, owner)
    for child in storage.listing(folder):
        if child.name.startswith("_old_"):
            storage.delete(child.uri)
        elif child.name.startswith("_tmp_") and child.name != f"_tmp_{owner}":
            with _lease_if_free(lake, child.name.removeprefix("_tmp_")) as free:
                if free:
                    storage.delete(child.uri)


_LEASES: dict[str, object] = {}


def _lease_file(lake: str, run_id: str) -> str:
    return storage.join(run_folder(lake, run_id), ".lease")


def hold_run_lease(lake: str, run_id: str) -> None:
    """Mark the run alive for as long as this process lives. On a filesystem: a shared lock
    on its lease file, released by the operating system when the process ends, however it
    ends (NFSv4 and EFS pass locks on). On an object store: the lease object written now, alive
    for LEASE_SECONDS."""
    path = _lease_file(lake, run_id)
    if path in _LEASES:
        return
    if not storage.is_local(path):
        storage.write_text(path, f"{time.time():.0f}\n")
        _LEASES[path] = None
        return
    local = storage.local_path(path)
    os.makedirs(os.path.dirname(local), exist_ok=True)
    handle = open(local, "a")  # noqa: SIM115 - held until the process ends
    fcntl.flock(handle, fcntl.LOCK_SH)
    _LEASES[path] = handle


@contextmanager
def _lease_if_free(lake: str, run_id: str):
    """Yield True while holding the run's lease exclusively when no live process holds it
    (the run is dead, or never took one), else False."""
    path = _lease_file(lake, run_id)
    if path in _LEASES:
        yield False
        return
    if not storage.is_local(path):
        entry = storage.listing(storage.parent(path), storage.name(path))
        yield not entry or time.time() - entry[0].modified > LEASE_SECONDS
        return
    local = storage.local_path(path)
    if not os.path.exists(local):
        yield True
        return
    with open(local, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def remove_work(lake: str, run_id: str, s3: storage.S3Client | None = None) -> None:
    """When a run has ended, failed or not: remove its work folder (extracted and transcoded
    release files, release files copied for the executors, staged frames). The reconciliation
    and quarantine stay: a task of the run cleared and run again later still needs them, and
    they are small. Also outside Spark (the DAG's teardown), where an `s3a://` lake is reached
    with `s3` (storage.delete)."""
    storage.delete(storage.join(run_folder(lake, run_id), "work"), s3)


def name_files_deterministically(folder: str) -> None:
    """Number the part files part-NNNNN.parquet in partition order without gaps (the event
    writer names a file by its partition and writes none for an empty one) and remove the
    checksum and marker files, so the same release gives the same folder, name for name."""
    parts = sorted(storage.names(folder, "part-*.parquet"), key=lambda n: n.split("-")[1])
    for index, part in enumerate(parts):
        target = f"part-{index:05d}.parquet"
        if part != target:
            storage.rename(storage.join(folder, part), storage.join(folder, target))
    for pattern in ("*.crc", "_SUCCESS"):
        for marker in storage.names(folder, pattern):
            storage.delete(storage.join(folder, marker))


def main_guard(prog: str, body: Callable[[], None]) -> int:
    """Run a job; a failure ends it with one clear line as its last on stderr.

    A data error (`BadInput`) exits with EXIT_BAD_INPUT, its message after BAD_INPUT_PREFIX:
    the DAG fails the task at once with it. Any other failure exits with 1 after its traceback
    and a line after JOB_FAILED_PREFIX, and may be retried. Both are scrubbed of credentials.
    """
    from urllib.parse import unquote, urlsplit

    from medidash.errors import BAD_INPUT_PREFIX, EXIT_BAD_INPUT, BadInput, scrub_secrets

    url = settings.current().database_url or ""
    password = urlsplit(url).password or ""
    secrets = [url, password, unquote(password)]
    try:
        body()
        return 0
    except BadInput as error:
        line = " ".join(str(error).split())
        print(f"{BAD_INPUT_PREFIX}{scrub_secrets(line, secrets)}", file=sys.stderr, flush=True)
        return EXIT_BAD_INPUT
    except Exception as error:  # noqa: BLE001 - every failure ends in one line for the DAG log
        print(scrub_secrets(traceback.format_exc(), secrets), file=sys.stderr)
        message = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        line = f"{prog}: {type(error).__name__}: {message}"
        print(f"{JOB_FAILED_PREFIX}{scrub_secrets(line, secrets)}", file=sys.stderr, flush=True)
        return 1
