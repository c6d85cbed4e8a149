"""The warehouse is one connection (issue 19 item 2): what `medidash run` is given becomes the
`medidash_warehouse` Airflow connection, and the Spark steps and dbt read it from there through
the postgres provider's hook and cosmos' profile mapping, with its extras (sslmode,
application_name) intact. A URL taken apart and rebuilt by hand lost them."""

from __future__ import annotations

from urllib.parse import quote

import psycopg
import pytest

APP = "medidash connection test"


@pytest.fixture
def warehouse_connection(warehouse, monkeypatch, tmp_path):
    """The Airflow connection `medidash run` makes of the warehouse URL with two extras."""
    from medidash.orchestration.run import airflow_env

    monkeypatch.setenv("MEDIDASH_HOME", str(tmp_path))
    url = f"{warehouse.url}?sslmode=disable&application_name={quote(APP)}"
    env = airflow_env(url, None)
    monkeypatch.setenv("AIRFLOW_CONN_MEDIDASH_WAREHOUSE", env["AIRFLOW_CONN_MEDIDASH_WAREHOUSE"])
    return url


def test_the_spark_steps_connect_with_the_connections_extras(warehouse_connection):
    from medidash.orchestration.constants import WAREHOUSE_CONN_ID
    from medidash.orchestration.spark_submit import MedidashSparkSubmitOperator
    from spark_jobs.jobs import DATABASE_URL_ENV

    operator = MedidashSparkSubmitOperator(
        task_id="spark_aggregate_load", application="x.py", warehouse_conn_id=WAREHOUSE_CONN_ID
    )
    handed = operator._get_hook()._env_vars[DATABASE_URL_ENV]
    # step 3 connects with what it is handed, as here
    with psycopg.connect(handed) as conn:
        assert conn.execute("show application_name").fetchone()[0] == APP
        assert conn.info.get_parameters().get("sslmode") == "disable"


def test_dbt_gets_the_connections_sslmode(warehouse_connection):
    from cosmos.profiles import PostgresUserPasswordProfileMapping

    from medidash.orchestration.constants import WAREHOUSE_CONN_ID

    mapping = PostgresUserPasswordProfileMapping(
        conn_id=WAREHOUSE_CONN_ID, profile_args={"schema": "dbt_default"}
    )
    assert mapping.profile["sslmode"] == "disable"
