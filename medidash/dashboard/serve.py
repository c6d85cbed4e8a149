"""`medidash serve`: the dashboard behind gunicorn, a production WSGI server, debug off, as the
read-only database role."""

from __future__ import annotations

from gunicorn.app.base import BaseApplication

from medidash import settings


class DashboardServer(BaseApplication):
    def __init__(self, database_url: str, options: dict):
        self.database_url = database_url
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from medidash.dashboard.app import create_app

        rate, _, burst = settings.current().api_rate_limit.partition("/")
        return create_app(self.database_url, rate_limit=(float(rate), int(burst or rate))).server


def serve(database_url: str | None = None, host: str = "127.0.0.1", port: int = 8050) -> int:
    """Serve the dashboard until stopped (`database_url`: the read-only role's, else resolved)."""
    from medidash.warehouse import resolve_database_url

    database_url = resolve_database_url(database_url, role="dashboard")
    print(f"MediDash dashboard at http://{host}:{port}/", flush=True)
    options = {
        "bind": f"{host}:{port}",
        "workers": settings.current().dashboard_workers,
        "threads": 4,
        "worker_class": "gthread",
        "timeout": 60,
        "accesslog": "-",
        "limit_request_line": 8190,
        "limit_request_fields": 100,
        "control_socket_disable": True,  # gunicorn's runtime socket would live in ~/.gunicorn
    }
    DashboardServer(database_url, options).run()
    return 0
