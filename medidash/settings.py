"""Every MediDash setting, in one typed object; configuration flows environment → here → code.

`current()` reads the `MEDIDASH_*` environment variables (an empty value counts as unset) into a
frozen `Settings`, each field with its type, default and help. Code asks `current()` when it
needs a value rather than reading `os.environ`, so a setting has one name, one default and one
meaning everywhere. `.env.example` is generated from these fields and from `DEPLOYMENT`, the
variables that Airflow, Spark and docker-compose read themselves:

    python -m medidash.settings --env-example > .env.example

This module is imported by every layer (the dashboard, the Spark jobs, the DAG file), so it
imports nothing heavier than pydantic-settings. It never reads a `.env` file: docker-compose
does that, and a local run takes its environment as given.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DAGS_DIR = PROJECT_ROOT / "dags"
SPARK_JOBS_DIR = PROJECT_ROOT / "spark_jobs"

PREFIX = "MEDIDASH_"


def _setting(default, section: str, help: str, example: str | None = None, secret=False):
    """A field: its default, the `.env.example` section and line it is documented in."""
    extra = {"section": section}
    if example is not None:
        extra["example"] = example
    return Field(default, description=help, repr=not secret, json_schema_extra=extra)


class Settings(BaseSettings):
    """MediDash's settings; field `spark_master` is the variable `MEDIDASH_SPARK_MASTER`."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX, env_ignore_empty=True, extra="ignore", frozen=True
    )

    home: Path = _setting(
        PROJECT_ROOT / ".medidash",
        "medidash",
        "Where MediDash keeps its state (embedded database, lake, raw zone, Airflow home, "
        "locks, logs).",
        example=".medidash",
    )
    lake: str | None = _setting(
        None,
        "medidash",
        "The event lake (a folder; s3a://bucket/prefix on a cluster that has hadoop-aws); "
        "unset: HOME/lake.",
        example=".medidash/lake",
    )
    lake_pointer: str | None = _setting(
        None,
        "medidash",
        "How a year's current event release is pointed to: link (a symbolic link) or file "
        "(pointer files, as on S3); unset: link on a filesystem, file elsewhere.",
        example="",
    )
    database_url: str | None = _setting(
        None,
        "medidash",
        "The warehouse's owner-role URL; unset: the embedded server under HOME/pg.",
        example="postgresql://medidash_owner@127.0.0.1:5432/medidash",
        secret=True,
    )
    pg_binaries: str = _setting(
        "auto",
        "medidash",
        "PostgreSQL binaries for the embedded server: auto (the system's PostgreSQL, else "
        "pgserver's), system, pgserver, or a bin folder.",
    )
    jvm_cache: Path | None = _setting(
        None,
        "medidash",
        "Where the JVM event writer's jar is built; unset: ~/.cache/medidash/jvm.",
        example="",
    )
    pg_host: str = _setting(
        "127.0.0.1",
        "dbt",
        "dbt's profile (dbt_project/profiles.yml reads only these, via env_var()): host.",
    )
    pg_port: int = _setting(5432, "dbt", "dbt's profile: port.")
    pg_user: str = _setting("medidash_owner", "dbt", "dbt's profile: user.")
    pg_password: str = _setting(
        "", "dbt", "dbt's profile: password.", example="CHANGE_ME", secret=True
    )
    pg_dbname: str = _setting("medidash", "dbt", "dbt's profile: database.")
    dbt_threads: int = _setting(2, "dbt", "dbt's profile: models built at once.")
    cms_data_url: str = _setting(
        "https://data.cms.gov", "cms", "The data.cms.gov catalog (a mirror or a test server)."
    )
    cms_pdc_url: str = _setting(
        "https://data.cms.gov/provider-data",
        "cms",
        "The Provider Data Catalog (clinicians, affiliations, MIPS).",
    )
    cms_allowed_hosts: str = _setting(
        "",
        "cms",
        "More origins the downloader may follow a redirect to (comma-separated; host[:port] "
        "means https).",
    )
    s3_endpoint: str | None = _setting(
        None,
        "s3",
        "`medidash run` builds the medidash_s3 connection from these S3 settings when "
        "AIRFLOW_CONN_MEDIDASH_S3 is unset; unset endpoint: no such connection.",
        example="http://127.0.0.1:8333",
    )
    s3_access_key: str = _setting("", "s3", "The S3 access key.")
    s3_secret_key: str = _setting("", "s3", "The S3 secret key.", secret=True)
    s3_region: str = _setting("us-east-1", "s3", "The S3 region.")
    spark_master: str | None = _setting(
        None,
        "spark",
        "The master of Spark sessions MediDash starts itself (tests, the bench); unset: "
        "spark-submit's --master, else local[*]. The DAG's master is the spark_default "
        "connection.",
        example="",
    )
    spark_driver_memory: str = _setting(
        "4g",
        "spark",
        "Driver memory of the DAG's Spark steps (when unset, `medidash up` gives its stack's "
        "drivers 1g and `medidash bench` 8g).",
    )
    spark_shuffle_partitions: int = _setting(
        16,
        "spark",
        "spark.sql.shuffle.partitions of every MediDash Spark session (adaptive execution "
        "coalesces small ones).",
    )
    spark_worker_memory: str = _setting(
        "4g", "spark", "Memory of the Spark worker `medidash up` starts."
    )
    retry_delay_seconds: int = _setting(
        60,
        "airflow",
        "Seconds before a failed task's first retry (doubles each retry, at most 30 minutes).",
    )
    dashboard_database_url: str | None = _setting(
        None,
        "dashboard",
        "The dashboard's read-only database URL; unset: the embedded server's "
        "medidash_dashboard role.",
        example="",
        secret=True,
    )
    dashboard_workers: int = _setting(
        2,
        "dashboard",
        "gunicorn workers of `medidash serve` (when unset, `medidash up` starts 1).",
    )
    api_rate_limit: str = _setting(
        "20/60",
        "dashboard",
        "Rate limit of the /api/v1 endpoints per client address: requests per second / burst.",
    )

    def given_or(self, name: str, otherwise):
        """Field `name` when the environment gives it, else `otherwise`: for a process that
        sizes itself differently from the default (the local stack, the bench)."""
        return getattr(self, name) if name in self.model_fields_set else otherwise


