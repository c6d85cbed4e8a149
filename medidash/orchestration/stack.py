"""`medidash up` / `medidash down`: the whole stack on this machine, as real processes.

`up` starts, in order: the embedded PostgreSQL (the warehouse, plus an `airflow` database for
Airflow's metadata), SeaweedFS as the S3 store, a Spark standalone master and one worker,
Airflow 3 as separate processes (api-server, scheduler, dag-processor, triggerer; LocalExecutor
on PostgreSQL) and the dashboard. It waits until each answers, then prints the URLs and the
Airflow login. The DAG is the same file `medidash run` and docker-compose use; here its
`spark_default` connection points at the standalone master, so Spark steps run on the cluster.

State lives under MEDIDASH_HOME (default `.medidash`): `stack.json` (PIDs, ports, URLs),
`logs/<process>.log`, `stack/` (Airflow home, SeaweedFS data, Spark work dirs) and
`stack/airflow-admin-password` (0600). `down` stops exactly the process groups `up` started
(SIGTERM, then SIGKILL after a grace period) and the PostgreSQL server if `up` started it.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from medidash import settings
from medidash.ports import free_port

ADMIN_USER = "admin"
S3_ACCESS_KEY = "medidash"
S3_BUCKETS = ("medidash-releases", "medidash-lake")
STOP_GRACE_SECONDS = 20


def _paths() -> dict[str, Path]:
    home = settings.home()
    return {
        "home": home,
        "state": home / "stack.json",
        "logs": home / "logs",
        "stack": home / "stack",
        "password": home / "stack" / "airflow-admin-password",
    }


def _secret_file(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(18)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _http_ok(url: str, timeout: float = 3.0, any_status: bool = False) -> bool:
    """The URL answers 2xx (or, with `any_status`, answers at all)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 300
    except urllib.error.HTTPError:
        return any_status
    except OSError:
        return False


class _Launcher:
    """Starts processes in their own process groups, logging under .medidash/logs."""

    def __init__(self, logs: Path, state: dict, save):
        self.logs = logs
        self.state = state
        self.save = save
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, name: str, argv: list[str], env: dict[str, str], cwd: Path | None = None):
        self.logs.mkdir(parents=True, exist_ok=True)
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it open
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=str(cwd or settings.PROJECT_ROOT),
            start_new_session=True,
        )
        log.close()
        self.processes[name] = process
        self.state["processes"][name] = process.pid
        self.save()
        return process

    def wait_for(self, name: str, check, what: str, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        process = self.processes[name]
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail}")
            if check():
                return
            time.sleep(0.5)
        raise RuntimeError(f"{name}: {what} not ready after {timeout:.0f} s")


def _spark_alive_workers(ui_url: str) -> int:
    try:
        with urllib.request.urlopen(f"{ui_url}/json/", timeout=3) as response:
            status = json.load(response)
    except (OSError, ValueError):
        return 0
    return sum(1 for w in status.get("workers", []) if w.get("state") == "ALIVE")


def _s3_ready(endpoint: str, secret_key: str) -> bool:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_ACCESS_KEY,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
    )
    try:
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        for bucket in S3_BUCKETS:
            if bucket not in existing:
                client.create_bucket(Bucket=bucket)
    except Exception:  # noqa: BLE001 - not up yet
        return False
    return True


