"""Names the DAG, the runners and the deployment share: connection ids, assets, paths.

Importing this module imports no pyspark (the DAG imports it at parse time): the event
writer's jar is named only when spark_jars() is called. The names every layer shares (the
marts, schemas, run ids) are in the leaf module `medidash.contract`.
"""

from __future__ import annotations

from medidash import settings
from medidash.contract import MARTS  # noqa: F401 - re-exported for the DAG and the runners
from spark_jobs import JVM_OPTIONS

DAG_ID = "medidash_refresh"
SPARK_CONN_ID = "spark_default"
WAREHOUSE_CONN_ID = "medidash_warehouse"
S3_CONN_ID = "medidash_s3"


# postgres://host:port/database/schema/table, the form the postgres provider validates
ASSET_URI_PREFIX = "postgres://medidash-warehouse:5432/medidash/marts/"

SPARK_STEPS = {
    "spark_ingest": settings.SPARK_JOBS_DIR / "step1_ingest.py",
    "spark_explode": settings.SPARK_JOBS_DIR / "step2_explode.py",
    "spark_aggregate_load": settings.SPARK_JOBS_DIR / "step3_aggregate_load.py",
}


def retry_delay_seconds() -> int:
    return settings.current().retry_delay_seconds


def spark_jars() -> str:
    """The jar of MediDash's JVM code for spark-submit's --jars (built by `package_code`)."""
    from spark_jobs import jvm

    return str(jvm.jar_path())


def spark_conf() -> dict[str, str]:
    """Driver settings for spark-submit; sized for one machine unless the environment says."""
    current = settings.current()
    return {
        "spark.driver.memory": current.spark_driver_memory,
        "spark.sql.shuffle.partitions": str(current.spark_shuffle_partitions),
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.extraJavaOptions": JVM_OPTIONS,
        "spark.executor.extraJavaOptions": JVM_OPTIONS,
    }
