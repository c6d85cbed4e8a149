"""A real PostgreSQL server that MediDash starts and manages itself under `.medidash/pg`.

The binaries are the system's PostgreSQL when one is installed (Debian's `postgresql-NN`, which
ships `pg_trgm`), else the ones inside PyPI's `pgserver` wheel, so a fresh machine needs nothing
but `make install`. Set `MEDIDASH_PG_BINARIES` to `pgserver`, `system` or a `bin` folder to choose.

The server listens on 127.0.0.1 (password auth) and on a Unix socket in its own folder, and keeps
running between commands until `medidash db stop`. PostgreSQL refuses to run as root, so as root
it runs as a dedicated system user (`medidash-pg`).
"""

from __future__ import annotations

import glob
import json
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from medidash import settings
from medidash.contract import SCHEMAS
from medidash.ports import free_port

DATABASE = "medidash"
OWNER_ROLE = "medidash_owner"
DASHBOARD_ROLE = "medidash_dashboard"
SUPERUSER = "postgres"
SERVICE_USER = "medidash-pg"


@dataclass(frozen=True)
class Warehouse:
    """Where the warehouse is and how each role reaches it."""

    host: str
    port: int
    dbname: str
    owner_password: str
    dashboard_password: str
    socket_dir: str | None = None

    def role_url(self, role: str, password: str, dbname: str | None = None) -> str:
        return (
            f"postgresql://{role}:{quote(password, safe='')}@{self.host}:{self.port}/"
            f"{dbname or self.dbname}"
        )

    @property
    def url(self) -> str:
        """The owner role's URL: what the pipeline and dbt use."""
        return self.role_url(OWNER_ROLE, self.owner_password)

    @property
    def dashboard_url(self) -> str:
        """The read-only role's URL: what the dashboard uses."""
        return self.role_url(DASHBOARD_ROLE, self.dashboard_password)

    @property
    def admin_url(self) -> str:
        """Superuser over the Unix socket (trust); for setting the server up only."""
        return (
            f"postgresql://{SUPERUSER}@/{self.dbname}"
            f"?host={quote(self.socket_dir or '', safe='')}&port={self.port}"
        )

    @property
    def owner_user(self) -> str:
        return OWNER_ROLE

    @property
    def dashboard_user(self) -> str:
        return DASHBOARD_ROLE


class EmbeddedServerError(RuntimeError):
    pass


def _binaries() -> Path:
    choice = settings.current().pg_binaries
    if choice not in ("auto", "system", "pgserver"):
        path = Path(choice)
        if not (path / "pg_ctl").exists():
            raise EmbeddedServerError(f"MEDIDASH_PG_BINARIES={choice}: no pg_ctl in that folder")
        return path
    if choice in ("auto", "system"):
        found = sorted(
            glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4])
        )
        if found:
            return Path(found[-1]).parent
        if choice == "system":
            raise EmbeddedServerError("MEDIDASH_PG_BINARIES=system but no /usr/lib/postgresql")
    from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


