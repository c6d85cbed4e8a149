"""`medidash demo`: generate a synthetic release, run the whole DAG on it, serve the dashboard.

Everything on the embedded defaults: the embedded PostgreSQL, a local lake, `local[*]` Spark.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

from medidash import settings


def run(
    year: int = 2023,
    scale: float = 0.002,
    *,
    port: int = 8050,
    serve: bool = True,
    verbose: bool = False,
) -> int:
    """Generate (once) the synthetic release of `year` at `scale`, load it with `medidash
    run`, then serve the dashboard on `port` unless `serve` is false; the exit code."""
    from medidash.generator.cli import run as generate
    from medidash.orchestration.run import run as run_pipeline

    release = settings.home() / "releases" / f"demo-{year}-scale{scale:g}"
    if not (release / "manifest.json").exists():
        print(f"Generating a synthetic {year} release (scale {scale:g})", flush=True)
        code = generate(release, year, scale, seed=42, quiet=True)
        if code:
            return code
    else:
        print(f"Reusing the synthetic release in {release}")
    print(f"Running medidash run --input {release} --year {year}", flush=True)
    code = run_pipeline(str(release), year, verbose=verbose)
    if code or not serve:
        return code
    serve_dashboard(port)


def serve_dashboard(port: int) -> NoReturn:
    """Serve the dashboard on `port` until stopped, as `medidash serve` does: this process
    becomes a fresh interpreter that imports only the dashboard. The one that ran the DAG has
    Airflow loaded and its logging set up, which gives gunicorn's error logger a handler of
    Airflow's (airflow.logging_config) beside the one gunicorn adds: every gunicorn line would
    be printed twice. Ctrl-C and the exit status are then gunicorn's own."""
    sys.stdout.flush()
    sys.stderr.flush()
    program = (
        "import sys; from medidash.dashboard.serve import serve; "
        "sys.exit(serve(port=int(sys.argv[1])))"
    )
    os.execv(sys.executable, [sys.executable, "-c", program, str(port)])