class SettingsError(ValueError):
    """A `MEDIDASH_*` variable whose value does not fit its type; names the variable."""


def current() -> Settings:
    """The settings as the environment gives them now."""
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"{PREFIX}{'_'.join(str(p) for p in e['loc']).upper()}={e.get('input')!r}: {e['msg']}"
            for e in error.errors()
        )
        raise SettingsError(problems) from None


def home() -> Path:
    """The folder MediDash manages its state in (embedded database, lake, logs)."""
    return current().home.resolve()


def default_lake() -> str:
    return current().lake or str(home() / "lake")


@dataclass(frozen=True)
class EnvVar:
    """A variable that a tool MediDash deploys reads itself (Airflow, Spark, docker-compose)."""

    name: str
    example: str
    help: str = ""


SECTIONS = {
    "medidash": ("MediDash", ""),
    "dbt": ("dbt", ""),
    "cms": ("CMS catalogs (medidash/release/cms.py); point them at a mirror or a test server", ""),
    "s3": ("S3 or an S3-compatible store (SeaweedFS, MinIO) holding releases", ""),
    "spark": ("Spark (spark-submit from the DAG)", ""),
    "airflow": (
        "Airflow",
        "airflow.cfg in the repo holds the non-secret settings; the rest comes from here.",
    ),
    "telemetry": ("Telemetry off (dbt, docs site)", ""),
    "compose": (
        "docker-compose stack (docker-compose.yml, docs/deployment.md)",
        "Read only by docker-compose.yml; each is required there (`${VAR:?}`). Use URL- and "
        "JSON-safe values (letters and digits: `openssl rand -hex 24`), since they are placed "
        "in URLs and JSON.",
    ),
    "dashboard": ("Dashboard", ""),
}