class EmbeddedServer:
    """One PostgreSQL data directory and the server running on it."""

    def __init__(self, directory: Path | str | None = None):
        self.dir = Path(directory or settings.home() / "pg").resolve()
        self.data = self.dir / "data"
        self.socket_dir = self.dir / "run"
        self.state_file = self.dir / "server.json"
        self.log = self.dir / "postgres.log"

    # -- state -----------------------------------------------------------------------------
    def _state(self) -> dict:
        return json.loads(self.state_file.read_text()) if self.state_file.exists() else {}

    def _write_state(self, state: dict) -> None:
        self.state_file.write_text(json.dumps(state, indent=2))
        self.state_file.chmod(0o600)

    def _run_as(self) -> str | None:
        return SERVICE_USER if os.geteuid() == 0 else None

    def _run(self, args: list[str], **kwargs) -> subprocess.CompletedProcess:
        user = self._run_as()
        result = subprocess.run(args, user=user, capture_output=True, text=True, cwd="/", **kwargs)
        if result.returncode != 0:
            raise EmbeddedServerError(
                f"{Path(args[0]).name} failed ({result.returncode}): "
                f"{(result.stderr or result.stdout).strip()[-2000:]}"
                + (f"\nserver log: {self.log}" if self.log.exists() else "")
            )
        return result

    # -- lifecycle -------------------------------------------------------------------------
    def _prepare_user(self) -> None:
        if os.geteuid() != 0:
            return
        from pgserver.utils import ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(SERVICE_USER)
        ensure_prefix_permissions(self.dir)
        bins = _binaries()
        ensure_prefix_permissions(bins)
        for path in (self.dir, self.data, self.socket_dir):
            shutil.chown(path, SERVICE_USER, SERVICE_USER)

    def _init(self) -> dict:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.data.mkdir(mode=0o700, exist_ok=True)
        self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        self._prepare_user()
        state = self._state()
        if (self.data / "PG_VERSION").exists() and state:
            return state
        bins = _binaries()
        self._run(
            [
                str(bins / "initdb"),
                "-D",
                str(self.data),
                "-U",
                SUPERUSER,
                "--encoding=UTF8",
                "--locale=C",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ]
        )
        state = {
            "port": free_port(),
            "binaries": str(bins),
            "owner_password": secrets.token_urlsafe(18),
            "dashboard_password": secrets.token_urlsafe(18),
        }
        self._write_state(state)
        return state

    def running(self) -> bool:
        if not (self.data / "postmaster.pid").exists():
            return False
        state = self._state()
        bins = Path(state.get("binaries") or _binaries())
        result = subprocess.run(
            [str(bins / "pg_ctl"), "-D", str(self.data), "status"],
            user=self._run_as(),
            capture_output=True,
            text=True,
            cwd="/",
        )
        return result.returncode == 0

    def warehouse(self) -> Warehouse:
        state = self._state()
        if not state:
            raise EmbeddedServerError(
                f"no embedded database at {self.dir}: run `medidash db start`"
            )
        return Warehouse(
            host="127.0.0.1",
            port=int(state["port"]),
            dbname=DATABASE,
            owner_password=state["owner_password"],
            dashboard_password=state["dashboard_password"],
            socket_dir=str(self.socket_dir),
        )

    def start(self) -> Warehouse:
        """Start the server (initialising it the first time) and make sure roles and schemas exist.

        Idempotent: a running server is reused.
        """
        state = self._init()
        if not self.running():
            bins = Path(state["binaries"])
            options = (
                f"-c listen_addresses=127.0.0.1 -c port={state['port']} "
                f"-c unix_socket_directories={self.socket_dir} "
                "-c max_connections=200 -c shared_buffers=256MB -c fsync=on "
                "-c max_wal_size=4GB -c work_mem=64MB -c maintenance_work_mem=512MB "
                # no standby reads this server's WAL: a table created and filled in one
                # transaction (each dbt table model) is written once, not also to the WAL
                "-c wal_level=minimal -c max_wal_senders=0"
            )
            self._run(
                [
                    str(bins / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log),
                    "-w",
                    "-t",
                    "60",
                    "-o",
                    options,
                    "start",
                ]
            )
        wh = self.warehouse()
        bootstrap(wh)
        return wh

    def stop(self) -> None:
        if not self.running():
            return
        bins = Path(self._state()["binaries"])
        self._run([str(bins / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])

    def status(self) -> str:
        if not self._state():
            return f"not initialised ({self.dir})"
        wh = self.warehouse()
        state = "running" if self.running() else "stopped"
        return f"{state}: 127.0.0.1:{wh.port} database {wh.dbname} ({self.dir})"

    def ensure_database(self, name: str, role: str | None = None) -> str:
        """Create (if missing) another database with its own owner role; returns its URL.

        Used for Airflow's metadata database beside the warehouse.
        """
        import psycopg

        role = role or name
        state = self._state()
        key = f"{role}_password"
        if key not in state:
            state[key] = secrets.token_urlsafe(18)
            self._write_state(state)
        wh = self.warehouse()
        admin = wh.admin_url.replace(f"/{wh.dbname}?", "/postgres?")
        with psycopg.connect(admin, autocommit=True) as conn:
            _ensure_role(conn, role, state[key], login=True)
            exists = conn.execute(
                "select 1 from pg_database where datname = %s", (name,)
            ).fetchone()
            if not exists:
                conn.execute(f'create database "{name}" owner "{role}"')
        return wh.role_url(role, state[key], dbname=name)


def _ensure_role(conn, role: str, password: str, login: bool = True) -> None:
    from psycopg import sql

    exists = conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone()
    verb = "alter" if exists else "create"
    conn.execute(
        sql.SQL("{} role {} with {} password {}").format(
            sql.SQL(verb),
            sql.Identifier(role),
            sql.SQL("login" if login else "nologin"),
            sql.Literal(password),
        )
    )


def bootstrap(wh: Warehouse) -> None:
    """Roles, database, schemas and grants; safe to run any number of times."""
    import psycopg

    from medidash.warehouse.schema import ensure_schema

    admin_server = wh.admin_url.replace(f"/{wh.dbname}?", "/postgres?")
    with psycopg.connect(admin_server, autocommit=True) as conn:
        _ensure_role(conn, OWNER_ROLE, wh.owner_password)
        _ensure_role(conn, DASHBOARD_ROLE, wh.dashboard_password)
        conn.execute(f"alter role {DASHBOARD_ROLE} set default_transaction_read_only = on")
        conn.execute(f"alter role {DASHBOARD_ROLE} set statement_timeout = '10s'")
        if not conn.execute(
            "select 1 from pg_database where datname = %s", (wh.dbname,)
        ).fetchone():
            conn.execute(f"create database {wh.dbname} owner {OWNER_ROLE}")
        conn.execute(f"revoke all on database {wh.dbname} from public")
        conn.execute(f"grant connect on database {wh.dbname} to {OWNER_ROLE}, {DASHBOARD_ROLE}")
    with psycopg.connect(wh.admin_url, autocommit=True) as conn:
        conn.execute("revoke create on schema public from public")
        available = conn.execute(
            "select 1 from pg_available_extensions where name = 'pg_trgm'"
        ).fetchone()
        if available:
            conn.execute("create extension if not exists pg_trgm")
        for schema in SCHEMAS:
            conn.execute(f"create schema if not exists {schema} authorization {OWNER_ROLE}")
    ensure_schema(wh.url)
    with psycopg.connect(wh.url, autocommit=True) as conn:
        for schema in ("marts", "ops"):
            conn.execute(f"grant usage on schema {schema} to {DASHBOARD_ROLE}")
            conn.execute(f"grant select on all tables in schema {schema} to {DASHBOARD_ROLE}")
            conn.execute(
                f"alter default privileges for role {OWNER_ROLE} in schema {schema} "
                f"grant select on tables to {DASHBOARD_ROLE}"
            )


def database_url(role: str = "owner", home: Path | None = None) -> str:
    """URL of the embedded warehouse for a role (`owner` or `dashboard`), starting it if needed."""
    server = EmbeddedServer(home / "pg" if home else None)
    wh = server.warehouse() if server.running() else server.start()
    return wh.url if role == "owner" else wh.dashboard_url


def resolve_database_url(explicit: str | None = None, role: str = "owner") -> str:
    """`--database-url`, else the environment (MEDIDASH_DATABASE_URL for the owner,
    MEDIDASH_DASHBOARD_DATABASE_URL for the dashboard), else the embedded server."""
    variable = settings.env_name("database_url" if role == "owner" else "dashboard_database_url")
    return explicit or os.environ.get(variable) or database_url(role)
