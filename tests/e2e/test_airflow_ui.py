"""The Airflow UI as users use it (issue 17 item 6): on the local stack, the admin logs in,
opens `medidash_refresh`, fills the trigger form (data year, a local release folder, force)
and sees the run succeed in the DAG's runs table; the marts then hold that year.

The run itself is the session's `ui_run` (tests/e2e/conftest.py), shared with test_docs_site
and test_stack so the stack starts and runs the DAG once.
"""

from __future__ import annotations

import psycopg
import pytest

from medidash.orchestration.constants import DAG_ID, MARTS
from tests.e2e.local_stack import YEAR, Api

pytestmark = pytest.mark.slow


def test_a_run_triggered_from_the_ui_form_succeeds_and_loads_the_year(ui_run, stack, stack_release):
    home = stack["home"]
    assert ui_run["state"] == "success", f"the UI shows {ui_run['state']}; logs under {home}"
    print(f"\nDAG run triggered in the UI: {ui_run['seconds']:.0f} s until the UI showed success")

    # the form's values reached the run: its conf, as Airflow recorded it
    api = Api(stack["state"]["urls"]["airflow"], "admin", stack["password"])
    conf = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{ui_run['run_id']}")["conf"]
    folder, _ = stack_release
    assert conf["data_year"] == YEAR
    assert conf["source"] == str(folder)
    assert conf["force"] is True

    from medidash.warehouse import EmbeddedServer

    url = EmbeddedServer(home / "pg").warehouse().url
    with psycopg.connect(url) as conn:
        for mart in MARTS:
            years = conn.execute(f"select distinct data_year from marts.{mart}").fetchall()
            assert years == [(YEAR,)], mart
