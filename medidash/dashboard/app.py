"""The Dash application: the Flask server it runs on, put together from its parts.

`layout` is the page, `callbacks` what the page does, `routes` the Flask routes beside it
(docs, downloads, health), `api` the JSON API and `security` what every response carries.
One page, every view addressable by URL (`?state=CA`, `?zip=94110`, `?practice=0840459889`,
optionally `&year=2023`): the URL alone decides what is shown (`urlstate`).
"""

from __future__ import annotations

from pathlib import Path

from dash import Dash

from medidash.dashboard import callbacks, layout, routes, security
from medidash.dashboard.api import api
from medidash.dashboard.queries import Marts

ASSETS = Path(__file__).resolve().parent / "assets"


def create_app(database_url: str, rate_limit: tuple[float, int] | None = (20.0, 60)) -> Dash:
    marts = Marts(database_url)
    app = Dash(
        __name__,
        title="MediDash",
        assets_folder=str(ASSETS),
        serve_locally=True,
        suppress_callback_exceptions=True,
        update_title=None,
    )
    server = app.server
    server.extensions["medidash_marts"] = marts
    server.register_blueprint(api)
    routes.register(server, marts)
    app.layout = layout.page()
    callbacks.register(app, marts)
    csp = security.content_security_policy(app.csp_hashes())
    security.install(server, csp, security.RateLimiter(*rate_limit) if rate_limit else None)
    return app
