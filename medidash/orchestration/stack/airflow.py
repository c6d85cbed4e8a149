"""The stack's Airflow 3: separate api-server, scheduler, dag-processor and triggerer
processes on LocalExecutor, the metadata in PostgreSQL, the simple auth manager with one
admin whose password is kept in a 0600 file. Its `spark_default` connection points at the
standalone master and `medidash_s3` at SeaweedFS."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from medidash import settings
from medidash.orchestration.stack.postgres import Postgres
from medidash.orchestration.stack.processes import (
    BIN_DIR,
    Launcher,
    StackPaths,
    http_ok,
    secret_file,
    write_private,
)
from medidash.orchestration.stack.seaweedfs import ACCESS_KEY as S3_ACCESS_KEY
from medidash.orchestration.stack.seaweedfs import S3
from medidash.orchestration.stack.spark import SparkCluster

ADMIN_USER = "admin"
API_SERVER = "airflow-api-server"
BACKGROUND = ("scheduler", "dag-processor", "triggerer")


@dataclass(frozen=True)
class Airflow:
    url: str


def environment(
    paths: StackPaths, postgres: Postgres, spark: SparkCluster, s3: S3, api_port: int
) -> dict[str, str]:
    """The environment every Airflow process of the stack shares (the same JWT secret, the
    execution API's address), on top of `medidash run`'s."""
    import pyspark

    from medidash.orchestration.run import airflow_env

    airflow_home = paths.stack / "airflow"
    airflow_home.mkdir(parents=True, exist_ok=True)
    passwords = airflow_home / "passwords.json"
    write_private(passwords, json.dumps({ADMIN_USER: secret_file(paths.password)}))
    env = airflow_env(postgres.warehouse_url, None)
    env.update(
        {
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(airflow_home / "logs"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres.metadata_url.replace(
                "postgresql://", "postgresql+psycopg2://", 1
            ),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__API_AUTH__JWT_SECRET": secret_file(paths.stack / "jwt-secret"),
            "AIRFLOW__API__SECRET_KEY": secret_file(paths.stack / "api-secret-key"),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            # new or changed DAG files show up within seconds, not minutes
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW_CONN_SPARK_DEFAULT": json.dumps(
                {"conn_type": "spark", "host": "spark://127.0.0.1", "port": spark.master_port}
            ),
            "AIRFLOW_CONN_MEDIDASH_S3": json.dumps(
                {
                    "conn_type": "aws",
                    "login": S3_ACCESS_KEY,
                    "password": s3.secret_key,
                    "extra": {"endpoint_url": s3.endpoint, "region_name": "us-east-1"},
                }
            ),
            "MEDIDASH_SPARK_DRIVER_MEMORY": settings.current().given_or(
                "spark_driver_memory", "1g"
            ),
            "SPARK_HOME": str(Path(pyspark.__file__).parent),
        }
    )
    return {**os.environ, **env}


def start(
    launcher: Launcher,
    paths: StackPaths,
    ports: dict[str, int],
    postgres: Postgres,
    spark: SparkCluster,
    s3: S3,
) -> Airflow:
    """Migrate the metadata database, compile the dbt manifest (so the DAG parses without
    `dbt ls`), then start the four processes."""
    from medidash.orchestration.run import parse_dbt

    env = environment(paths, postgres, spark, s3, ports["airflow"])
    airflow = str(BIN_DIR / "airflow")
    migrated = subprocess.run(
        [airflow, "db", "migrate"], env=env, capture_output=True, text=True, cwd="/"
    )
    if migrated.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{migrated.stderr[-3000:]}")
    parse_dbt(postgres.warehouse_url)
    launcher.start(
        API_SERVER,
        [airflow, "api-server", "--host", "127.0.0.1", "--port", str(ports["airflow"])],
        env,
    )
    for name in BACKGROUND:
        launcher.start(f"airflow-{name}", [airflow, name], env)
    return Airflow(f"http://127.0.0.1:{ports['airflow']}")


def wait_ready(launcher: Launcher, airflow: Airflow) -> None:
    """Until the API answers healthy, and none of the other processes has exited."""
    launcher.wait_for(API_SERVER, lambda: http_ok(f"{airflow.url}/api/v2/monitor/health"), "API")
    for name in BACKGROUND:
        launcher.still_running(f"airflow-{name}")
