"""How a `medidash_refresh` run ended, read from Airflow's own records and `ops.pipeline_runs`.

The DAG's failure callback keeps, as the failed task's XCom `FAILURE_XCOM`, which task failed,
why (one line, with every credential removed) and what kind of failure it was: `bad_input` (the
release is wrong: retrying cannot help), `refused` (another run of the year is running) or
`fault` (anything else: a lost connection, a killed executor); for a registered run it also
writes them to the run's `ops.pipeline_runs` row (`error`, `failure_kind`). `read_outcome`
turns that and the DAG run's task states into the exit status of contract section 6. It
imports no Airflow at module level.
"""

from __future__ import annotations

from dataclasses import dataclass

from medidash.errors import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_REFUSED,
    BadInput,
)

BAD_INPUT = "bad_input"
REFUSED = "refused"
FAULT = "fault"
EXIT_STATUS = {BAD_INPUT: EXIT_BAD_INPUT, REFUSED: EXIT_REFUSED, FAULT: EXIT_FAILED}
# the XCom key of a failed task's {"task_id", "kind", "message"}
FAILURE_XCOM = "medidash_failure"


@dataclass(frozen=True)
class Outcome:
    """A run's end: `state` is success, skipped, failed or refused; `exit_status` is what
    `medidash run` exits with; `failed_task` and `message` (the failing task's own error, one
    line) are set when it failed; `run_id` is MediDash's run id (ops tables, lake folders)."""

    state: str
    exit_status: int
    failed_task: str | None
    message: str
    run_id: str


class RunRefused(RuntimeError):
    """Another run of the same data year is running: this one does not start."""


def failure_kind(error: BaseException | None) -> str:
    """bad_input, refused or fault: from the exception and the ones it was raised from."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, BadInput):
            return BAD_INPUT
        if isinstance(error, RunRefused):
            return REFUSED
        error = error.__cause__ or error.__context__
    return FAULT


def fail_at_once(*also: type[BaseException]):
    """A context manager for a task: a data error (`BadInput`, or one of `also`) or a refusal
    fails it at once, as AirflowFailException (no retry spent), the original as its cause."""
    from contextlib import contextmanager

    from airflow.sdk.exceptions import AirflowFailException

    @contextmanager
    def guard():
        try:
            yield
        except (BadInput, RunRefused) as error:
            raise AirflowFailException(str(error)) from error
        except also as error:
            raise AirflowFailException(str(error)) from BadInput(str(error))

    return guard()


def one_line(error: BaseException | str | None) -> str:
    """The first non-empty line of an error's message (its type when it has none)."""
    if isinstance(error, BaseException):
        text = str(error).strip() or type(error).__name__
    else:
        text = (error or "").strip()
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _task_instances(dag_run) -> list:
    try:
        return list(dag_run.get_task_instances())
    except Exception:  # noqa: BLE001 - a detached run object: fall back to the ops row
        return []


def _failure_xcom(dag_run, task_id: str) -> dict | None:
    """The failure the callback kept for `task_id` in this DAG run (Airflow's metadata DB)."""
    try:
        from airflow.models.xcom import XComModel
        from airflow.utils.session import create_session

        with create_session() as session:
            stored = session.scalars(
                XComModel.get_many(
                    run_id=dag_run.run_id,
                    key=FAILURE_XCOM,
                    task_ids=task_id,
                    dag_ids=dag_run.dag_id,
                    limit=1,
                )
            ).first()
            value = XComModel.deserialize_value(stored) if stored is not None else None
    except Exception:  # noqa: BLE001 - no record: the ops row or a generic message remains
        return None
    return value if isinstance(value, dict) else None


def _ops_row(database_url: str, run_id: str) -> tuple | None:
    import psycopg

    try:
        with psycopg.connect(database_url, connect_timeout=10) as conn:
            return conn.execute(
                "select error, failure_kind from ops.pipeline_runs where run_id = %s "
                "and status = 'failed'",
                (run_id,),
            ).fetchone()
    except psycopg.Error:
        return None


def read_outcome(dag_run, database_url: str) -> Outcome:
    """The outcome of a finished DAG run (what `dag.test()` returns)."""
    from medidash.orchestration.tasks import safe_run_id

    run_id = safe_run_id(dag_run.run_id)
    state = str(getattr(dag_run.state, "value", dag_run.state))
    instances = _task_instances(dag_run)
    states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in instances}
    if state == "success":
        skipped = states.get("land_raw_files") == "skipped"
        return Outcome("skipped" if skipped else "success", EXIT_OK, None, "", run_id)
    failed = sorted(
        (ti for ti in instances if states[ti.task_id] == "failed"),
        key=lambda ti: (ti.end_date is None, ti.end_date or 0, ti.task_id),
    )
    failed_task = failed[0].task_id if failed else None
    failure = _failure_xcom(dag_run, failed_task) if failed_task else None
    if failure:
        kind, message = failure.get("kind") or FAULT, failure.get("message") or ""
    else:
        row = _ops_row(database_url, run_id)
        kind = (row[1] if row else None) or FAULT
        message = (row[0] if row else None) or ""
        if failed_task and message.startswith(failed_task + ": "):
            message = message[len(failed_task) + 2 :]
    if not message:
        message = f"{failed_task or 'a task'} failed; its log says why"
    return Outcome(
        REFUSED if kind == REFUSED else "failed",
        EXIT_STATUS.get(kind, EXIT_FAILED),
        failed_task,
        message,
        run_id,
    )
