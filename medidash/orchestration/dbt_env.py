"""dbt outside a pipeline run, and the callback cosmos calls after the run's dbt commands.

Within a run every dbt command (the models and tests, the marts swap, the docs) is a cosmos
operator of the DAG whose profile comes from the `medidash_warehouse` connection
(`dags/medidash_refresh.py`, DBT_PROFILE). Outside Airflow, where there is no connection (the
manifest compiled ahead by `medidash run` / `medidash up`, the tests' fixtures, the bench,
sqlfluff's templater in `make lint`), `dbt_project/profiles.yml` reads only `env_var()`s and
this module turns a libpq URL into them.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

from medidash import settings


def profile_env(database_url: str) -> dict[str, str]:
    """The environment variables `profiles.yml` reads, from a postgresql:// URL."""
    parts = urlsplit(database_url)
    return {
        "MEDIDASH_PG_HOST": parts.hostname or "127.0.0.1",
        "MEDIDASH_PG_PORT": str(parts.port or 5432),
        "MEDIDASH_PG_USER": unquote(parts.username or ""),
        "MEDIDASH_PG_PASSWORD": unquote(parts.password or ""),
        "MEDIDASH_PG_DBNAME": parts.path.lstrip("/") or "medidash",
        "DO_NOT_TRACK": "1",
    }


def dbt_executable() -> str:
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def dbt_command(args: list[str], database_url: str) -> tuple[list[str], dict[str, str]]:
    """A dbt command line for this project and the environment to run it in."""
    project = str(settings.DBT_PROJECT_DIR)
    command = [dbt_executable(), *args, "--project-dir", project, "--profiles-dir", project]
    return command, {**os.environ, **profile_env(database_url)}


def fail_on_failed_tests(project_dir: str, **_context) -> None:
    """cosmos callback (after every dbt command, before cosmos judges its result): a dbt test
    that *failed* found bad data, and fails its task at once (no retry can change the data).
    A test or model that *errored* (a lost connection, a lock timeout) is left to cosmos,
    which raises and lets Airflow retry."""
    import json

    results = Path(project_dir) / "target" / "run_results.json"
    if not results.exists():
        return
    failed = [
        r for r in json.loads(results.read_text()).get("results", []) if r.get("status") == "fail"
    ]
    if not failed:
        return
    from airflow.sdk.exceptions import AirflowFailException

    from medidash.errors import BadInput

    first = failed[0]
    name = first.get("unique_id", "a dbt test").removeprefix("test.")
    error = BadInput(
        f"{first.get('message') or 'failed'} ({first.get('failures') or 0} failing rows"
        f"{f'; {len(failed) - 1} more failed tests' if len(failed) > 1 else ''})",
        file=f"dbt test {name}",
    )
    raise AirflowFailException(str(error)) from error


if __name__ == "__main__":
    # `eval "$(python -m medidash.orchestration.dbt_env)"`: the profile variables of the
    # warehouse (MEDIDASH_DATABASE_URL, else the embedded server), for tools that run dbt's
    # compiler outside MediDash, such as sqlfluff's dbt templater in `make lint`.
    import shlex

    from medidash.warehouse import resolve_database_url

    for key, value in profile_env(resolve_database_url()).items():
        print(f"export {key}={shlex.quote(value)}")
