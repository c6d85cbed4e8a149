"""Every image's Python environment, built without a Docker engine: a clean virtualenv from
exactly the image's docker/<image>/requirements.txt plus the package copy its Dockerfile
makes, then the image's own command (issue 17 item 2).

uv builds each virtualenv from its cache (filled by `make install`, read offline), in seconds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from medidash.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).parent / "uv"
# the checkout the images are built from (another tree, e.g. an old commit, to check a fix)
SOURCE = Path(os.environ.get("MEDIDASH_IMAGE_SOURCE") or ROOT)


def build_env(tmp: Path, image: str, copies: list[str], editable: bool = False) -> Path:
    """The image's virtualenv at tmp/venv and its package copy at tmp/opt (the WORKDIR)."""
    venv = tmp / "venv"
    env = {**os.environ, "VIRTUAL_ENV": str(venv)}
    subprocess.run(
        [str(UV), "venv", "-q", "--python", sys.executable, str(venv)], check=True, env=env
    )
    requirements = ROOT / "docker" / image / "requirements.txt"
    install = [str(UV), "pip", "install", "-q", "-r", str(requirements)]
    # the pins are requirements.lock's, so `make install` has cached them: offline, uv takes
    # them from its cache as they are; online it revalidates pyspark's sdist and builds it
    # again each time (1.4 GB more cache per image, which filled CI's disk). What the cache
    # lacks comes from the registry.
    if subprocess.run([*install, "--offline"], env=env, capture_output=True).returncode != 0:
        subprocess.run(install, check=True, env=env)
    if copies:
        opt = tmp / "opt"
        opt.mkdir()
        for name in copies:
            source = SOURCE / name
            if source.is_dir():
                shutil.copytree(source, opt / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, opt / name)
        install = [str(UV), "pip", "install", "-q", "--no-deps"]
        install += ["--editable", str(opt)] if editable else [str(opt)]
        subprocess.run(install, check=True, env=env, cwd=opt)
    return venv


def clean_env(venv: Path, home: Path, **extra: str) -> dict[str, str]:
    """An environment with nothing of the checkout's: the image's PATH and a throw-away home."""
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "DO_NOT_TRACK": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    if os.environ.get("JAVA_HOME"):
        env["JAVA_HOME"] = os.environ["JAVA_HOME"]
    return {**env, **extra}


def test_dashboard_image_serves_healthz(tmp_path, marts_db):
    # docker/dashboard/Dockerfile: COPY pyproject.toml README.md medidash spark_jobs; pip
    # install --no-deps .; CMD python -m medidash.cli serve --host 0.0.0.0 --port 8050
    venv = build_env(
        tmp_path, "dashboard", ["pyproject.toml", "README.md", "medidash", "spark_jobs"]
    )
    port = free_port()
    env = clean_env(
        venv,
        tmp_path,
        MEDIDASH_DASHBOARD_DATABASE_URL=marts_db.dashboard_url,
        MEDIDASH_DASHBOARD_WORKERS="1",
        MEDIDASH_HOME=str(tmp_path / "home"),
    )
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(venv / "bin/python"), "-m", "medidash.cli", "serve", "--host", "127.0.0.1"]
            + ["--port", str(port)],
            cwd=tmp_path / "opt",
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert proc.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.3)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/years", timeout=5) as r:
            assert r.read() == b"[2023,2022]\n"
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


AIRFLOW_COPIES = [
    "pyproject.toml",
    "README.md",
    "airflow.cfg",
    "medidash",
    "spark_jobs",
    "dags",
    "dbt_project",
]
DAG_IMPORT = """
import sys
from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1])
assert not bag.import_errors, bag.import_errors
assert "medidash_refresh" in bag.dags, sorted(bag.dags)
heavy = sorted(m for m in ("pyspark", "dash") if m in sys.modules)
assert not heavy, f"parsing the DAG imported {heavy}"
print("ok", len(bag.dags["medidash_refresh"].tasks))
"""
# every component's --help in one process (each `airflow` start costs ~15 s on a busy machine)
COMPONENTS_HELP = """
import contextlib, io
from airflow.cli import cli_parser

for component in ("scheduler", "api-server", "dag-processor", "triggerer"):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        cli_parser.get_parser().parse_args([component, "--help"])
    assert "usage:" in out.getvalue().lower(), (component, out.getvalue())
print("ok")
"""


