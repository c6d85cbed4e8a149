"""Fixtures shared by every test folder: a real PostgreSQL server and a real local Spark session."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="also run tests marked slow")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long reliability cases (make test-reliability)")


def pytest_runtest_setup(item):
    """CI's time budget: past MEDIDASH_TEST_DEADLINE (seconds since the epoch, set by .ci/run so
    the whole run ends inside CI's 90 minutes), the remaining tests are skipped, each with that
    reason printed in the summary (never passed, never hidden)."""
    deadline = os.environ.get("MEDIDASH_TEST_DEADLINE")
    if deadline and time.time() > float(deadline):
        pytest.skip("CI time budget spent (MEDIDASH_TEST_DEADLINE): not run")


# Disk: a fixture's folders under pytest's base folder (tmp_path_factory.mktemp) are removed
# as soon as the fixture is torn down, if no test failed meanwhile; the folders of a failure are
# kept for its diagnosis. Without this the whole suite's releases, lakes and databases stay on
# disk until the session ends (and pytest keeps the last three sessions'): CI's `make test`
# and then its slow tier filled a machine's disk. Tests' own tmp_path folders follow
# `tmp_path_retention_policy = "failed"` (pyproject.toml).
_failures = 0
_made: dict[int, tuple[int, list[Path]]] = {}  # id(fixturedef) → (failures at setup, folders)
_setting_up: list[list[Path]] = []


def _folders(request) -> set[Path]:
    base = request.config._tmp_path_factory.getbasetemp()
    return {path for path in base.iterdir() if not path.is_symlink()}


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef, request):
    before = _folders(request)
    _setting_up.append([])
    try:
        return (yield)
    finally:
        nested = _setting_up.pop()
        made = sorted(_folders(request) - before - set(nested))
        if _setting_up:
            _setting_up[-1].extend(made)
        if made:
            _made[id(fixturedef)] = (_failures, made)


def pytest_fixture_post_finalizer(fixturedef, request):
    failures, made = _made.pop(id(fixturedef), (None, []))
    if failures == _failures:
        for folder in made:
            shutil.rmtree(folder, ignore_errors=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    global _failures
    report = yield
    if report.failed:
        _failures += 1
    return report


# The order the modules run in, so that CI's time budget (MEDIDASH_TEST_DEADLINE) skips the
# longest case rather than the ones users meet first: the local stack's tests together (the
# stack is up only while they run, tests/e2e/conftest.py), test_stack last of them; then the
# secrets, optional datasets and refresh consistency cases; the rest as collected; and the two
# years at once (four whole-DAG runs, ~18 minutes) last.
FIRST = (
    "test_airflow_ui.py",
    "test_docs_site.py",
    "test_stack.py",
    "test_secrets.py",
    "test_optional_datasets.py",
    "test_refresh_consistency.py",
)
LAST = ("test_concurrent_years.py",)


def _rank(item) -> int:
    name = item.path.name
    if name in FIRST:
        return FIRST.index(name)
    return len(FIRST) + (name in LAST)


def pytest_collection_modifyitems(config, items):
    items.sort(key=_rank)  # stable: each module's tests stay together, in their order
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with make test-reliability")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def chromium():
    """The session's one headless Chromium (Debian's, through Playwright's sync API). One
    for all: Playwright's sync API cannot start while another of its instances is running
    in the same thread, so a second `sync_playwright()` anywhere in the session would fail."""
    sync = pytest.importorskip("playwright.sync_api")
    with sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def warehouse(tmp_path_factory):
    """A real PostgreSQL server for the whole session, with MediDash's schemas and roles.

    Yields a `medidash.warehouse.Warehouse` (`.url` for the owner role, `.dashboard_url` for the
    read-only role). Its data lives in a throw-away MEDIDASH_HOME.
    """
    from medidash.warehouse import EmbeddedServer

    home = Path(os.environ.get("MEDIDASH_TEST_PG_HOME") or tmp_path_factory.mktemp("pg"))
    server = EmbeddedServer(home / "pg")
    wh = server.start()
    try:
        yield wh
    finally:
        server.stop()


@pytest.fixture(scope="session")
def spark():
    from spark_jobs.session import build_session

    session = build_session(
        "medidash-tests",
        master="local[2]",
        **{"spark.sql.shuffle.partitions": "4", "spark.ui.enabled": "false"},
    )
    yield session
    session.stop()


@pytest.fixture(scope="session")
def marts_db(tmp_path_factory):
    """Its own PostgreSQL with the small known marts of tests/marts_fixture.py (read-only use)."""
    from medidash.warehouse import EmbeddedServer
    from tests import marts_fixture

    server = EmbeddedServer(tmp_path_factory.mktemp("marts") / "pg")
    wh = server.start()
    try:
        marts_fixture.build(wh.url)
        yield wh
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dashboard_server(marts_db, tmp_path_factory):
    """`medidash serve` (gunicorn) on a free port over marts_db, as the read-only role."""
    import subprocess
    import sys
    import time
    import urllib.request

    from medidash.ports import free_port

    port = free_port()
    log = open(tmp_path_factory.mktemp("serve") / "serve.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "medidash.cli",
            "serve",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={
            **os.environ,
            "MEDIDASH_DASHBOARD_DATABASE_URL": marts_db.dashboard_url,
            "MEDIDASH_DASHBOARD_WORKERS": "1",
            "MEDIDASH_API_RATE_LIMIT": "50/100",
        },
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(open(log.name).read()) from None
            time.sleep(0.3)
    else:
        raise RuntimeError("dashboard did not start")
    yield base
    import signal

    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)
