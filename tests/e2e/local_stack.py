"""Driving the local stack (`medidash up`) from the e2e tests: the CLI, Airflow's REST API, and
Airflow's web UI in a headless Chromium (Debian's, through Playwright) as a user clicks it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

from medidash.orchestration.constants import DAG_ID

YEAR = 2023  # the stack's run: a tiny generated release of this year
SCALE = 0.0005
RUN_TIMEOUT = 1500
RUN_STATES = ("queued", "running", "success", "failed")


def medidash(home: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "MEDIDASH_HOME": str(home),
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "MEDIDASH_SPARK_DRIVER_MEMORY": "1g",
        "MEDIDASH_SPARK_WORKER_MEMORY": "2g",
    }
    return subprocess.run(
        [sys.executable, "-m", "medidash.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class Api:
    """Airflow's REST API with a bearer token from the simple auth manager."""

    def __init__(self, base: str, user: str, password: str):
        self.base = base
        self.token = self.call("POST", "/auth/token", {"username": user, "password": password})[
            "access_token"
        ]

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        headers = {"Content-Type": "application/json"}
        if getattr(self, "token", None):
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(
            self.base + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers=headers,
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)


def stack_processes(home: Path) -> list[psutil.Process]:
    """Every process whose command line or working directory is inside this MEDIDASH_HOME, or
    that carries it in its environment."""
    found = []
    marker = str(home)
    for process in psutil.process_iter(["cmdline", "environ"]):
        try:
            cmdline = " ".join(process.info["cmdline"] or [])
            environ = process.info["environ"] or {}
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if process.pid == os.getpid():
            continue
        if marker in cmdline or environ.get("MEDIDASH_HOME") == marker:
            found.append(process)
    return found


class AirflowUI:
    """Airflow 3's React UI, driven by what a user sees: labels, buttons, the runs table."""

    def __init__(self, page, base: str):
        self.page, self.base = page, base

    def log_in(self, user: str, password: str) -> None:
        self.page.goto(self.base + "/")
        self.page.get_by_label("Username").fill(user)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url(self.base + "/", timeout=30000)

    def open_dag(self, timeout: float = 180) -> None:
        """The DAG's page, once the dag-processor has parsed the file (reloading until then)."""
        deadline = time.monotonic() + timeout
        while True:
            self.page.goto(f"{self.base}/dags/{DAG_ID}")
            try:
                self.page.get_by_role("button", name="Trigger Dag").wait_for(timeout=10000)
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(3)

    def unpause(self) -> None:
        """The DAG page's pause switch (on = active), as a user turns it on."""
        switch = self.page.locator("input[type=checkbox][id^='switch:']").first
        if not switch.is_checked():
            switch.locator("xpath=..").click()
            self.page.wait_for_function(
                "() => document.querySelector(\"input[type=checkbox][id^='switch:']\").checked"
            )

    def trigger(self, run_id: str, *, data_year: int, source: str, force: bool) -> None:
        """The trigger form: the run parameters, and the run id under Advanced Options (so the
        test finds its run in the list)."""
        page = self.page
        page.get_by_role("button", name="Trigger Dag").click()
        form = page.get_by_role("dialog").filter(has_text=f"Trigger Dag - {DAG_ID}")
        form.locator("input[name=element_data_year]").fill(str(data_year))
        form.locator("input[name=element_source]").fill(source)
        force_box = form.locator("input[name=element_force]")
        if force_box.is_checked() != force:
            force_box.locator("xpath=..").click()
        assert force_box.is_checked() == force
        form.get_by_role("button", name="Advanced Options").click()
        form.locator("input[name=dagRunId]").fill(run_id)
        form.get_by_role("button", name="Trigger", exact=True).click()
        form.wait_for(state="hidden", timeout=30000)

    def run_state(self, run_id: str) -> str:
        """The state the DAG's runs table shows for the run ('' while it is not listed)."""
        page = self.page
        page.goto(f"{self.base}/dags/{DAG_ID}/runs")
        row = page.locator("tr", has_text=run_id)
        try:
            row.first.wait_for(timeout=15000)
        except Exception:
            return ""
        words = row.first.inner_text().lower().split()
        return next((w for w in words if w in RUN_STATES), "")

    def wait_for_run(self, run_id: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while (state := self.run_state(run_id)) not in ("success", "failed"):
            assert time.monotonic() < deadline, f"the UI shows the run {state!r} after {timeout} s"
            time.sleep(10)
        return state
