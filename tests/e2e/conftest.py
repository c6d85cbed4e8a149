"""The local stack (`medidash up`), started once for the e2e tests that use it, and its run of
`medidash_refresh` triggered through the Airflow UI's trigger form as a user does.

test_airflow_ui checks the run as the UI shows it, test_docs_site the docs site that run
deployed, test_stack the cluster, the marts and `medidash down`. The tests using the stack
run one after the other, test_stack last, before every other test of the session (the order
is tests/conftest.py's FIRST), so the stack is up only while they run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from medidash.generator.release import generate
from tests.e2e.local_stack import (
    RUN_TIMEOUT,
    SCALE,
    YEAR,
    AirflowUI,
    medidash,
)


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    home = tmp_path_factory.mktemp("stack-home")
    home.chmod(0o755)
    started = time.perf_counter()
    result = medidash(home, "up")
    seconds = time.perf_counter() - started
    try:
        assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
        state = json.loads((home / "stack.json").read_text())
        password_file = home / "stack" / "airflow-admin-password"
        assert f"login admin, password in {password_file}" in result.stdout
        password = password_file.read_text().strip()
        assert password not in result.stdout + result.stderr
        assert (home / "stack" / "airflow-admin-password").stat().st_mode & 0o077 == 0
        yield {"home": home, "state": state, "password": password, "up_seconds": seconds}
    finally:
        down = medidash(home, "down", timeout=300)
        print(down.stdout, down.stderr)


@pytest.fixture(scope="session")
def stack_release(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("release")
    out.chmod(0o755)
    return out, generate(out, YEAR, SCALE, 5, "current")


@pytest.fixture(scope="session")
def ui_run(stack, stack_release, chromium, artifacts_dir) -> dict:
    """The admin logs in to the stack's Airflow UI, turns the DAG on, fills the trigger form
    (data year, the generated release's folder, force) and waits, reloading the DAG's runs
    table, until it shows the run succeeded or failed."""
    folder, _ = stack_release
    run_id = f"ui_{YEAR}_{int(time.time())}"
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    ui = AirflowUI(page, stack["state"]["urls"]["airflow"])
    try:
        ui.log_in("admin", stack["password"])
        ui.open_dag()
        ui.unpause()
        ui.trigger(run_id, data_year=YEAR, source=str(folder), force=True)
        page.screenshot(path=artifacts_dir / "airflow-triggered.png")
        started = time.perf_counter()
        state = ui.wait_for_run(run_id, RUN_TIMEOUT)
        seconds = time.perf_counter() - started
        page.goto(f"{ui.base}/dags/medidash_refresh/runs/{run_id}")
        page.get_by_text(run_id).first.wait_for()
        page.screenshot(path=artifacts_dir / "airflow-run.png", full_page=True)
        return {"run_id": run_id, "state": state, "seconds": seconds}
    finally:
        context.close()
