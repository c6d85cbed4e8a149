"""The work behind the `medidash_refresh` DAG's Python tasks (the DAG file only wires them).

Every function is idempotent for a given run id: re-running a task after a failure or a retry
gives the same result and writes no duplicate.
"""

from __future__ import annotations

import hashlib
import logging
import os
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlencode

from medidash import settings
from medidash.contract import (
    STALE_RUN,
    safe_run_id,  # the run-id rule's home is the leaf module
)
from medidash.errors import scrub_secrets
from medidash.orchestration import constants as c
from medidash.orchestration.outcome import RunRefused, failure_kind, one_line

log = logging.getLogger(__name__)


def warehouse_url() -> str:
    """The warehouse's libpq URL, from the `medidash_warehouse` Airflow connection read
    through the postgres provider's hook: its URL, with the connection extras the hook itself
    passes to the driver (sslmode, application_name, ...) as query parameters.

    The password and the URL itself are registered with Airflow's secret masker, so neither
    can appear in a task log; the URL is handed to Spark only through an environment.
    """
    from airflow.providers.postgres.hooks.postgres import PostgresHook
    from airflow.sdk.log import mask_secret

    hook = PostgresHook(postgres_conn_id=c.WAREHOUSE_CONN_ID)
    extras = {
        key: str(value)
        for key, value in hook.connection.extra_dejson.items()
        if key not in hook.ignored_extra_options
    }
    url = hook.sqlalchemy_url
    # written as libpq reads a URL (SQLAlchemy's rendering leaves spaces and '+' as they are)
    auth = quote(url.username or "", safe="")
    if url.password:
        mask_secret(url.password)
        mask_secret(quote(url.password, safe=""))
        auth += ":" + quote(url.password, safe="")
    query = urlencode({**extras, **url.query}, quote_via=quote)
    text = f"postgresql://{auth}@{url.host}:{url.port or 5432}/{quote(url.database or '')}"
    text += f"?{query}" if query else ""
    mask_secret(text)
    return text


def _warehouse_secrets() -> list[str]:
    """The warehouse password in the forms it can appear in, to scrub from what is stored."""
    from airflow.sdk import BaseHook

    password = BaseHook.get_connection(c.WAREHOUSE_CONN_ID).password or ""
    return [password, quote(password, safe="")] if password else []


def source_kind(source: str) -> str:
    if source == "cms":
        return "cms"
    if source.startswith(("s3://", "s3a://")):
        return "s3"
    return "local"


def resolve_release(source: str, year: int | None, lake: str, airflow_run_id: str) -> dict:
    """What the run will load, and the fingerprint that tells whether it changed.

    Without a year (the schedule's default), the CMS catalogs give their newest data year; a
    folder or an S3 prefix does not say its year, so one is asked for.
    """
    from medidash.release import fingerprint

    kind = source_kind(source)
    if year is None and kind != "cms":
        from medidash.errors import BadInput

        raise BadInput(
            f"a {kind} release needs a data year (the DAG's data_year param, medidash run "
            "--year); only the CMS catalogs tell their newest year",
            file=source,
        )
    release = {
        "kind": kind,
        "source": source,
        "data_year": None if year is None else int(year),
        "lake": lake,
        "run_id": safe_run_id(airflow_run_id),
    }
    if kind == "local":
        folder = Path(source).resolve()
        release["source"] = str(folder)
        release["fingerprint"] = fingerprint.local_folder(folder)
    elif kind == "s3":
        release["fingerprint"] = fingerprint.s3_prefix(source, c.S3_CONN_ID)
    else:
        from dataclasses import asdict

        from medidash.release import cms

        files = cms.resolve(release["data_year"])
        release["data_year"] = cms.release_year(files)
        release["fingerprint"] = fingerprint.cms_catalog(files)
        release["cms_files"] = [asdict(f) for f in files]
        release["source"] = "cms:" + ",".join(f"{f.dataset}@{f.modified}" for f in files)
    return release


def release_changed(release: dict, force: bool) -> bool:
    """False when this exact release was already loaded successfully for this year."""
    if force:
        return True
    import psycopg

    from medidash.warehouse.schema import ensure_schema

    url = warehouse_url()
    ensure_schema(url)
    with psycopg.connect(url) as conn:
        last = conn.execute(
            "select run_id, release_fingerprint from ops.pipeline_runs where data_year = %s "
            "and status = 'success' order by finished_at desc limit 1",
            (release["data_year"],),
        ).fetchone()
    if last and last[1] == release["fingerprint"]:
        log.info("release unchanged since run %s; nothing to do (trigger with force)", last[0])
        return False
    return True


def raw_zone(lake: str) -> Path:
    """Where S3 and CMS releases are landed: the lake's own `raw` folder when the lake is a
    filesystem (a local disk, or an NFS/EFS mount every Spark node sees at the same path), so
    the executors read the files there; for a lake on an object store, the driver's
    `MEDIDASH_HOME/raw`, and step 1 copies what Spark reads into the lake's run folder
    (spark_jobs.ingest_sources.for_executors)."""
    from spark_jobs import storage

    if storage.is_local(lake):
        return Path(storage.local_path(lake)) / "raw"
    return Path(settings.home()) / "raw"


def land_raw_files(release: dict) -> str:
    """A folder of the driver's machine holding the release's raw files (`raw_zone`)."""
    raw_zone_folder = raw_zone(release["lake"])
    if release["kind"] == "local":
        return release["source"]
    if release["kind"] == "s3":
        from medidash.release.s3 import land

        dest = raw_zone_folder / "s3" / release["fingerprint"][:16]
        return str(land(release["source"], dest, c.S3_CONN_ID))
    from medidash.release import cms

    files = [cms.RemoteFile(**f) for f in release["cms_files"]]
    dest = raw_zone_folder / "cms" / str(release["data_year"]) / release["fingerprint"][:16]
    return str(cms.land(files, dest))


