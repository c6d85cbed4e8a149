"""What every service of the local stack is started and stopped with: its files under
MEDIDASH_HOME, a launcher of process groups that waits for readiness, and the stop sequence."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from medidash import settings

STOP_GRACE_SECONDS = 20
BIN_DIR = Path(sys.executable).parent


@dataclass(frozen=True)
class StackPaths:
    """Where the stack keeps its state: `stack.json`, one log per process, each service's
    files under `stack/`, the Airflow admin password (0600)."""

    home: Path

    @classmethod
    def current(cls) -> StackPaths:
        return cls(settings.home())

    @property
    def state(self) -> Path:
        return self.home / "stack.json"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def stack(self) -> Path:
        return self.home / "stack"

    @property
    def password(self) -> Path:
        return self.stack / "airflow-admin-password"


def secret_file(path: Path) -> str:
    """The secret kept in `path` (mode 0600), generated on first use."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(18)
    write_private(path, value)
    return value


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, readable by its owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def http_ok(url: str, timeout: float = 3.0, any_status: bool = False) -> bool:
    """The URL answers 2xx (or, with `any_status`, answers at all)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return 200 <= response.status < 300
    except urllib.error.HTTPError:
        return any_status
    except OSError:
        return False


@dataclass
class Launcher:
    """Starts processes in their own process groups, each logging to `logs/<name>.log`, and
    records every PID in `stack.json` as soon as it exists (so `down` can stop a half-started
    stack)."""

    paths: StackPaths
    state: dict = field(default_factory=lambda: {"processes": {}})
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def save(self) -> None:
        self.paths.state.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.paths.state.with_suffix(".json.part")
        tmp.write_text(json.dumps(self.state, indent=2))
        tmp.replace(self.paths.state)

    def start(
        self, name: str, argv: list[str], env: dict[str, str], cwd: Path | None = None
    ) -> subprocess.Popen:
        self.paths.logs.mkdir(parents=True, exist_ok=True)
        log = open(self.paths.logs / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it open
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=str(cwd or settings.PROJECT_ROOT),
            start_new_session=True,
        )
        log.close()
        self.processes[name] = process
        self.state["processes"][name] = process.pid
        self.save()
        return process

    def wait_for(
        self, name: str, check: Callable[[], bool], what: str, timeout: float = 180.0
    ) -> None:
        """Until `check()` holds; raises with the log's tail if the process exits first."""
        deadline = time.monotonic() + timeout
        process = self.processes[name]
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = (self.paths.logs / f"{name}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail}")
            if check():
                return
            time.sleep(0.5)
        raise RuntimeError(f"{name}: {what} not ready after {timeout:.0f} s")

    def still_running(self, name: str) -> None:
        if self.processes[name].poll() is not None:
            raise RuntimeError(f"{name} exited; see {self.paths.logs}/{name}.log")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_groups(pids: list[int], grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM each process group (and any descendant that left it), then SIGKILL survivors."""
    import psutil

    tracked: list[psutil.Process] = []
    for pid in pids:
        try:
            parent = psutil.Process(pid)
            tracked += [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
    _signal(pids, tracked, signal.SIGTERM)
    _, survivors = psutil.wait_procs(tracked, timeout=grace)
    deadline = time.monotonic() + 5
    while any(_group_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    _signal(pids, survivors, signal.SIGKILL)
    psutil.wait_procs(survivors, timeout=5)


def _signal(groups: list[int], processes: list, sig: signal.Signals) -> None:
    """Send `sig` to each process group and to each (psutil) process, gone ones skipped."""
    import psutil

    for pgid in groups:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.send_signal(sig)