def _airflow_env(
    database_url: str, metadata_url: str, spark_port: int, api_port: int, s3: dict, paths: dict
) -> dict[str, str]:
    import pyspark

    from medidash.orchestration.run import airflow_env

    airflow_home = paths["stack"] / "airflow"
    airflow_home.mkdir(parents=True, exist_ok=True)
    passwords = airflow_home / "passwords.json"
    password = _secret_file(paths["password"])
    fd = os.open(passwords, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({ADMIN_USER: password}, handle)
    env = airflow_env(database_url, None)
    env.update(
        {
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(airflow_home / "logs"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url.replace(
                "postgresql://", "postgresql+psycopg2://", 1
            ),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__API_AUTH__JWT_SECRET": _secret_file(paths["stack"] / "jwt-secret"),
            "AIRFLOW__API__SECRET_KEY": _secret_file(paths["stack"] / "api-secret-key"),
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
                {"conn_type": "spark", "host": "spark://127.0.0.1", "port": spark_port}
            ),
            "AIRFLOW_CONN_MEDIDASH_S3": json.dumps(
                {
                    "conn_type": "aws",
                    "login": S3_ACCESS_KEY,
                    "password": s3["secret_key"],
                    "extra": {"endpoint_url": s3["endpoint"], "region_name": "us-east-1"},
                }
            ),
            "MEDIDASH_SPARK_DRIVER_MEMORY": settings.current().given_or(
                "spark_driver_memory", "1g"
            ),
            "SPARK_HOME": str(Path(pyspark.__file__).parent),
        }
    )
    return env


def _save_state(paths: dict, state: dict) -> None:
    paths["state"].parent.mkdir(parents=True, exist_ok=True)
    tmp = paths["state"].with_suffix(".json.part")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(paths["state"])


def up(args) -> int:
    from medidash.orchestration.run import parse_dbt
    from medidash.warehouse import EmbeddedServer

    paths = _paths()
    if paths["state"].exists():
        state = json.loads(paths["state"].read_text())
        running = [n for n, pid in state.get("processes", {}).items() if _alive(pid)]
        if running:
            print(f"medidash up: already running ({', '.join(running)}); `medidash down` first")
            _print_summary(state, paths)
            return 0
    for key in ("logs", "stack"):
        paths[key].mkdir(parents=True, exist_ok=True)

    server = EmbeddedServer()
    state: dict = {"processes": {}, "postgres_started": not server.running()}
    save = lambda: _save_state(paths, state)  # noqa: E731
    launcher = _Launcher(paths["logs"], state, save)
    try:
        _start(server, launcher, state, paths, parse_dbt)
    except BaseException as error:
        print(f"medidash up failed: {error}", file=sys.stderr)
        down(args)
        return 1
    _print_summary(state, paths)
    return 0


def _start(server, launcher: _Launcher, state: dict, paths: dict, parse_dbt) -> None:
    bin_dir = Path(sys.executable).parent
    wh = server.start()
    state["postgres_port"] = wh.port
    metadata_url = server.ensure_database("airflow")
    launcher.save()

    taken: set[int] = set()
    ports = {
        "spark_master": free_port(None, taken),
        "spark_ui": free_port(None, taken),
        "spark_worker_ui": free_port(None, taken),
        "weed_master": free_port(None, taken),
        "weed_volume": free_port(None, taken),
        "weed_filer": free_port(None, taken),
        "s3": free_port(8333, taken),
        "airflow": free_port(8080, taken),
        "dashboard": free_port(8050, taken),
    }
    state["ports"] = ports
    base_env = dict(os.environ)
    import pyspark

    java_env = {
        # spark-class would otherwise look for pyspark with whatever `python3` is on PATH
        "SPARK_HOME": str(Path(pyspark.__file__).parent),
        "PATH": f"{bin_dir}{os.pathsep}{base_env.get('PATH', '')}",
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
        "SPARK_NO_DAEMONIZE": "1",
    }

    # S3 (SeaweedFS): an identity with a generated key
    s3_secret = _secret_file(paths["stack"] / "s3-secret-key")
    s3_config = paths["stack"] / "s3.json"
    s3_config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "medidash",
                        "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": s3_secret}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    s3_config.chmod(0o600)
    weed_dir = paths["stack"] / "seaweedfs"
    weed_dir.mkdir(exist_ok=True)
    launcher.start(
        "seaweedfs",
        [
            str(bin_dir / "weed"),
            "server",
            "-s3",
            f"-dir={weed_dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={ports['weed_master']}",
            f"-volume.port={ports['weed_volume']}",
            f"-filer.port={ports['weed_filer']}",
            f"-s3.port={ports['s3']}",
            f"-s3.config={s3_config}",
            "-master.volumeSizeLimitMB=256",
            "-volume.max=100",
        ],
        {**base_env, "HOME": str(weed_dir)},
    )

    # Spark standalone: one master, one worker with every core
    spark_env = {**base_env, **java_env}
    launcher.start(
        "spark-master",
        [
            str(bin_dir / "spark-class"),
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(ports["spark_master"]),
            "--webui-port",
            str(ports["spark_ui"]),
        ],
        spark_env,
    )
    master_url = f"spark://127.0.0.1:{ports['spark_master']}"
    spark_ui = f"http://127.0.0.1:{ports['spark_ui']}"
    launcher.wait_for("spark-master", lambda: _http_ok(f"{spark_ui}/json/"), "web UI")
    work_dir = paths["stack"] / "spark-work"
    work_dir.mkdir(exist_ok=True)
    launcher.start(
        "spark-worker",
        [
            str(bin_dir / "spark-class"),
            "org.apache.spark.deploy.worker.Worker",
            "--cores",
            str(os.cpu_count() or 2),
            "--memory",
            settings.current().spark_worker_memory,
            "--webui-port",
            str(ports["spark_worker_ui"]),
            "--work-dir",
            str(work_dir),
            master_url,
        ],
        spark_env,
    )

    # Airflow: migrate the metadata database, compile the dbt manifest, start the processes
    s3 = {"endpoint": f"http://127.0.0.1:{ports['s3']}", "secret_key": s3_secret}
    airflow_env = _airflow_env(
        wh.url, metadata_url, ports["spark_master"], ports["airflow"], s3, paths
    )
    env = {**base_env, **airflow_env}
    airflow = str(bin_dir / "airflow")
    migrated = subprocess.run(
        [airflow, "db", "migrate"], env=env, capture_output=True, text=True, cwd="/"
    )
    if migrated.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{migrated.stderr[-3000:]}")
    parse_dbt(wh.url)
    launcher.start(
        "airflow-api-server",
        [airflow, "api-server", "--host", "127.0.0.1", "--port", str(ports["airflow"])],
        env,
    )
    for name in ("scheduler", "dag-processor", "triggerer"):
        launcher.start(f"airflow-{name}", [airflow, name], env)
    launcher.start(
        "dashboard",
        [
            sys.executable,
            "-m",
            "medidash.cli",
            "serve",
            "--database-url",
            wh.dashboard_url,
            "--port",
            str(ports["dashboard"]),
        ],
        {
            **base_env,
            "MEDIDASH_DASHBOARD_WORKERS": str(settings.current().given_or("dashboard_workers", 1)),
        },
    )

    airflow_url = f"http://127.0.0.1:{ports['airflow']}"
    dashboard_url = f"http://127.0.0.1:{ports['dashboard']}"
    launcher.wait_for(
        "spark-worker", lambda: _spark_alive_workers(spark_ui) >= 1, "registration with master"
    )
    launcher.wait_for("seaweedfs", lambda: _s3_ready(s3["endpoint"], s3_secret), "S3 buckets")
    launcher.wait_for(
        "airflow-api-server", lambda: _http_ok(f"{airflow_url}/api/v2/monitor/health"), "API"
    )
    # /healthz answers 503 until the first run has built the marts: serving is what counts here
    launcher.wait_for(
        "dashboard", lambda: _http_ok(f"{dashboard_url}/healthz", any_status=True), "HTTP"
    )
    for name in ("scheduler", "dag-processor", "triggerer"):
        process = launcher.processes[f"airflow-{name}"]
        if process.poll() is not None:
            raise RuntimeError(f"airflow {name} exited; see {paths['logs']}/airflow-{name}.log")
    state["urls"] = {
        "airflow": airflow_url,
        "dashboard": dashboard_url,
        "spark_master": master_url,
        "spark_ui": spark_ui,
        "s3": s3["endpoint"],
    }
    state["airflow_user"] = ADMIN_USER
    state["airflow_password_file"] = str(paths["password"])
    state["s3_access_key"] = S3_ACCESS_KEY
    state["s3_secret_key_file"] = str(paths["stack"] / "s3-secret-key")
    state["warehouse_port"] = wh.port
    launcher.save()