@pytest.mark.slow
def test_airflow_image_components_and_dag_import(tmp_path):
    # docker/airflow/Dockerfile: pip install -r requirements.txt; COPY the project; pip install
    # --no-deps --editable .; python -m spark_jobs.jvm; dbt parse; the image's ENV
    venv = build_env(tmp_path, "airflow", AIRFLOW_COPIES, editable=True)
    opt = tmp_path / "opt"
    env = clean_env(
        venv,
        tmp_path,
        MEDIDASH_HOME=str(tmp_path / "medidash"),
        MEDIDASH_JVM_CACHE=str(tmp_path / "jvm"),
        AIRFLOW_HOME=str(tmp_path / "airflow"),
        AIRFLOW_CONFIG=str(opt / "airflow.cfg"),
        AIRFLOW__CORE__DAGS_FOLDER=str(opt / "dags"),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{tmp_path}/airflow.db",
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        PYSPARK_PYTHON=str(venv / "bin/python"),
    )

    def run(*command, timeout=240):
        result = subprocess.run(
            command, cwd=opt, env=env, capture_output=True, text=True, timeout=timeout
        )
        assert result.returncode == 0, (command, result.stdout[-2000:], result.stderr[-3000:])
        return result.stdout

    # the Dockerfile's build steps (the event writer's jar, the dbt manifest), side by side
    jar = subprocess.Popen(
        [str(venv / "bin/python"), "-m", "spark_jobs.jvm"],
        cwd=opt,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    dbt = [str(venv / "bin/dbt"), "parse", "--project-dir", "dbt_project"]
    run(*dbt, "--profiles-dir", "dbt_project", "--quiet")
    assert jar.wait(timeout=240) == 0, jar.stdout.read()[-3000:]
    python = str(venv / "bin/python")
    assert run(python, "-c", COMPONENTS_HELP).splitlines()[-1] == "ok"
    # Airflow logs the parse on stdout: the check's own line is the last
    assert run(python, "-c", DAG_IMPORT, str(opt / "dags")).splitlines()[-1].startswith("ok")


@pytest.mark.slow
def test_spark_image_runs_the_ingest_job(tmp_path):
    # docker/spark/Dockerfile: pip install -r requirements.txt, no package copy; the driver ships
    # the jobs' code as --py-files and the event writer as --jars (package_code does both)
    venv = build_env(tmp_path, "spark", [])
    release = tmp_path / "release"
    subprocess.run(
        [sys.executable, "-m", "medidash.cli", "generate", "--out", str(release)]
        + ["--year", "2023", "--scale", "0.0005"],
        check=True,
        capture_output=True,
    )
    code = tmp_path / "code.zip"
    with zipfile.ZipFile(code, "w") as archive:
        for package in ("medidash", "spark_jobs"):
            for path in (SOURCE / package).rglob("*.py"):
                archive.write(path, path.relative_to(SOURCE).as_posix())
    from spark_jobs import jvm

    python = str(venv / "bin/python")
    env = clean_env(venv, tmp_path, PYSPARK_PYTHON=python, PYSPARK_DRIVER_PYTHON=python)
    env["SPARK_HOME"] = subprocess.run(
        [python, "-c", "import pyspark, os; print(os.path.dirname(pyspark.__file__))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    lake = tmp_path / "lake"
    result = subprocess.run(
        [str(venv / "bin/spark-submit"), "--master", "local[1]", "--py-files", str(code)]
        + ["--jars", str(jvm.jar()), "--conf", "spark.ui.enabled=false"]
        + [str(SOURCE / "spark_jobs/step1_ingest.py"), "--year", "2023", "--lake", str(lake)]
        + ["--run-id", "image_test", "--input", str(release)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert any(lake.rglob("*.parquet")), sorted(str(p) for p in lake.rglob("*"))[:20]
