"""What `medidash run` shows a person: one line per task, then the run's summary; every log of
the run (Airflow's, spark-submit's, dbt's) goes to one log file per run instead.

The DAG runs in this process (`dag.test()`), and its tasks start subprocesses that write to the
process's own file descriptors 1 and 2. So the capture works at that level: `RunConsole`
points fds 1 and 2 at the run's log file for the whole run (with `--verbose`, at a pipe whose
reader copies every line to the log file and to the terminal), and keeps a duplicate of the
real terminal for its own lines. The task states are read, by a thread, from Airflow's metadata
database (the home's SQLite file), where `dag.test()` records them as it goes.

On a terminal the line of the running task updates in place; elsewhere (CI, a pipe) each task's
line is printed once, when it ends.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from medidash import settings

FINISHED = {"success", "failed", "skipped", "upstream_failed", "removed"}
DBT_GROUP = "dbt"
# the Spark steps, and what each one's rate counts (from the run's reconciliation report)
SPARK_RATES = {
    "spark_ingest": ("input_rows", "rows/s"),
    "spark_explode": ("events_written", "events/s"),
    "spark_aggregate_load": ("events_written", "events/s"),
}
POLL_SECONDS = 0.5


def log_path(year: int) -> Path:
    """A new log file name for a run of `year`: MEDIDASH_HOME/logs/run-<year>-<UTC time>.log."""
    stamp = datetime.now().astimezone().strftime("%Y%m%dT%H%M%S")
    folder = settings.home() / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"run-{year}-{stamp}-{os.getpid()}.log"


@dataclass
class TaskLine:
    """One line of the run's progress: a task (or the dbt task group), its state, how long
    it ran, and for a Spark step its rate."""

    name: str
    state: str
    seconds: float
    rate: str = ""
    detail: str = ""

    def render(self) -> str:
        text = f"  {self.name:<22}{self.state:<16}{self.seconds:>8.1f} s"
        if self.rate:
            text += f"   {self.rate}"
        if self.detail:
            text += f"   {self.detail}"
        return text


class RunConsole:
    """Context manager: while open, fds 1 and 2 write to the run's log file, and `say` and the
    task watcher write to the real terminal."""

    def __init__(self, year: int, *, verbose: bool = False):
        self.log = log_path(year)
        self.verbose = verbose
        self._saved: tuple[int, int] | None = None
        self._tee: threading.Thread | None = None
        self.out: TextIO = sys.stdout
        self.err: TextIO = sys.stderr
        self.tty = False

    def __enter__(self) -> RunConsole:
        sys.stdout.flush()
        sys.stderr.flush()
        self._saved = (os.dup(1), os.dup(2))
        self.out = os.fdopen(os.dup(self._saved[0]), "w", buffering=1)
        self.err = os.fdopen(os.dup(self._saved[1]), "w", buffering=1)
        self.tty = self.out.isatty() and not self.verbose
        log_fd = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if self.verbose:
            read_end, write_end = os.pipe()
            self._tee = threading.Thread(
                target=_tee, args=(read_end, log_fd, self._saved[0]), daemon=True
            )
            self._tee.start()
            target = write_end
        else:
            target = log_fd
        os.dup2(target, 1)
        os.dup2(target, 2)
        os.close(target)
        return self

    def __exit__(self, *exc) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        if exc[0] is not None:
            import traceback

            traceback.print_exception(*exc)  # into the log, before the fds are given back
            sys.stderr.flush()
        saved_out, saved_err = self._saved
        os.dup2(saved_out, 1)  # closes the last write end of the pipe: the tee ends
        os.dup2(saved_err, 2)
        os.close(saved_out)
        os.close(saved_err)
        if self._tee is not None:
            self._tee.join(timeout=10)

    def say(self, text: str = "", *, error: bool = False) -> None:
        """A line for the person running the command (stderr for an error)."""
        (self.err if error else self.out).write(text + "\n")

    def watch(self, airflow_db: Path, dag_id: str, lake: str) -> TaskWatcher:
        return TaskWatcher(self, airflow_db, dag_id, lake)


def _tee(read_end: int, log_fd: int, terminal_fd: int) -> None:
    """Copy what the run writes to fds 1/2 into the log file and onto the terminal."""
    with os.fdopen(read_end, "rb", buffering=0) as source:
        while chunk := source.read(65536):
            os.write(log_fd, chunk)
            os.write(terminal_fd, chunk)
    os.close(log_fd)


class TaskWatcher:
    """A thread that follows the newest run of `dag_id` in Airflow's metadata database (one
    begun after it starts) and prints a line for each task as it ends; the dbt task group is
    one line. Used as a context manager around `dag.test()`."""

    def __init__(self, console: RunConsole, airflow_db: Path, dag_id: str, lake: str):
        self.console = console
        self.airflow_db = airflow_db
        self.dag_id = dag_id
        self.lake = lake
        self.lines: dict[str, TaskLine] = {}
        self._printed: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._after_id = self._query("select coalesce(max(id), 0) from dag_run", ())
        self._after_id = self._after_id[0][0] if self._after_id else 0
        self._live = ""

    def __enter__(self) -> TaskWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._poll(final=True)
        self._show_live("")

    def _query(self, sql: str, params: tuple) -> list[tuple]:
        try:
            conn = sqlite3.connect(f"file:{self.airflow_db}?mode=ro", uri=True, timeout=2)
            try:
                return conn.execute(sql, params).fetchall()
            finally:
                conn.close()
        except sqlite3.Error:
            return []  # locked or not created yet: the next poll reads it

    def _loop(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            self._poll(final=False)

    def _poll(self, *, final: bool) -> None:
        run = self._query(
            "select run_id from dag_run where dag_id = ? and id > ? order by id desc limit 1",
            (self.dag_id, self._after_id),
        )
        if not run:
            return
        airflow_run_id = run[0][0]
        rows = self._query(
            "select task_id, state, start_date, end_date, duration from task_instance "
            "where dag_id = ? and run_id = ? order by start_date is null, start_date, task_id",
            (self.dag_id, airflow_run_id),
        )
        now = datetime.now(UTC).replace(tzinfo=None)
        dbt = [r for r in rows if r[0].startswith(DBT_GROUP + ".")]
        tasks = [r for r in rows if not r[0].startswith(DBT_GROUP + ".")]
        running: list[TaskLine] = []
        for task_id, state, start, end, duration in tasks:
            line = TaskLine(task_id, state or "waiting", _seconds(start, end, duration, now))
            if line.state in FINISHED:
                if task_id not in self._printed:
                    line.rate = self._rate(task_id, airflow_run_id, line)
                    self.lines[task_id] = line
                    self._print(line)
            elif start or final:
                self.lines[task_id] = line
                running.append(line)
        if dbt:
            group = self._dbt_line(dbt, now)
            if group.state in FINISHED or (final and group.state != "waiting"):
                if DBT_GROUP not in self._printed:
                    self.lines[DBT_GROUP] = group
                    self._print(group)
            elif group.state != "waiting":
                running.append(group)
        if final:
            for line in running:
                if line.name not in self._printed:
                    self._print(line)
        else:
            self._show_live(running[0].render() if running else "")

    def _dbt_line(self, rows: list[tuple], now: datetime) -> TaskLine:
        """The dbt task group as one line: failed if one failed, done when all ended."""
        states = [r[1] or "waiting" for r in rows]
        starts = [r[2] for r in rows if r[2]]
        ends = [r[3] for r in rows if r[3]]
        done = sum(s in FINISHED for s in states)
        if "failed" in states:
            state = "failed"
        elif done == len(states):
            if "upstream_failed" in states:
                state = "upstream_failed"
            else:
                state = "skipped" if set(states) == {"skipped"} else "success"
        else:
            state = "running" if starts else "waiting"
        seconds = 0.0
        if starts:
            last = max(ends) if state in FINISHED and ends else None
            seconds = _seconds(min(starts), last, None, now)
        current = [r[0].split(".", 1)[1] for r in rows if r[1] == "running"]
        detail = f"{done}/{len(states)} models and tests"
        if current and state not in FINISHED:
            detail += f" ({current[0]})"
        return TaskLine(DBT_GROUP, state, seconds, detail=detail)

    def _rate(self, task_id: str, airflow_run_id: str, line: TaskLine) -> str:
        """rows/s or events/s of a Spark step that succeeded, from the run's reconciliation
        report in the lake (written by the steps themselves)."""
        if task_id not in SPARK_RATES or line.state != "success" or line.seconds <= 0:
            return ""
        from medidash.orchestration.tasks import lake_s3_client, safe_run_id
        from spark_jobs.jobs import read_reconciliation

        key, unit = SPARK_RATES[task_id]
        try:
            report = read_reconciliation(
                self.lake, safe_run_id(airflow_run_id), lake_s3_client(self.lake)
            )
        except (OSError, ValueError):
            return ""
        count = sum(int(entry.get(key) or 0) for entry in report.values())
        return f"{count / line.seconds:,.0f} {unit}" if count else ""

    def _print(self, line: TaskLine) -> None:
        self._printed.add(line.name)
        self._show_live("")
        self.console.say(line.render())

    def _show_live(self, text: str) -> None:
        """On a terminal: the running task's line, redrawn in place."""
        if not self.console.tty or text == self._live:
            return
        self.console.out.write("\r\x1b[K" + text)
        self.console.out.flush()
        self._live = text


