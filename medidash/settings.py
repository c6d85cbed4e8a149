"""Paths and constants shared by every stage; configuration flows environment → here → code."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def home() -> Path:
    """The folder MediDash manages its state in (embedded database, lake, logs)."""
    return Path(os.environ.get("MEDIDASH_HOME", PROJECT_ROOT / ".medidash")).resolve()


def default_lake() -> str:
    return os.environ.get("MEDIDASH_LAKE", str(home() / "lake"))


DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DAGS_DIR = PROJECT_ROOT / "dags"
SPARK_JOBS_DIR = PROJECT_ROOT / "spark_jobs"
