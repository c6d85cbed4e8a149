"""Dependencies point one way (docs/internals.md): import-linter's contracts in pyproject.toml
hold on the tree, and each of them breaks when a forbidden import is added to a copy of it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from medidash import settings

ROOT = settings.PROJECT_ROOT
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    """import-linter on `tree`'s packages, with `tree` first on the import path."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_contracts_hold():
    assert LINT_IMPORTS.exists(), "import-linter is not installed in the venv (make install)"
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory) -> Path:
    """The packages' Python files and pyproject.toml, to break without touching the tree."""
    copy = tmp_path_factory.mktemp("tree")

    def not_python(folder, names):
        return [n for n in names if not n.endswith(".py") and not Path(folder, n).is_dir()]

    for package in ("medidash", "spark_jobs", "dags"):
        shutil.copytree(
            ROOT / package,
            copy / package,
            ignore=lambda d, n: not_python(d, n) + ["__pycache__", "assets", "java"],
        )
    shutil.copy2(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("medidash/contract.py", "from spark_jobs import jobs", "leaf modules"),
        ("medidash/settings.py", "import airflow", "leaf modules"),
        ("medidash/dashboard/formatting.py", "import pyspark", "dashboard never imports"),
        ("medidash/dashboard/queries.py", "from medidash.orchestration import tasks", "dashboard"),
        ("spark_jobs/jobs.py", "from medidash.orchestration import run", "Spark jobs never"),
        # the lake's S3 client outside Spark is handed in by the orchestration: storage reading
        # the connection itself, directly or through the release code's hook, breaks the contract
        ("spark_jobs/storage.py", "from medidash.orchestration import constants", "Spark jobs"),
        ("spark_jobs/storage.py", "from medidash.release.s3 import client_for", "Spark jobs"),
        ("dags/medidash_refresh.py", "from medidash.warehouse import schema", "DAG files"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(tree_copy, module, line, contract):
    path = tree_copy / module
    original = path.read_text()
    path.write_text(original + f"\n{line}  # noqa\n")
    try:
        result = lint_imports(tree_copy)
    finally:
        path.write_text(original)
    assert result.returncode != 0, result.stdout[-3000:]
    # a leaf importing upward breaks the contracts of the layers importing it too
    broken = [row.lower() for row in result.stdout.splitlines() if "BROKEN" in row]
    assert any(contract.lower() in row for row in broken), result.stdout[-3000:]
