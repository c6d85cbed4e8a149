"""Whole-run benchmark (issue 18 item 4): `medidash run` end to end on a generated release,
what a user waits for, with every task's wall time as Airflow recorded it and the peak memory
of every process of the run.

- The run is `medidash run --force` in a subprocess, into its own lake and the bench's
  warehouse (MEDIDASH_DATABASE_URL), timed from its start to its exit.
- Task times come from Airflow's metadata database of the run's home (HOME/airflow/airflow.db,
  `medidash.orchestration.run.airflow_env`): the task instances of the run's DAG run, with
  their start_date, end_date, duration, state and try_number.
- Memory is sampled every half second (PSS, so that pages shared between processes, such as
  PostgreSQL's shared buffers, count once) over the run's process tree and the embedded
  PostgreSQL server's, by kind: `spark` (every JVM and the processes it starts: the PySpark
  driver and workers), `postgresql`, and the run's own process, which runs the DAG
  (`dag.test()`) and, through cosmos' dbt runner, dbt in the same interpreter: its memory is
  `dbt` while a dbt task runs and `airflow` otherwise (as are its other child processes).
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

from medidash import settings
from medidash.benchmarks.sampling import Sampler

YEAR = 2023
INTERVAL = 0.5
DBT_GROUP = "dbt"  # the DAG's dbt task group: its tasks are dbt.<model>.<run|test>
KINDS = ("spark", "postgresql", "dbt", "airflow")


def _postmaster() -> psutil.Process | None:
    """The embedded PostgreSQL server of the bench's home, if it is the one running."""
    from medidash.warehouse import EmbeddedServer

    pid_file = EmbeddedServer().data / "postmaster.pid"
    try:
        return psutil.Process(int(pid_file.read_text().split()[0]))
    except (OSError, ValueError, IndexError, psutil.Error):
        return None


def _memory(process: psutil.Process) -> int:
    try:
        return process.memory_full_info().pss
    except psutil.AccessDenied:
        return process.memory_info().rss


def _spark_launcher(process: psutil.Process) -> bool:
    """spark-submit's shell scripts, before they exec the JVM."""
    if process.name() not in ("bash", "sh", "dash"):
        return False
    return any(Path(part).name in ("spark-submit", "spark-class") for part in process.cmdline())


class ProcessSampler(Sampler):
    """Samples (time, pid, kind, bytes) of the run's processes until stopped; `kind` is final
    but for the run's own process, which `peaks` splits between dbt and Airflow."""

    def __init__(self, run: psutil.Process, postmaster: psutil.Process | None):
        super().__init__(INTERVAL)
        self.run, self.postmaster = run, postmaster
        self.samples: list[tuple[float, int, str, int]] = []

    def _kinds(self) -> dict[psutil.Process, str]:
        kinds = {self.run: "run"}
        processes, parent, jvm = {}, {}, set()
        for child in self.run.children(recursive=True):
            try:
                parent[child.pid] = child.ppid()
                processes[child.pid] = child
                if child.name() == "java" or _spark_launcher(child):
                    jvm.add(child.pid)
            except psutil.Error:
                continue

        def under_jvm(pid: int) -> bool:
            while pid in parent:  # up to the run's own process, which is not in the map
                if pid in jvm:
                    return True
                pid = parent[pid]
            return False

        for pid, process in processes.items():
            kinds[process] = "spark" if under_jvm(pid) else "airflow"
        if self.postmaster is not None:
            kinds[self.postmaster] = "postgresql"
            for child in self.postmaster.children(recursive=True):
                kinds[child] = "postgresql"
        return kinds

    def sample(self) -> None:
        now = time.time()
        try:
            kinds = self._kinds()
        except psutil.Error:
            kinds = {}
        for process, kind in kinds.items():
            try:
                self.samples.append((now, process.pid, kind, _memory(process)))
            except psutil.Error:
                pass

    def peaks(self, dbt_windows: list[tuple[float, float]]) -> dict:
        """Per kind: the peak of its processes' memory summed at one instant, its largest
        process, and how many processes it had; and the peak of the whole run."""
        at: dict[float, dict[str, int]] = {}
        largest: dict[str, int] = dict.fromkeys(KINDS, 0)
        pids: dict[str, set[int]] = {kind: set() for kind in KINDS}
        for now, pid, kind, size in self.samples:
            if kind == "run":
                in_dbt = any(start <= now <= end for start, end in dbt_windows)
                kind = "dbt" if in_dbt else "airflow"
            at.setdefault(now, dict.fromkeys(KINDS, 0))[kind] += size
            largest[kind] = max(largest[kind], size)
            pids[kind].add(pid)
        gib = 2**30
        return {
            "peak_memory_gib": round(
                max((sum(v.values()) for v in at.values()), default=0) / gib, 2
            ),
            "by_kind": {
                kind: {
                    "peak_gib": round(max((v[kind] for v in at.values()), default=0) / gib, 2),
                    "largest_process_gib": round(largest[kind] / gib, 2),
                    "processes": len(pids[kind]),
                }
                for kind in KINDS
            },
        }