def check_headers(folder: str) -> list[dict]:
    from medidash.release.headers import check_release

    files = check_release(folder)
    for f in files:
        log.info("%s%s: %s (%s)", f.path, f"!{f.member}" if f.member else "", f.dataset, f.layout)
    return [{"path": f.path, "dataset": f.dataset, "layout": f.layout} for f in files]


def register_run(release: dict, started_at: datetime) -> None:
    """Record the run as running; refuse while another run of the same year is running."""
    import psycopg

    from medidash.warehouse.schema import ensure_schema

    url = warehouse_url()
    ensure_schema(url)
    with psycopg.connect(url) as conn:
        conn.execute("lock table ops.pipeline_runs in share row exclusive mode")
        conn.execute(
            "update ops.pipeline_runs set status = 'failed', finished_at = now(), "
            "error = 'abandoned: no progress for 12 hours' "
            "where status = 'running' and data_year = %s and started_at < %s",
            (release["data_year"], datetime.now(UTC) - STALE_RUN),
        )
        other = conn.execute(
            "select run_id from ops.pipeline_runs where status = 'running' and data_year = %s "
            "and run_id <> %s",
            (release["data_year"], release["run_id"]),
        ).fetchone()
        if other:
            raise RunRefused(
                f"another run of {release['data_year']} is in progress ({other[0]}); "
                "refusing to load the same year twice at once"
            )
        conn.execute(
            "insert into ops.pipeline_runs (run_id, data_year, source, started_at, status, "
            "release_fingerprint) values (%s, %s, %s, %s, 'running', %s) "
            "on conflict (run_id) do update set status = 'running', finished_at = null, "
            "error = null",
            (
                release["run_id"],
                release["data_year"],
                release["source"],
                started_at,
                release["fingerprint"],
            ),
        )


def finish_run(run_id: str, status: str, error: str | None = None) -> None:
    """Mark a registered run as ended (the error, if any, scrubbed of credentials)."""
    import psycopg

    if error:
        error = scrub_secrets(error, _warehouse_secrets())[:4000]
    with psycopg.connect(warehouse_url(), connect_timeout=10) as conn:
        conn.execute(
            "update ops.pipeline_runs set status = %s, finished_at = now(), error = %s "
            "where run_id = %s",
            (status, error, run_id),
        )


def settle_marts() -> None:
    """After the publish: the new marts VACUUMed (medidash.warehouse.schema.settle_marts)."""
    from medidash.warehouse.schema import settle_marts as vacuum

    vacuum(warehouse_url())


def lake_s3_client(lake: str):
    """The S3 client that reaches an `s3a://` lake outside Spark (from the `medidash_s3`
    connection), handed to spark_jobs.storage; None for a lake on a filesystem."""
    from spark_jobs import storage

    if storage.scheme(lake) != "s3a":
        return None
    from medidash.release.s3 import client_for

    return client_for(c.S3_CONN_ID)


def end_run(release: dict) -> None:
    """The run's last task, however the run ended: its work folder is removed and the marts
    lock given up."""
    from medidash.warehouse import marts_lock
    from spark_jobs.jobs import remove_work

    remove_work(release["lake"], release["run_id"], lake_s3_client(release["lake"]))
    marts_lock.release(warehouse_url(), release["run_id"])


def describe_failure(task_id: str, error: BaseException | None) -> dict:
    """What `medidash run` reports of a failed task: its id, the kind (bad_input, refused,
    fault) and why in one line, without credentials. Pushed as the task's XCom
    `FAILURE_XCOM` by the DAG's failure callback."""
    message = scrub_secrets(one_line(error) or "failed", _warehouse_secrets())[:4000]
    return {"task_id": task_id, "kind": failure_kind(error), "message": message}


def record_failure(run_id: str, failure: dict) -> None:
    """Mark a registered run failed in `ops.pipeline_runs`, with which task failed and why
    (`describe_failure`). A run that failed before `register_run` has no row and gets none."""
    import psycopg

    with psycopg.connect(warehouse_url(), connect_timeout=10) as conn:
        conn.execute(
            "update ops.pipeline_runs set status = 'failed', finished_at = now(), error = %s, "
            "failure_kind = %s where run_id = %s",
            (f"{failure['task_id']}: {failure['message']}", failure["kind"], run_id),
        )


def package_code() -> str:
    """A zip of the `medidash` and `spark_jobs` packages for spark-submit's --py-files, and
    the jar of MediDash's JVM code (`spark_jobs.jvm`, passed as --jars) built if needed.

    Named by its content hash, so every run ships exactly the code it was parsed with and
    concurrent runs never overwrite each other's archive.
    """
    from spark_jobs import jvm

    jvm.jar()
    root = settings.PROJECT_ROOT
    sources = sorted(
        p
        for package in ("medidash", "spark_jobs")
        for p in (root / package).rglob("*.py")
        if "__pycache__" not in p.parts
    )
    digest = hashlib.sha256()
    for path in sources:
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    dist = settings.home() / "dist"
    dist.mkdir(parents=True, exist_ok=True)
    target = dist / f"medidash-code-{digest.hexdigest()[:16]}.zip"
    if not target.exists():
        partial = target.with_suffix(f".zip.{os.getpid()}.part")  # two runs may build it at once
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sources:
                info = zipfile.ZipInfo(str(path.relative_to(root)), date_time=(2020, 1, 1, 0, 0, 0))
                archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
        partial.rename(target)
    return str(target)
