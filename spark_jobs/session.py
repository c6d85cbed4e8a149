"""The one place a SparkSession is built, so that every job runs the same on local[*] and a cluster."""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

from medidash import settings
from spark_jobs import JVM_OPTIONS, jvm


def build_session(app_name: str, master: str | None = None, **conf: str) -> SparkSession:
    """A session with the settings MediDash's jobs rely on.

    Without `master`, spark-submit's `--master` (or `local[*]`) decides. Timestamps are UTC and
    Parquet output is zstd-compressed, so the lake's bytes do not depend on the machine.
    """
    # Python workers run this interpreter (the one with pyarrow and psycopg) unless the
    # deployment says otherwise (PYSPARK_PYTHON or spark.pyspark.python on a cluster).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(app_name)
    master = master or settings.current().spark_master
    if master:
        builder = builder.master(master)
    elif "SPARK_MASTER" not in os.environ and not _submitted():
        builder = builder.master("local[*]")
    defaults = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.parquet.compression.codec": "zstd",
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        "spark.sql.ansi.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.shuffle.partitions": str(settings.current().spark_shuffle_partitions),
    }
    if not _submitted():
        # this session starts the JVM; under spark-submit, the submitter's JVM options stand
        # (the DAG passes JVM_OPTIONS in its conf) and are not overwritten here
        defaults["spark.driver.extraJavaOptions"] = JVM_OPTIONS
        defaults["spark.executor.extraJavaOptions"] = JVM_OPTIONS
        # MediDash's JVM code; under spark-submit the submitter passes it (`--jars`)
        defaults["spark.jars"] = str(jvm.jar())
    defaults.update(conf)
    for key, value in defaults.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def _submitted() -> bool:
    """True inside spark-submit, which passes the master through spark.master."""
    return "spark.master" in os.environ.get("PYSPARK_SUBMIT_ARGS", "") or bool(
        os.environ.get("SPARK_ENV_LOADED")
    )