def _stamp(value: str | None) -> float | None:
    """A timestamp as Airflow's SQLite database stores it (UTC, no zone), in epoch seconds."""
    if not value:
        return None
    return datetime.fromisoformat(value.split("+")[0]).replace(tzinfo=UTC).timestamp()


def airflow_tasks(airflow_db: Path, dag_id: str, since: float) -> tuple[str, list[dict]]:
    """The last DAG run of `dag_id` started after `since` and its task instances, as Airflow
    recorded them."""
    conn = sqlite3.connect(f"file:{airflow_db}?mode=ro", uri=True, timeout=30)
    try:
        runs = conn.execute(
            "select run_id, start_date from dag_run where dag_id = ? order by id desc limit 1",
            (dag_id,),
        ).fetchall()
        if not runs or (_stamp(runs[0][1]) or 0) < since:
            raise RuntimeError(f"no run of {dag_id} in {airflow_db} since the bench started it")
        run_id = runs[0][0]
        rows = conn.execute(
            "select task_id, map_index, state, try_number, start_date, end_date, duration "
            "from task_instance where dag_id = ? and run_id = ? "
            "order by start_date is null, start_date, task_id",
            (dag_id, run_id),
        ).fetchall()
    finally:
        conn.close()
    tasks = [
        {
            "task_id": task_id if map_index < 0 else f"{task_id}[{map_index}]",
            "state": state,
            "try_number": tries,
            "start": _stamp(start),
            "end": _stamp(end),
            "seconds": round(duration, 2) if duration is not None else None,
        }
        for task_id, map_index, state, tries, start, end, duration in rows
    ]
    return run_id, tasks


