"""`medidash db start|stop|status|url`."""

from __future__ import annotations

from medidash import settings
from medidash.warehouse.embedded import EmbeddedServer


def run(action: str, role: str = "owner") -> int:
    """Start, stop or report on the embedded server, or print a role's URL; the exit code."""
    server = EmbeddedServer()
    if action == "start":
        wh = server.start()
        print(f"PostgreSQL running on 127.0.0.1:{wh.port}, database {wh.dbname} ({server.dir})")
    elif action == "stop":
        server.stop()
        print("PostgreSQL stopped")
    elif action == "status":
        print(server.status())
        return 0 if server.running() else 3
    elif action == "url":
        if settings.current().database_url:
            print(settings.current().database_url)
            return 0
        wh = server.warehouse() if server.running() else server.start()
        print(wh.url if role == "owner" else wh.dashboard_url)
    return 0
