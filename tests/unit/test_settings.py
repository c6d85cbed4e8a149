"""The settings object: every `MEDIDASH_*` variable the project names is one of its fields (or a
deployment variable of `.env.example`), code reads them only through it, `.env.example` is
generated from it, and its values are typed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from medidash import settings

ROOT = settings.PROJECT_ROOT
NAME = re.compile(r"(?<![A-Z0-9_])MEDIDASH_[A-Z0-9_]*[A-Z0-9]")
# hooks only the tests set (a crash point, the CI deadline, ...) are not settings
TEST_HOOK = "MEDIDASH_TEST_"
READ = re.compile(
    r"os\.environ\.get\(\s*[\"']MEDIDASH_"
    r"|os\.getenv\(\s*[\"']MEDIDASH_"
    r"|os\.environ\[\s*[\"']MEDIDASH_\w+[\"']\s*\](?!\s*=[^=])"
    r"|[\"']MEDIDASH_\w+[\"']\s+(?:not\s+)?in\s+os\.environ"
)


def project_files() -> list[Path]:
    """The files that configure or run MediDash (not its tests, not the virtualenv)."""
    skip = {".venv", ".git", "tests", "node_modules", "target", "bench", ".medidash", "build"}
    suffixes = (".py", ".yml", ".yaml", ".cfg", ".sh", ".toml")
    found = [ROOT / "Makefile", ROOT / ".ci" / "run"]
    for folder, dirs, names in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in skip and not d.endswith(".egg-info")]
        found += [Path(folder, n) for n in names if n.endswith(suffixes) or n == "Dockerfile"]
    return sorted(p for p in found if p.is_file())


def test_env_example_is_generated_from_the_settings():
    text = (ROOT / ".env.example").read_text()
    assert text == settings.env_example(), (
        ".env.example differs from the settings: run "
        "`.venv/bin/python -m medidash.settings --env-example > .env.example`"
    )


def test_every_variable_the_project_names_is_documented():
    documented = settings.variables()
    named = {}
    for path in project_files():
        for name in NAME.findall(path.read_text(errors="replace")):
            if not name.startswith(TEST_HOOK):
                named.setdefault(name, str(path.relative_to(ROOT)))
    assert {n: p for n, p in named.items() if n not in documented} == {}


def test_code_reads_medidash_variables_only_through_the_settings():
    reads = []
    for path in project_files():
        if path.suffix != ".py" or path == ROOT / "medidash" / "settings.py":
            continue
        text = path.read_text()
        # a variable's name kept in a constant (DATABASE_URL_ENV = "MEDIDASH_DATABASE_URL")
        named = re.findall(rf"^(\w+) = [\"'](?!{TEST_HOOK})MEDIDASH_\w+[\"']", text, re.M)
        through = (
            re.compile(rf"os\.(?:environ\.get|getenv)\(\s*(?:{'|'.join(named)})\b")
            if named
            else None
        )
        for number, line in enumerate(text.splitlines(), 1):
            if TEST_HOOK not in line and (READ.search(line) or (through and through.search(line))):
                reads.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert reads == []


def test_read_guard_sees_reads_not_writes():
    assert READ.search('x = os.environ.get("MEDIDASH_LAKE", "")')
    assert READ.search('if os.environ["MEDIDASH_HOME"]:')
    assert READ.search('"MEDIDASH_S3_ENDPOINT" not in os.environ')
    assert not READ.search('os.environ["MEDIDASH_HOME"] = str(home)')
    assert not READ.search('env = {"MEDIDASH_HOME": str(home)}')


def test_values_are_typed_and_defaults_hold(monkeypatch):
    for name in settings.Settings.model_fields:
        monkeypatch.delenv(settings.PREFIX + name.upper(), raising=False)
    defaults = settings.current()
    assert defaults.spark_shuffle_partitions == 16
    assert defaults.retry_delay_seconds == 60
    assert defaults.given_or("spark_driver_memory", "1g") == "1g"
    assert settings.home() == (ROOT / ".medidash").resolve()
    assert settings.default_lake() == str((ROOT / ".medidash" / "lake").resolve())

    monkeypatch.setenv("MEDIDASH_SPARK_SHUFFLE_PARTITIONS", "32")
    monkeypatch.setenv("MEDIDASH_SPARK_DRIVER_MEMORY", "2g")
    monkeypatch.setenv("MEDIDASH_LAKE", "")  # empty means unset, as in .env.example
    given = settings.current()
    assert given.spark_shuffle_partitions == 32
    assert given.given_or("spark_driver_memory", "1g") == "2g"
    assert given.lake is None

    monkeypatch.setenv("MEDIDASH_SPARK_SHUFFLE_PARTITIONS", "many")
    with pytest.raises(settings.SettingsError, match="MEDIDASH_SPARK_SHUFFLE_PARTITIONS='many'"):
        settings.current()


def test_secrets_stay_out_of_the_repr(monkeypatch):
    monkeypatch.setenv("MEDIDASH_S3_SECRET_KEY", "s3-secret-value")
    url = "postgresql://u:db-secret-value@h/d"  # pragma: allowlist secret
    monkeypatch.setenv("MEDIDASH_DATABASE_URL", url)
    shown = repr(settings.current())
    assert "s3-secret-value" not in shown and "db-secret-value" not in shown


def test_dbt_profile_defaults_agree_with_the_settings():
    profile = (ROOT / "dbt_project" / "profiles.yml").read_text()
    found = dict(re.findall(r"env_var\('(MEDIDASH_\w+)', '([^']*)'\)", profile))
    assert found, "profiles.yml reads no MEDIDASH_ variable"
    defaults = settings.Settings.model_fields
    for name, default in found.items():
        field = defaults[name.removeprefix(settings.PREFIX).lower()]
        assert str(field.default) == default, name


def test_the_settings_module_imports_nothing_heavy():
    """Every image imports it (the dashboard's holds no pyspark, Airflow or dbt)."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, medidash.settings; print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = set(result.stdout.split())
    assert (
        loaded & {"pyspark", "airflow", "dbt", "cosmos", "dash", "psycopg", "sqlalchemy"} == set()
    )