DEPLOYMENT = {
    "spark": (
        EnvVar("SPARK_LOCAL_IP", "127.0.0.1", "The address Spark's driver binds to."),
        EnvVar("JAVA_HOME", "/usr/lib/jvm/java-17-openjdk-amd64", "The JDK 17 Spark runs on."),
    ),
    "airflow": (
        EnvVar("AIRFLOW_HOME", ".medidash/airflow"),
        EnvVar("AIRFLOW_CONFIG", "./airflow.cfg"),
        EnvVar("AIRFLOW__CORE__DAGS_FOLDER", "./dags"),
        EnvVar("AIRFLOW__CORE__LOAD_EXAMPLES", "False"),
        EnvVar(
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
            "postgresql+psycopg2://airflow@127.0.0.1:5432/airflow",
        ),
        EnvVar("AIRFLOW__API_AUTH__JWT_SECRET", "CHANGE_ME"),
        EnvVar("AIRFLOW__CORE__EXECUTION_API_SERVER_URL", "http://127.0.0.1:8080/execution/"),
        EnvVar(
            "AIRFLOW_CONN_SPARK_DEFAULT",
            '{"conn_type": "spark", "host": "local[*]"}',
            "Connections (JSON). The Spark master: local[*], or host spark://127.0.0.1 with a "
            "port.",
        ),
        EnvVar(
            "AIRFLOW_CONN_MEDIDASH_WAREHOUSE",
            '{"conn_type": "postgres", "host": "127.0.0.1", "port": 5432, "login": '
            '"medidash_owner", "password": "", "schema": "medidash"}',
            "The warehouse (owner role); cosmos' profile mapping needs a non-empty password.",
        ),
        EnvVar(
            "AIRFLOW_CONN_MEDIDASH_S3",
            '{"conn_type": "aws", "login": "", "password": "", "extra": {"endpoint_url": '
            '"http://127.0.0.1:8333", "region_name": "us-east-1"}}',
            "Releases in S3 / an S3-compatible store: endpoint_url in extra.",
        ),
    ),
    "telemetry": (EnvVar("DO_NOT_TRACK", "1"),),
    "compose": (
        EnvVar("POSTGRES_PASSWORD", "CHANGE_ME"),
        EnvVar("AIRFLOW_DB_PASSWORD", "CHANGE_ME"),
        EnvVar("MEDIDASH_OWNER_PASSWORD", "CHANGE_ME"),
        EnvVar("MEDIDASH_DASHBOARD_PASSWORD", "CHANGE_ME"),
        EnvVar(
            "AIRFLOW_ADMIN_USER",
            "admin",
            "The Airflow UI / REST API login (simple auth manager, role admin).",
        ),
        EnvVar("AIRFLOW_ADMIN_PASSWORD", "CHANGE_ME"),
        EnvVar(
            "AIRFLOW_JWT_SECRET",
            "CHANGE_ME",
            "Shared by every Airflow process; the Fernet key encrypts stored connections:\n"
            'python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())"',
        ),
        EnvVar("AIRFLOW_API_SECRET_KEY", "CHANGE_ME"),
        EnvVar("AIRFLOW_FERNET_KEY", "CHANGE_ME"),
        EnvVar(
            "S3_ACCESS_KEY",
            "CHANGE_ME",
            "SeaweedFS (S3) identity, and the buckets the s3-init service creates.",
        ),
        EnvVar("S3_SECRET_KEY", "CHANGE_ME"),
        EnvVar("S3_BUCKETS", "medidash-releases,medidash-lake"),
        EnvVar(
            "MEDIDASH_BIND_ADDRESS",
            "127.0.0.1",
            "The host address the published ports listen on: 127.0.0.1 (this machine only) "
            "unless you mean to expose the stack (0.0.0.0: every interface; put TLS and a "
            "firewall in front).",
        ),
        EnvVar("AIRFLOW_PORT", "8080", "Host ports and Spark worker size (two workers)."),
        EnvVar("DASHBOARD_PORT", "8050"),
        EnvVar("S3_PORT", "8333"),
        EnvVar("SPARK_MASTER_UI_PORT", "8090"),
        EnvVar("SPARK_WORKER_CORES", "2"),
        EnvVar("SPARK_WORKER_MEMORY", "4g"),
    ),
}


