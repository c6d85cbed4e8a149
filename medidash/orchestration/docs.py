"""`medidash docs`: generate the dbt docs site (one static page) and serve it.

The pipeline regenerates the same page after every run (the DAG's `dbt_docs` task, after the
publish, while the run still holds the marts lock), and the dashboard serves it under /docs;
this command is for browsing it on its own.

The catalog (every table's columns and types) is read from the warehouse, so the marts are
documented where they are after the publish: in `marts` (the dbt var `document_published_marts`
resolves their schema there; they are built in `marts_build`, empty by then). dbt writes into
its own target folder, so the manifest the DAG renders its dbt tasks from is left as it is;
the page and the catalog are then moved into `target/`.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
from pathlib import Path

from medidash import settings
from medidash.orchestration.dbt_env import dbt_command

TARGET = settings.DBT_PROJECT_DIR / "target"
STATIC_PAGE = TARGET / "static_index.html"
CATALOG = TARGET / "catalog.json"
DOCS_VARS = "{document_published_marts: true}"


def generate_docs(database_url: str) -> Path:
    """`dbt docs generate --static` against the warehouse, documenting the published marts;
    returns the static page."""
    work = TARGET / "docs"
    command, env = dbt_command(
        ["docs", "generate", "--static", "--vars", DOCS_VARS, "--target-path", str(work)],
        database_url,
    )
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"dbt docs generate failed:\n{result.stdout[-3000:]}")
    for built, served in (
        (work / "catalog.json", CATALOG),
        (work / "static_index.html", STATIC_PAGE),
    ):
        partial = served.with_name(served.name + ".partial")
        shutil.copyfile(built, partial)
        os.replace(partial, served)  # the dashboard never serves a half-written page
    return STATIC_PAGE


def serve_docs(port: int = 8081) -> int:
    """Generate the site against the warehouse and serve it on `port` until interrupted."""
    from medidash.warehouse import resolve_database_url

    page = generate_docs(resolve_database_url(None))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(page.parent))
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        print(f"dbt docs: http://127.0.0.1:{port}/{page.name}", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0
