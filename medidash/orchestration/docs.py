"""The dbt docs site: one static page, `dbt_project/target/static_index.html`, beside the
catalog it was built from.

The DAG's `dbt_docs` task (cosmos' DbtDocsLocalOperator, `dbt docs generate --static` on the
same profile mapping as the models) builds it after every publish, while the run still holds
the marts lock; the catalog (every table's columns and types) is read from the warehouse, so
the marts are documented where they are after the publish: in `marts` (the dbt var
`document_published_marts` resolves their schema there; they are built in `marts_build`,
empty by then). cosmos runs dbt in a copy of the project, so the manifest the DAG renders its
dbt tasks from is left as it is; `deploy_site` then moves the page and the catalog into
`target/`, where the dashboard serves them under /docs and `medidash docs` on its own.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import sys
from pathlib import Path

from medidash import settings

TARGET = settings.DBT_PROJECT_DIR / "target"
STATIC_PAGE = TARGET / "static_index.html"
CATALOG = TARGET / "catalog.json"


def deploy_site(project_dir: str, **_context) -> None:
    """cosmos callback of the `dbt_docs` task: copy the page and the catalog dbt wrote in
    cosmos' copy of the project (`project_dir`) to where they are served, each replaced in one
    step, so the dashboard never serves a half-written page."""
    built = Path(project_dir) / "target"
    for name, served in (("catalog.json", CATALOG), ("static_index.html", STATIC_PAGE)):
        served.parent.mkdir(parents=True, exist_ok=True)
        partial = served.with_name(served.name + ".partial")
        shutil.copyfile(built / name, partial)
        os.replace(partial, served)


def serve_docs(port: int = 8081) -> int:
    """Serve the site the last pipeline run built on `port` until interrupted; the exit code."""
    if not STATIC_PAGE.exists():
        print(
            f"medidash docs: no docs site yet ({STATIC_PAGE}); every `medidash run` builds it",
            file=sys.stderr,
        )
        return 1
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(STATIC_PAGE.parent)
    )
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        print(f"dbt docs: http://127.0.0.1:{port}/{STATIC_PAGE.name}", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0
