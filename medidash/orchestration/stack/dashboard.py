"""The stack's dashboard: `medidash serve` on the warehouse's read-only role."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from medidash import settings
from medidash.orchestration.stack.postgres import Postgres
from medidash.orchestration.stack.processes import Launcher, http_ok

NAME = "dashboard"


@dataclass(frozen=True)
class Dashboard:
    url: str


def start(launcher: Launcher, ports: dict[str, int], postgres: Postgres) -> Dashboard:
    launcher.start(
        NAME,
        [
            sys.executable,
            "-m",
            "medidash.cli",
            "serve",
            "--port",
            str(ports["dashboard"]),
        ],
        {
            **os.environ,
            # the read-only role's password: in the environment, never in a process list
            settings.env_name("dashboard_database_url"): postgres.dashboard_url,
            settings.env_name("dashboard_workers"): str(
                settings.current().given_or("dashboard_workers", 1)
            ),
        },
    )
    return Dashboard(f"http://127.0.0.1:{ports['dashboard']}")


def wait_ready(launcher: Launcher, dashboard: Dashboard) -> None:
    # /healthz answers 503 until the first run has built the marts: serving is what counts here
    launcher.wait_for(NAME, lambda: http_ok(f"{dashboard.url}/healthz", any_status=True), "HTTP")