def run(release: Path, workdir: Path, year: int = YEAR) -> dict:
    """`medidash run` of `release` (a folder) as data year `year`, timed, with the per-task
    breakdown and peak memory; raises when the run fails."""
    from medidash.orchestration.constants import DAG_ID

    workdir.mkdir(parents=True, exist_ok=True)
    lake = workdir / "lake"
    shutil.rmtree(lake, ignore_errors=True)
    log = workdir / "medidash-run.out"
    command = [
        sys.executable, "-m", "medidash.cli", "run", "--input", str(release),
        "--year", str(year), "--lake", str(lake), "--force",
    ]  # fmt: skip
    started = time.time()
    with open(log, "w") as out:
        process = subprocess.Popen(
            command, cwd=settings.PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT
        )
        with ProcessSampler(psutil.Process(process.pid), _postmaster()) as sampler:
            code = process.wait()
    seconds = time.time() - started
    if code != 0:
        tail = log.read_text()[-3000:]
        raise RuntimeError(f"medidash run exited {code} (log: {log}):\n{tail}")

    airflow_db = settings.home() / "airflow" / "airflow.db"
    run_id, tasks = airflow_tasks(airflow_db, DAG_ID, started)
    dbt = [t for t in tasks if t["task_id"].startswith(DBT_GROUP + ".")]
    windows = [(t["start"], t["end"]) for t in dbt if t["start"] and t["end"]]
    starts = [t["start"] for t in tasks if t["start"]]
    ends = [t["end"] for t in tasks if t["end"]]
    dbt_span = max(e for _, e in windows) - min(s for s, _ in windows) if windows else 0.0
    figures = {
        "scale": _scale(release),
        "airflow_run_id": run_id,
        "wall_seconds": round(seconds, 1),
        # from the command's start to the first task's, and from the last task's end to exit:
        # Airflow's start-up and migration, dbt's parse, the DAG's load, the summary
        "before_first_task_seconds": round(min(starts) - started, 1) if starts else None,
        "after_last_task_seconds": round(started + seconds - max(ends), 1) if ends else None,
        "dbt_tasks": len(dbt),
        "dbt_span_seconds": round(dbt_span, 1),
        "dbt_task_seconds_sum": round(sum(t["seconds"] or 0 for t in dbt), 1),
        "tasks": [
            {**t, "start": _offset(t["start"], started), "end": _offset(t["end"], started)}
            for t in tasks
        ],
    }
    for task in tasks:
        if not task["task_id"].startswith(DBT_GROUP + "."):
            figures[f"{task['task_id']}_seconds"] = task["seconds"]
    memory = sampler.peaks(windows)
    figures["peak_memory_gib"] = memory["peak_memory_gib"]
    for kind, peak in memory["by_kind"].items():
        figures[f"peak_memory_{kind}_gib"] = peak["peak_gib"]
    figures["memory_by_kind"] = memory["by_kind"]
    figures["log"] = str(log)
    return figures


def _offset(stamp: float | None, started: float) -> float | None:
    """Seconds since the command started (what the report's timeline shows)."""
    return round(stamp - started, 1) if stamp is not None else None


def _scale(release: Path) -> float | None:
    import json

    try:
        return json.loads((release / "manifest.json").read_text())["scale"]
    except (OSError, KeyError, ValueError):
        return None


def markdown(figures: dict) -> list[str]:
    """The report's section: the run's time and memory, every task but dbt's one by one, dbt's
    as a group with its five longest."""
    lines = [
        f"## whole run (`medidash run`, scale {figures['scale']}): {figures['wall_seconds']} s, "
        f"peak {figures['peak_memory_gib']} GiB",
        "",
        f"Before the first task: {figures['before_first_task_seconds']} s; after the last: "
        f"{figures['after_last_task_seconds']} s. Airflow run `{figures['airflow_run_id']}`.",
        "",
        "| task | state | tries | starts at s | seconds |",
        "|---|---|---|---|---|",
    ]
    dbt = [t for t in figures["tasks"] if t["task_id"].startswith(DBT_GROUP + ".")]
    first_dbt = min((t["start"] for t in dbt if t["start"] is not None), default=None)
    for task in figures["tasks"]:
        if task in dbt:
            continue
        lines.append(
            f"| {task['task_id']} | {task['state']} | {task['try_number']} | {task['start']} | "
            f"{task['seconds']} |"
        )
    if dbt:
        lines.append(
            f"| dbt ({figures['dbt_tasks']} tasks; span) | | | {first_dbt} | "
            f"{figures['dbt_span_seconds']} |"
        )
        for task in sorted(dbt, key=lambda t: -(t["seconds"] or 0))[:5]:
            lines.append(
                f"| &nbsp;&nbsp;{task['task_id']} | {task['state']} | {task['try_number']} | "
                f"{task['start']} | {task['seconds']} |"
            )
    lines += ["", "| process kind | peak GiB (summed) | largest process GiB | processes |"]
    lines.append("|---|---|---|---|")
    for kind, peak in figures["memory_by_kind"].items():
        lines.append(
            f"| {kind} | {peak['peak_gib']} | {peak['largest_process_gib']} | {peak['processes']} |"
        )
    lines.append("")
    return lines