def _print_summary(state: dict, paths: dict) -> None:
    urls = state.get("urls", {})
    print("MediDash stack is up:")
    # the password stays in its 0600 file: a terminal's output ends up in logs and CI records
    print(
        f"  Airflow      {urls.get('airflow')}  (login {ADMIN_USER}, password in {paths['password']})"
    )
    print(f"  Dashboard    {urls.get('dashboard')}")
    print(f"  Spark        {urls.get('spark_master')}  (UI {urls.get('spark_ui')})")
    print(
        f"  S3           {urls.get('s3')}  (access key {S3_ACCESS_KEY}, secret in "
        f"{state.get('s3_secret_key_file')})"
    )
    print(f"  PostgreSQL   127.0.0.1:{state.get('postgres_port')}  (`medidash db url`)")
    print(f"  Logs         {paths['logs']}   State {paths['state']}")
    print("Stop everything with `medidash down`.")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_groups(pids: list[int], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM each process group (and any descendant that left it), then SIGKILL survivors."""
    import psutil

    tracked: list[psutil.Process] = []
    for pid in pids:
        try:
            parent = psutil.Process(pid)
            tracked += [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for process in tracked:
        try:
            process.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(tracked, timeout=grace)
    deadline = time.monotonic() + 5
    while any(_group_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in pids:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for process in alive:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5)


def down(args) -> int:
    from medidash.warehouse import EmbeddedServer

    paths = _paths()
    if not paths["state"].exists():
        print("medidash down: nothing is running (no stack.json)")
        return 0
    state = json.loads(paths["state"].read_text())
    names = list(state.get("processes", {}))
    # the dashboard and Airflow first, the services they use last
    pids = [state["processes"][n] for n in reversed(names)]
    stop_groups(pids)
    if state.get("postgres_started"):
        EmbeddedServer().stop()
    paths["state"].unlink()
    print(f"medidash down: stopped {', '.join(reversed(names)) or 'nothing'}")
    return 0