def env_name(field: str) -> str:
    """The environment variable of a `Settings` field: `database_url` → MEDIDASH_DATABASE_URL."""
    return PREFIX + field.upper()


def url_holds_password(url: str) -> bool:
    """Whether a libpq URL or key/value string carries a password."""
    import re
    from urllib.parse import parse_qs, urlsplit

    if "://" in url:
        parts = urlsplit(url)
        return parts.password is not None or "password" in parse_qs(parts.query)
    return re.search(r"(^|\s)password\s*=", url) is not None


class DatabaseURLOption(argparse.Action):
    """A `--database-url` option that refuses a password: every user of the machine can read a
    command line (`ps`), and a task log prints it. The password belongs in the environment
    variable named by `env`, whose value never reaches argv."""

    def __init__(self, option_strings, dest, env: str, **kw):
        self.env = env
        super().__init__(option_strings, dest, **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        if url_holds_password(values):
            parser.error(
                f"{option_string} holds a password, which any process list shows: "
                f"set {self.env} to the URL instead"
            )
        setattr(namespace, self.dest, values)


def variables() -> dict[str, str]:
    """Every variable `.env.example` documents → the section it is in."""
    found = {
        env_name(name): f.json_schema_extra["section"] for name, f in Settings.model_fields.items()
    }
    for section, entries in DEPLOYMENT.items():
        found.update({e.name: section for e in entries})
    return found


def _comment(text: str) -> list[str]:
    """`text` as `#` lines of at most 100 characters; a newline in `text` starts a line."""
    import textwrap

    return [
        line
        for paragraph in text.split("\n")
        for line in textwrap.wrap(
            paragraph,
            100,
            initial_indent="# ",
            subsequent_indent="# ",
            break_on_hyphens=False,
            break_long_words=False,
        )
    ]


def env_example() -> str:
    """The text of `.env.example`: every variable, its help and an example value."""
    lines = [
        "# Every environment variable MediDash reads. Copy to .env and fill in; never commit .env.",
        "# Generated from medidash/settings.py (python -m medidash.settings --env-example); edit",
        "# the settings there, not this file. Nothing here is required for the local defaults",
        "# (`medidash demo`, `medidash run`): they start an embedded PostgreSQL under .medidash/",
        "# and run Spark in local mode.",
    ]
    for section, (title, intro) in SECTIONS.items():
        lines += ["", f"# --- {title} " + "-" * max(3, 93 - len(title))]
        if intro:
            lines += _comment(intro)
        for name, field in Settings.model_fields.items():
            extra = field.json_schema_extra
            if extra["section"] != section:
                continue
            example = extra.get("example")
            if example is None:
                example = "" if field.default is None else str(field.default)
            lines += _comment(field.description)
            lines.append(f"{PREFIX}{name.upper()}={example}")
        for entry in DEPLOYMENT.get(section, ()):
            if entry.help:
                lines += _comment(entry.help)
            lines.append(f"{entry.name}={entry.example}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m medidash.settings", description=__doc__)
    parser.add_argument(
        "--env-example", action="store_true", help="print .env.example, generated from here"
    )
    args = parser.parse_args(argv)
    if args.env_example:
        sys.stdout.write(env_example())
    else:
        for name, value in current():
            field = Settings.model_fields[name]
            shown = value if field.repr else ("(set)" if value else "")
            print(f"{PREFIX}{name.upper()}={'' if shown is None else shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
