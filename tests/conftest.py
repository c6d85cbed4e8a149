"""Fixtures shared by every test folder: a real PostgreSQL server and a real local Spark session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("DO_NOT_TRACK", "1")
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", help="also run tests marked slow")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long reliability cases (make test-reliability)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with make test-reliability")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


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
