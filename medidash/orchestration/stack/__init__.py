"""`medidash up` / `medidash down`: the whole stack on this machine, as real processes.

`up` starts, in order (`_start` reads as that list): the embedded PostgreSQL (the warehouse,
plus an `airflow` database for Airflow's metadata), SeaweedFS as the S3 store, a Spark
standalone master and one worker, Airflow 3 as separate processes (api-server, scheduler,
dag-processor, triggerer; LocalExecutor on PostgreSQL) and the dashboard. It waits until each
answers, then prints the URLs and the Airflow login. The DAG is the same file `medidash run`
and docker-compose use; here its `spark_default` connection points at the standalone master,
so Spark steps run on the cluster. One module per service: `postgres`, `seaweedfs`, `spark`,
`airflow`, `dashboard`; `processes` launches, waits for and stops them.

State lives under MEDIDASH_HOME (default `.medidash`): `stack.json` (PIDs, ports, URLs),
`logs/<process>.log`, `stack/` (Airflow home, SeaweedFS data, Spark work dirs) and
`stack/airflow-admin-password` (0600). `down` stops exactly the process groups `up` started
(SIGTERM, then SIGKILL after a grace period) and the PostgreSQL server if `up` started it.
"""

from __future__ import annotations

import json
import sys

from medidash.orchestration.stack import airflow, dashboard, postgres, seaweedfs, spark
from medidash.orchestration.stack.processes import Launcher, StackPaths, alive, stop_groups
from medidash.ports import free_port

__all__ = ["down", "stop_groups", "up"]


def _ports() -> dict[str, int]:
    """A free port for every listener; the usual ones (8333, 8080, 8050) when free."""
    taken: set[int] = set()
    preferred = {"s3": 8333, "airflow": 8080, "dashboard": 8050}
    names = (
        "spark_master",
        "spark_ui",
        "spark_worker_ui",
        "weed_master",
        "weed_volume",
        "weed_filer",
        "s3",
        "airflow",
        "dashboard",
    )
    return {name: free_port(preferred.get(name), taken) for name in names}


def up() -> int:
    """Start the stack (or report the one already running); the exit code."""
    paths = StackPaths.current()
    if paths.state.exists():
        state = json.loads(paths.state.read_text())
        running = [n for n, pid in state.get("processes", {}).items() if alive(pid)]
        if running:
            print(f"medidash up: already running ({', '.join(running)}); `medidash down` first")
            _print_summary(state, paths)
            return 0
    paths.logs.mkdir(parents=True, exist_ok=True)
    paths.stack.mkdir(parents=True, exist_ok=True)

    launcher = Launcher(paths)
    try:
        _start(launcher, paths)
    except BaseException as error:
        print(f"medidash up failed: {error}", file=sys.stderr)
        down()
        return 1
    _print_summary(launcher.state, paths)
    return 0


def _start(launcher: Launcher, paths: StackPaths) -> None:
    """Each service in dependency order, then wait until every one answers."""
    pg = postgres.start(launcher)
    ports = launcher.state["ports"] = _ports()
    s3 = seaweedfs.start(launcher, paths, ports)
    cluster = spark.start_master(launcher, ports)
    spark.start_worker(launcher, paths, ports, cluster)
    scheduler = airflow.start(launcher, paths, ports, pg, cluster, s3)
    site = dashboard.start(launcher, ports, pg)

    spark.wait_worker(launcher, cluster)
    seaweedfs.wait_ready(launcher, s3)
    airflow.wait_ready(launcher, scheduler)
    dashboard.wait_ready(launcher, site)

    launcher.state.update(
        {
            "urls": {
                "airflow": scheduler.url,
                "dashboard": site.url,
                "spark_master": cluster.master_url,
                "spark_ui": cluster.ui_url,
                "s3": s3.endpoint,
            },
            "airflow_user": airflow.ADMIN_USER,
            "airflow_password_file": str(paths.password),
            "s3_access_key": seaweedfs.ACCESS_KEY,
            "s3_secret_key_file": s3.secret_key_file,
            "warehouse_port": pg.port,
        }
    )
    launcher.save()


def _print_summary(state: dict, paths: StackPaths) -> None:
    urls = state.get("urls", {})
    print("MediDash stack is up:")
    # the password stays in its 0600 file: a terminal's output ends up in logs and CI records
    print(
        f"  Airflow      {urls.get('airflow')}  "
        f"(login {airflow.ADMIN_USER}, password in {paths.password})"
    )
    print(f"  Dashboard    {urls.get('dashboard')}")
    print(f"  Spark        {urls.get('spark_master')}  (UI {urls.get('spark_ui')})")
    print(
        f"  S3           {urls.get('s3')}  (access key {seaweedfs.ACCESS_KEY}, secret in "
        f"{state.get('s3_secret_key_file')})"
    )
    print(f"  PostgreSQL   127.0.0.1:{state.get('postgres_port')}  (`medidash db url`)")
    print(f"  Logs         {paths.logs}   State {paths.state}")
    print("Stop everything with `medidash down`.")


def down() -> int:
    """Stop what `up` started, the services others use last; the exit code."""
    paths = StackPaths.current()
    if not paths.state.exists():
        print("medidash down: nothing is running (no stack.json)")
        return 0
    state = json.loads(paths.state.read_text())
    names = list(state.get("processes", {}))
    stop_groups([state["processes"][n] for n in reversed(names)])
    postgres.stop(state)
    paths.state.unlink()
    print(f"medidash down: stopped {', '.join(reversed(names)) or 'nothing'}")
    return 0
