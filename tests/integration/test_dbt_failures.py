"""dbt's failures as the DAG tells them apart (`dbt_env.fail_on_failed_tests`, the callback cosmos
runs after every dbt command): real dbt against the session's PostgreSQL, on a two-test project.

- a test that *fails* (it ran and found rows) is bad data: AirflowFailException (no retry), a
  BadInput naming the test;
- a test or model that *errors* (here a relation that is not there, as a lost connection would)
  is left to cosmos, which raises a retryable error.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from medidash.errors import BadInput
from medidash.orchestration.dbt_env import fail_on_failed_tests
from medidash.orchestration.outcome import BAD_INPUT, failure_kind


@pytest.fixture(scope="module")
def project(tmp_path_factory, warehouse) -> Path:
    root = tmp_path_factory.mktemp("dbt-project")
    url = urlsplit(warehouse.url)
    (root / "dbt_project.yml").write_text(
        "name: failures\nversion: '1.0'\nprofile: failures\nconfig-version: 2\n"
    )
    (root / "profiles.yml").write_text(
        textwrap.dedent(
            f"""
            failures:
              target: test
              outputs:
                test:
                  type: postgres
                  host: {url.hostname}
                  port: {url.port}
                  user: {unquote(url.username)}
                  password: "{{{{ env_var('FAILURES_PG_PASSWORD') }}}}"
                  dbname: {url.path.lstrip("/")}
                  schema: dbt_failures
                  threads: 1
            """
        )
    )
    tests = root / "tests"
    tests.mkdir()
    (tests / "no_negative_counts.sql").write_text("select -1 as event_count union all select -2")
    (tests / "reads_a_missing_table.sql").write_text("select * from no_schema.no_such_table")
    # a model and its own test, as the DAG's build tasks run them (cosmos TestBehavior.BUILD)
    (root / "models").mkdir()
    (root / "models" / "counts.sql").write_text("select -3 as event_count")
    (tests / "counts_not_negative.sql").write_text(
        "select * from {{ ref('counts') }} where event_count < 0"
    )
    return root


def dbt_test(project: Path, select: str, password: str, monkeypatch, command="test") -> None:
    from dbt.cli.main import dbtRunner

    monkeypatch.setenv("FAILURES_PG_PASSWORD", password)
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    result = dbtRunner().invoke(
        [command, "--select", select, "--project-dir", str(project), "--profiles-dir",
         str(project), "--target-path", str(project / "target"), "--quiet"]
    )  # fmt: skip
    assert not result.success  # every test here ends badly, failing or erroring


def test_a_failed_dbt_test_fails_the_task_at_once_naming_the_test(project, warehouse, monkeypatch):
    from airflow.sdk.exceptions import AirflowFailException

    dbt_test(project, "no_negative_counts", warehouse.owner_password, monkeypatch)
    with pytest.raises(AirflowFailException) as raised:
        fail_on_failed_tests(str(project), context={})
    assert isinstance(raised.value.__cause__, BadInput)
    assert failure_kind(raised.value) == BAD_INPUT
    message = str(raised.value)
    assert message.startswith("dbt test failures.no_negative_counts"), message
    assert "2 failing rows" in message, message


def test_a_model_whose_test_fails_in_its_build_fails_the_task_at_once(
    project, warehouse, monkeypatch
):
    from airflow.sdk.exceptions import AirflowFailException

    dbt_test(project, "counts", warehouse.owner_password, monkeypatch, command="build")
    with pytest.raises(AirflowFailException) as raised:
        fail_on_failed_tests(str(project), context={})
    assert failure_kind(raised.value) == BAD_INPUT
    message = str(raised.value)
    assert message.startswith("dbt test failures.counts_not_negative"), message
    assert "1 failing rows" in message, message


def test_an_erroring_dbt_test_is_left_to_retry(project, warehouse, monkeypatch):
    dbt_test(project, "reads_a_missing_table", warehouse.owner_password, monkeypatch)
    assert fail_on_failed_tests(str(project), context={}) is None
