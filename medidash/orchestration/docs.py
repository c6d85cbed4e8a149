"""`medidash docs`: generate the dbt docs site (one static page) and serve it.

The pipeline regenerates the same page after every run (the DAG's `dbt_docs` task), and the
dashboard serves it under /docs; this command is for browsing it on its own.
"""

from __future__ import annotations

import functools
import http.server
import subprocess
from pathlib import Path

from medidash import settings
from medidash.orchestration.dbt_env import dbt_command

STATIC_PAGE = settings.DBT_PROJECT_DIR / "target" / "static_index.html"


def generate_docs(database_url: str) -> Path:
    """`dbt docs generate --static` against the warehouse; returns the static page."""
    command, env = dbt_command(["docs", "generate", "--static"], database_url)
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"dbt docs generate failed:\n{result.stdout[-3000:]}")
    return STATIC_PAGE


def run(args) -> int:
    from medidash.warehouse import resolve_database_url

    page = generate_docs(resolve_database_url(None))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(page.parent))
    with http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler) as server:
        print(f"dbt docs: http://127.0.0.1:{args.port}/{page.name}", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0
