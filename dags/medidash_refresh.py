"""medidash_refresh: load one CMS data year into the MediDash warehouse, end to end.

Purpose
    Land a release (CMS catalogs, an S3 prefix or a local folder), check every file's header
    against the CMS layouts, clean it and explode it into the event lake with Spark, land the
    aggregates in PostgreSQL, build and test the marts with dbt, publish them (the dashboard
    serves them from then on), and deploy the regenerated dbt docs site.

Schedule
    Monthly (`@monthly`, no catch-up, one run at a time): CMS refreshes the clinician file
    monthly and the Part B / Part D files yearly. A scheduled run uses the default params (the
    CMS catalogs, the newest data year) and ends at once when the release is unchanged since
    the last successful run.

Params (the trigger form)
    data_year  data year to load; empty (the default, as in scheduled runs): the newest year the
               CMS catalog lists Part B for, resolved when the run starts
    source     `cms`, an `s3://bucket/prefix`, or a local folder
    lake       where the event lake lives (a folder, or s3a:// on a cluster with hadoop-aws)
    force      run even when the release is unchanged

Connections
    spark_default (the Spark master: local[*] or spark://host:port), medidash_warehouse
    (PostgreSQL), medidash_s3 (S3 or an S3-compatible store, endpoint_url in extra).

Outputs
    `<lake>/events/{procedures,prescriptions}/data_year=YYYY`, the `landing` tables, the nine
    `marts` tables (emitted as Assets), `ops.pipeline_runs` / `ops.reconciliation` /
    `ops.quarantine`, and dbt_project/target/static_index.html.

Order of the checks
    The release fingerprint (a hash of every file's name and bytes for a folder; keys, sizes
    and ETags for an S3 prefix; URLs and modified dates for the CMS catalogs) is known before
    anything is landed, so an unchanged release is skipped before gigabytes are downloaded;
    the header check then runs on the landed files, before any run is registered.

Why re-runs are safe
    Every stage replaces exactly its own data year: Spark writes a run-specific location and
    swaps it in (the events: commits it by one pointer), the load replaces the year's landing
    rows in one transaction, dbt builds the marts in `marts_build` and publishes them: all nine
    move into `marts` in one transaction. A retried task repeats its work with the same run id
    and leaves no duplicate; a second run of the same year at the same time is refused by
    `register_run`. A run of another year runs beside it and, from replacing its landing rows
    on, waits for the first to finish with the marts (the marts lock); the `end_run` teardown
    removes the run's work folder however the run ended.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import Asset, Param, chain, dag, get_current_context, task, teardown
from cosmos import (
    DbtTaskGroup,
    ExecutionConfig,
    ProfileConfig,
    ProjectConfig,
    RenderConfig,
)
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior
from cosmos.operators.local import DbtDocsLocalOperator, DbtRunOperationLocalOperator
from cosmos.profiles import PostgresUserPasswordProfileMapping

from medidash import settings
from medidash.orchestration import constants as c

DBT_PROJECT = Path(__file__).resolve().parent.parent / "dbt_project"
MANIFEST = DBT_PROJECT / "target" / "manifest.json"
# every dbt command of a run (the models and their tests, the marts publish, the docs) gets its
# credentials from the medidash_warehouse connection through this one mapping
DBT_PROFILE = ProfileConfig(
    profile_name="medidash",
    target_name="warehouse",
    profile_mapping=PostgresUserPasswordProfileMapping(
        conn_id=c.WAREHOUSE_CONN_ID, profile_args={"schema": "dbt_default"}
    ),
)
# dbt runs in the worker's own interpreter (dbt's Python runner), the one MediDash and its
# pinned dbt are installed in; no dbt package is installed at run time
DBT_OPERATOR_ARGS = {
    "invocation_mode": InvocationMode.DBT_RUNNER,
    "install_deps": False,
    "env": {"DO_NOT_TRACK": "1"},
}


def _mark_failed(context) -> None:
    """on_failure_callback: which task failed, why (one line, no credentials) and how (bad
    input, refused, fault), kept in Airflow's own records (the task's XCom FAILURE_XCOM) and,
    for a registered run, in `ops.pipeline_runs`; `medidash run` reads its outcome there."""
    from medidash.orchestration import tasks
    from medidash.orchestration.outcome import FAILURE_XCOM

    log = logging.getLogger(__name__)
    ti = context["task_instance"]
    failure = tasks.describe_failure(ti.task_id, context.get("exception"))
    try:
        ti.xcom_push(key=FAILURE_XCOM, value=failure)
    except Exception:  # noqa: BLE001 - the original failure is what matters
        log.warning("could not keep the failure in XCom", exc_info=True)
    release = ti.xcom_pull(task_ids="resolve_release")
    if release:
        try:
            tasks.record_failure(release["run_id"], failure)
        except Exception:  # noqa: BLE001 - the original failure is what matters
            log.warning("could not record the failure in ops.pipeline_runs")


default_args = {
    "owner": "medidash",
    "retries": 2,
    "retry_delay": timedelta(seconds=c.retry_delay_seconds()),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=30),
    "execution_timeout": timedelta(hours=3),
    "on_failure_callback": _mark_failed,
}


def _spark_task(task_id: str):
    from medidash.orchestration.spark_submit import MedidashSparkSubmitOperator

    release = "ti.xcom_pull(task_ids='resolve_release')"
    args = [
        "--year",
        "{{ " + release + "['data_year'] }}",
        "--lake",
        "{{ " + release + "['lake'] }}",
        "--run-id",
        "{{ " + release + "['run_id'] }}",
    ]
    if task_id == "spark_ingest":
        args += ["--input", "{{ ti.xcom_pull(task_ids='land_raw_files') }}"]
    return MedidashSparkSubmitOperator(
        task_id=task_id,
        conn_id=c.SPARK_CONN_ID,
        application=str(c.SPARK_STEPS[task_id]),
        # both built by package_code when the run executes: parsing this file hashes nothing
        py_files="{{ ti.xcom_pull(task_ids='package_code')['py_files'] }}",
        jars="{{ ti.xcom_pull(task_ids='package_code')['jars'] }}",
        application_args=args,
        conf=c.spark_conf(),
        # the warehouse reaches the job through its environment, never its command line
        warehouse_conn_id=c.WAREHOUSE_CONN_ID if task_id == "spark_aggregate_load" else None,
        name=f"medidash-{task_id}",
        execution_timeout=timedelta(hours=6),
    )


@dag(
    dag_id="medidash_refresh",
    schedule="@monthly",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=default_args,
    tags=["medidash", "cms", "spark", "dbt"],
    doc_md=__doc__,
    params={
        "data_year": Param(
            None,  # decided by resolve_release when the run starts, never when this file is parsed
            type=["null", "integer"],
            minimum=2013,
            title="Data year",
            description="The data year to load; empty: the newest year the CMS catalog lists "
            "(a folder or S3 source needs a year).",
        ),
        "source": Param(
            "cms",
            type="string",
            minLength=1,
            title="Source",
            description="`cms`, an s3://bucket/prefix, or a local folder holding the release.",
        ),
        "lake": Param(
            settings.default_lake(),
            type="string",
            minLength=1,
            title="Event lake",
            description="Folder (or s3a:// URI on a cluster with hadoop-aws) of the event lake.",
        ),
        "force": Param(
            False,
            type="boolean",
            title="Force",
            description="Run even if this release was already loaded successfully.",
        ),
    },
)
def medidash_refresh():
    @task
    def resolve_release(params=None, run_id=None) -> dict:
        from medidash.orchestration import tasks
        from medidash.orchestration.outcome import fail_at_once

        with fail_at_once():  # a source that cannot be a release (bad S3 keys, say)
            return tasks.resolve_release(
                params["source"], params["data_year"], params["lake"], run_id
            )

    @task.short_circuit(ignore_downstream_trigger_rules=True)
    def release_changed(release: dict, params=None) -> bool:
        from medidash.orchestration import tasks

        return tasks.release_changed(release, bool(params["force"]))

    @task
    def land_raw_files(release: dict) -> str:
        from medidash.orchestration import tasks
        from medidash.orchestration.outcome import fail_at_once

        with fail_at_once():  # what the catalog serves is refused (a 4xx, a foreign redirect)
            return tasks.land_raw_files(release)

    @task
    def check_headers(folder: str) -> list[dict]:
        from medidash.orchestration import tasks
        from medidash.orchestration.outcome import fail_at_once

        # bad input (a missing folder or file too): retrying cannot help
        with fail_at_once(ValueError, FileNotFoundError):
            return tasks.check_headers(folder)

    @task
    def register_run(release: dict) -> str:
        from medidash.orchestration import tasks
        from medidash.orchestration.outcome import fail_at_once

        context = get_current_context()
        with fail_at_once():  # refused: another run of the year is running
            tasks.register_run(release, context["dag_run"].start_date or datetime.now())
        return release["run_id"]

    @task
    def package_code() -> dict[str, str]:
        """The jobs' code archive (--py-files) and the JVM writer's jar (--jars), built now."""
        from medidash.orchestration import tasks

        return {"py_files": tasks.package_code(), "jars": c.spark_jars()}

    @task
    def settle_marts() -> None:
        """The published marts VACUUMed, so that their lists count from their indexes."""
        from medidash.orchestration import tasks

        tasks.settle_marts()

    @task(outlets=[Asset(f"{c.ASSET_URI_PREFIX}{name}") for name in c.MARTS])
    def record_success(release: dict) -> None:
        """The run recorded as succeeded in `ops.pipeline_runs`; its outlets tell Airflow the
        marts changed."""
        from medidash.orchestration import tasks

        tasks.finish_run(release["run_id"], "success")

    @teardown
    def end_run(release: dict) -> None:
        """Last, whether the run succeeded or failed (a teardown does not decide the run's
        state): its work folder is removed and the marts lock given up."""
        from medidash.orchestration import tasks

        tasks.end_run(release)

    release = resolve_release()
    changed = release_changed(release)
    folder = land_raw_files(release)
    checked = check_headers(folder)
    registered = register_run(release)
    code = package_code()
    ingest = _spark_task("spark_ingest")
    explode = _spark_task("spark_explode")
    load = _spark_task("spark_aggregate_load")

    dbt = DbtTaskGroup(
        group_id="dbt",
        project_config=ProjectConfig(
            dbt_project_path=DBT_PROJECT,
            manifest_path=MANIFEST if MANIFEST.exists() else None,
            env_vars={"DO_NOT_TRACK": "1"},
        ),
        profile_config=DBT_PROFILE,
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.LOCAL, invocation_mode=InvocationMode.DBT_RUNNER
        ),
        # The manifest is compiled ahead (`make install`, `medidash run`, the image build), so
        # parsing this file never runs dbt; without it cosmos falls back to `dbt ls`.
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST if MANIFEST.exists() else LoadMode.DBT_LS,
            # one task per model, `dbt build` of the model and then its own tests: one dbt
            # invocation where a run task and a test task took two
            test_behavior=TestBehavior.BUILD,
            # tests across models (relationships, the cross-layer singular tests) run once
            # all their models are built, not with the first of them
            should_detach_multiple_parents_tests=True,
        ),
        # a failed dbt test is bad data: its task fails at once; an error (a lost connection)
        # is retried (a string, so parsing this file imports nothing more)
        operator_args={
            "install_deps": False,
            "callback": "medidash.orchestration.dbt_env.fail_on_failed_tests",
        },
    )
    # the nine marts move from marts_build into marts in one transaction
    marts = DbtRunOperationLocalOperator(
        task_id="publish_marts",
        macro_name="swap_marts",
        project_dir=DBT_PROJECT,
        profile_config=DBT_PROFILE,
        emit_datasets=False,
        **DBT_OPERATOR_ARGS,
    )
    # after the publish, while the run still holds the marts lock: the catalog documents the
    # marts where they now are; the callback puts the page where the dashboard serves it
    docs = DbtDocsLocalOperator(
        task_id="dbt_docs",
        project_dir=DBT_PROJECT,
        profile_config=DBT_PROFILE,
        dbt_cmd_flags=["--static"],
        vars={"document_published_marts": True},
        callback="medidash.orchestration.docs.deploy_site",
        emit_datasets=False,
        **DBT_OPERATOR_ARGS,
    )

    chain(changed, folder, checked, registered, ingest, explode, load, dbt, marts)
    chain(marts, settle_marts(), docs)
    chain(code, ingest)
    chain(docs, record_success(release), end_run(release))


medidash_refresh_dag = medidash_refresh()
