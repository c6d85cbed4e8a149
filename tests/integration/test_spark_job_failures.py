"""How a Spark step's failure reaches Airflow: a real spark-submit (local mode) of small jobs
through `spark_jobs.jobs.main_guard` and the DAG's operator, `MedidashSparkSubmitOperator`.

- a data error (`BadInput`) exits 4 with its one line last on stderr, and the task fails at once
  (AirflowFailException: no retry) with that message, file, line, column and value;
- any other error exits 1 and stays retryable, its message the job's own line, scrubbed of the
  warehouse password;
- the warehouse URL reaches the job in its environment, not on its command line.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from medidash.errors import BadInput
from medidash.orchestration.outcome import BAD_INPUT, FAULT, failure_kind
from medidash.settings import PROJECT_ROOT

PASSWORD = "s3cr3t-Pa55word-for-the-test"  # pragma: allowlist secret
URL = f"postgresql://medidash_owner:{PASSWORD}@127.0.0.1:9/medidash"
JOB = textwrap.dedent(
    """
    import os, sys
    from medidash.errors import BadInput
    from spark_jobs.jobs import main_guard

    def body():
        kind = sys.argv[1]
        if kind == "bad_input":
            print("some job output", flush=True)
            raise BadInput("count too large for its type", file="part_b.csv", line=7,
                           column="Tot_Srvcs", value="9" * 30)
        if kind == "fault":
            raise ConnectionError("could not reach " + os.environ["MEDIDASH_DATABASE_URL"])
        if kind == "environment":
            assert os.environ["MEDIDASH_DATABASE_URL"].startswith("postgresql://"), os.environ
            assert not any("postgresql" in arg for arg in sys.argv)
            print("warehouse from the environment", flush=True)

    sys.exit(main_guard("test_job", body))
    """
)


@pytest.fixture(scope="module")
def job(tmp_path_factory) -> Path:
    if not shutil.which("spark-submit", path=str(Path(sys.executable).parent)):
        pytest.skip("spark-submit not installed beside the interpreter")
    path = tmp_path_factory.mktemp("jobs") / "job.py"
    path.write_text(JOB)
    return path


@pytest.fixture
def submit(job, monkeypatch):
    from airflow.sdk.exceptions import AirflowException

    from medidash.orchestration.spark_submit import MedidashSparkSubmitOperator

    monkeypatch.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    monkeypatch.setenv(
        "AIRFLOW_CONN_SPARK_DEFAULT", json.dumps({"conn_type": "spark", "host": "local[1]"})
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_MEDIDASH_WAREHOUSE",
        json.dumps({"conn_type": "postgres", "host": "127.0.0.1", "port": 9,
                    "login": "medidash_owner", "password": PASSWORD, "schema": "medidash"}),
    )  # fmt: skip

    def run(kind: str) -> AirflowException | None:
        operator = MedidashSparkSubmitOperator(
            task_id=f"job_{kind}",
            application=str(job),
            application_args=[kind],
            env_vars={"PYTHONPATH": str(PROJECT_ROOT), "PYSPARK_PYTHON": sys.executable},
            warehouse_conn_id="medidash_warehouse",
            name=f"test-{kind}",
        )
        try:
            operator.execute({})
        except AirflowException as error:
            assert PASSWORD not in " ".join(map(str, operator.application_args))
            assert PASSWORD not in json.dumps(operator.env_vars)
            return error
        return None

    return run


def test_bad_input_fails_the_task_at_once_with_the_jobs_message(submit):
    from airflow.sdk.exceptions import AirflowFailException

    error = submit("bad_input")
    assert isinstance(error, AirflowFailException), repr(error)
    assert str(error) == (
        "part_b.csv: line 7: column Tot_Srvcs: value '999999999999999999999999999999': "
        "count too large for its type"
    )
    assert isinstance(error.__cause__, BadInput)
    assert failure_kind(error) == BAD_INPUT


def test_any_other_failure_stays_retryable_with_the_jobs_line_and_no_password(submit):
    from airflow.sdk.exceptions import AirflowFailException

    error = submit("fault")
    assert error is not None and not isinstance(error, AirflowFailException), repr(error)
    assert (
        str(error) == "test_job: ConnectionError: could not reach *** (spark-submit exit status 1)"
    )
    assert failure_kind(error) == FAULT


def test_the_warehouse_reaches_the_job_through_its_environment(submit):
    assert submit("environment") is None
