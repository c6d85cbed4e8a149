"""The DAG's Spark steps: spark-submit, with a job's data error failing the task at once.

A MediDash job (`spark_jobs.jobs.main_guard`) ends a data error with exit status
`EXIT_BAD_INPUT` and its one-line message, prefixed by `BAD_INPUT_PREFIX`, as its last stderr
line; any other failure with status 1 and a line prefixed by `JOB_FAILED_PREFIX`. The provider's
hook reads spark-submit's merged output line by line (`_process_spark_submit_log`) and raises a
bare AirflowException naming the exit status (`_submit_sp.returncode`). Here the status 4 becomes
AirflowFailException carrying the job's own message, so no retry is spent on bad input; other
failures (a lost connection, a killed executor) stay retryable, with the job's line as message.

The warehouse reaches step 3 through the spark-submit process's environment
(`MEDIDASH_DATABASE_URL`), set on the hook at execution: never in argv, never in a rendered
template field.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

from medidash.errors import BAD_INPUT_PREFIX, EXIT_BAD_INPUT, BadInput, scrub_secrets
from spark_jobs.jobs import DATABASE_URL_ENV, JOB_FAILED_PREFIX


class _JobOutputHook(SparkSubmitHook):
    """SparkSubmitHook that also keeps the job's own error line from the output it logs."""

    bad_input: str | None = None
    job_error: str | None = None

    def _process_spark_submit_log(self, itr) -> None:
        def watched(lines):
            for line in lines:
                text = line.strip()
                if text.startswith(BAD_INPUT_PREFIX):
                    self.bad_input = text.removeprefix(BAD_INPUT_PREFIX)
                elif text.startswith(JOB_FAILED_PREFIX):
                    self.job_error = text.removeprefix(JOB_FAILED_PREFIX)
                yield line

        super()._process_spark_submit_log(watched(itr))


class MedidashSparkSubmitOperator(SparkSubmitOperator):
    """SparkSubmitOperator for a MediDash job: bad input fails without retries; with
    `warehouse_conn_id`, the job gets that connection's URL in its environment."""

    def __init__(self, *, warehouse_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.warehouse_conn_id = warehouse_conn_id

    def _get_hook(self) -> SparkSubmitHook:
        hook = super()._get_hook()
        # the provider builds its hook from some thirty arguments; rather than copy them, the
        # built hook takes on the subclass's output watching (it adds no state of its own)
        hook.__class__ = _JobOutputHook
        if self.warehouse_conn_id:
            from medidash.orchestration.tasks import warehouse_url

            # the hook passes env_vars to the spark-submit subprocess (local and standalone
            # client mode) and logs none of them; self.env_vars, a template field, stays clean
            hook._env_vars = {**(hook._env_vars or {}), DATABASE_URL_ENV: warehouse_url()}
        return hook

    def execute(self, context) -> None:
        from airflow.sdk.exceptions import AirflowException, AirflowFailException

        try:
            return super().execute(context)
        except AirflowException as error:
            hook = self._hook
            process = getattr(hook, "_submit_sp", None)
            status = process.returncode if process is not None else None
            if status == EXIT_BAD_INPUT:
                message = getattr(hook, "bad_input", None) or "the job reported bad input"
                raise AirflowFailException(message) from BadInput(message)
            line = getattr(hook, "job_error", None)
            if line:
                raise AirflowException(
                    f"{scrub_secrets(line)} (spark-submit exit status {status})"
                ) from error
            raise
