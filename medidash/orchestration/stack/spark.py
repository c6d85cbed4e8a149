"""The stack's Spark: a standalone master and one worker with every core (`spark-class`, as
the pyspark wheel has no start-master.sh)."""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from medidash import settings
from medidash.orchestration.stack.processes import BIN_DIR, Launcher, StackPaths, http_ok

MASTER = "spark-master"
WORKER = "spark-worker"


@dataclass(frozen=True)
class SparkCluster:
    master_url: str
    master_port: int
    ui_url: str


def _env() -> dict[str, str]:
    import pyspark

    return {
        **os.environ,
        # spark-class would otherwise look for pyspark with whatever `python3` is on PATH
        "SPARK_HOME": str(Path(pyspark.__file__).parent),
        "PATH": f"{BIN_DIR}{os.pathsep}{os.environ.get('PATH', '')}",
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_NO_DAEMONIZE": "1",
    }


def start_master(launcher: Launcher, ports: dict[str, int]) -> SparkCluster:
    """Start the master and wait for its web UI (the worker registers through it)."""
    launcher.start(
        MASTER,
        [
            str(BIN_DIR / "spark-class"),
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(ports["spark_master"]),
            "--webui-port",
            str(ports["spark_ui"]),
        ],
        _env(),
    )
    cluster = SparkCluster(
        master_url=f"spark://127.0.0.1:{ports['spark_master']}",
        master_port=ports["spark_master"],
        ui_url=f"http://127.0.0.1:{ports['spark_ui']}",
    )
    launcher.wait_for(MASTER, lambda: http_ok(f"{cluster.ui_url}/json/"), "web UI")
    return cluster


def start_worker(
    launcher: Launcher, paths: StackPaths, ports: dict[str, int], cluster: SparkCluster
) -> None:
    work_dir = paths.stack / "spark-work"
    work_dir.mkdir(exist_ok=True)
    launcher.start(
        WORKER,
        [
            str(BIN_DIR / "spark-class"),
            "org.apache.spark.deploy.worker.Worker",
            "--cores",
            str(os.cpu_count() or 2),
            "--memory",
            settings.current().spark_worker_memory,
            "--webui-port",
            str(ports["spark_worker_ui"]),
            "--work-dir",
            str(work_dir),
            cluster.master_url,
        ],
        _env(),
    )


def wait_worker(launcher: Launcher, cluster: SparkCluster) -> None:
    """Until the worker has registered with the master."""
    launcher.wait_for(
        WORKER, lambda: _alive_workers(cluster.ui_url) >= 1, "registration with master"
    )


def _alive_workers(ui_url: str) -> int:
    try:
        with urllib.request.urlopen(f"{ui_url}/json/", timeout=3) as response:
            status = json.load(response)
    except (OSError, ValueError):
        return 0
    return sum(1 for w in status.get("workers", []) if w.get("state") == "ALIVE")
