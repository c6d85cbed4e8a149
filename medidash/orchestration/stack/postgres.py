"""The stack's PostgreSQL: the embedded server, holding the warehouse and an `airflow`
database for Airflow's metadata."""

from __future__ import annotations

from dataclasses import dataclass

from medidash.orchestration.stack.processes import Launcher


@dataclass(frozen=True)
class Postgres:
    """The running server: the warehouse (owner and dashboard URLs) and Airflow's database."""

    warehouse_url: str
    dashboard_url: str
    metadata_url: str
    port: int


def start(launcher: Launcher) -> Postgres:
    """Start the embedded server (or use the one already running, which `down` then leaves
    running) and create Airflow's metadata database."""
    from medidash.warehouse import EmbeddedServer

    server = EmbeddedServer()
    launcher.state["postgres_started"] = not server.running()
    wh = server.start()
    launcher.state["postgres_port"] = wh.port
    metadata_url = server.ensure_database("airflow")
    launcher.save()
    return Postgres(wh.url, wh.dashboard_url, metadata_url, wh.port)


def stop(state: dict) -> None:
    """Stop the server if `up` started it."""
    from medidash.warehouse import EmbeddedServer

    if state.get("postgres_started"):
        EmbeddedServer().stop()