def _seconds(start: str | None, end: str | None, duration: float | None, now: datetime) -> float:
    if duration is not None:
        return float(duration)
    if not start:
        return 0.0
    finish = _parse(end) if end else now
    return max(0.0, (finish - _parse(start)).total_seconds())


def _parse(stamp: str) -> datetime:
    """A timestamp as Airflow's SQLite database stores it (UTC, no zone)."""
    return datetime.fromisoformat(stamp.split("+")[0])


def summary(console: RunConsole, outcome, database_url: str, year: int, seconds: float) -> None:
    """After the run: on success the reconciliation table, the marts' row counts for the
    year and where to look next; on failure the failing task's own error, then the log."""
    if outcome.state in ("failed", "refused"):
        where = f" in {outcome.failed_task}" if outcome.failed_task else ""
        console.say(f"medidash run failed{where}: {outcome.message}", error=True)
        console.say(f"log: {console.log}", error=True)
        return
    console.say(f"\nmedidash run {outcome.state} in {seconds:.0f} s (run id {outcome.run_id})")
    if outcome.state == "skipped":
        console.say(
            "The release is unchanged since the last successful run: nothing to do "
            "(use --force to load it again)."
        )
    else:
        reconciliation, marts = _warehouse_counts(database_url, outcome.run_id, year)
        if reconciliation:
            console.say(
                f"\n  {'dataset':<14}{'input':>12}{'valid':>12}{'dups':>8}{'filtered':>10}"
                f"{'quarantined':>13}{'events':>16}"
            )
            for d, i, v, du, f, q, e in reconciliation:
                console.say(f"  {d:<14}{i:>12,}{v:>12,}{du:>8,}{f:>10,}{q:>13,}{(e or 0):>16,}")
        if marts:
            console.say(f"\n  {'mart':<26}{f'rows of {year}':>14}")
            for name, rows in marts:
                console.say(f"  {name:<26}{rows:>14,}")
    docs = settings.DBT_PROJECT_DIR / "target" / "static_index.html"
    console.say("\nDashboard: medidash serve  (http://127.0.0.1:8050)")
    console.say(f"dbt docs:  medidash docs  ({docs})")
    console.say(f"log:       {console.log}")


def _warehouse_counts(database_url: str, run_id: str, year: int):
    """The run's reconciliation rows and each mart's row count for `year`."""
    import psycopg
    from psycopg import sql

    from medidash.orchestration.constants import MARTS

    with psycopg.connect(database_url) as conn:
        reconciliation = conn.execute(
            "select dataset, input_rows, valid_rows, duplicate_rows, filtered_rows, "
            "quarantined_rows, events_written from ops.reconciliation where run_id = %s "
            "order by dataset",
            (run_id,),
        ).fetchall()
        marts = []
        for name in MARTS:
            query = sql.SQL("select count(*) from marts.{} where data_year = %s").format(
                sql.Identifier(name)
            )
            try:
                marts.append((name, conn.execute(query, (year,)).fetchone()[0]))
            except psycopg.Error:
                conn.rollback()  # a mart missing: the others still count
    return reconciliation, marts
