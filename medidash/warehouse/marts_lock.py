"""One run at a time builds the marts: from replacing its year in `landing` to its end, a run
holds the warehouse's marts lock (`ops.marts_lock`, one row), and a run of another year
waits for it.

Why a lock and not a dbt schema per run: the marts are whole tables holding every loaded
year, rebuilt from `landing`. Two runs building at once would each publish a set built from
the landing they saw; the one publishing last could hold the other's year as it was before
(a lost update), and a build that sees another run replace its year in `landing` half-way
through mixes two releases of that year across its tables. Holding the lock from that replace
on, each build reads a landing no one changes, and the last build includes every year.

The lock spans several Airflow tasks (the load, the dbt models, the publish, the docs), so it
is a row, not a session lock. Its holder owns it while its `ops.pipeline_runs` row says
`running` and is younger than the stale limit; a run that failed, succeeded or died stops
holding it without any cleanup (the DAG's last task also deletes it). Runs without a
`pipeline_runs` row (a Spark step started by hand or by the tests' harness) never wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from medidash.contract import STALE_RUN

POLL_SECONDS = 2.0
REPORT_EVERY_SECONDS = 60.0


def _holder(conn, run_id: str) -> tuple[str, int] | None:
    """The live run other than `run_id` holding the lock, as (run id, data year), or None."""
    return conn.execute(
        "select l.run_id, l.data_year from ops.marts_lock l "
        "join ops.pipeline_runs r on r.run_id = l.run_id "
        "where l.run_id <> %s and r.status = 'running' and r.started_at > now() - %s",
        (run_id, STALE_RUN),
    ).fetchone()


def acquire(url: str, run_id: str, year: int, say: Callable[[str], None] = print) -> float:
    """Take the marts lock for the run (re-entrant: a retried task of the holder takes it
    again at once), waiting while another live run holds it. Returns the seconds waited."""
    import psycopg

    started = time.monotonic()
    reported = None
    while True:
        with psycopg.connect(url) as conn:
            conn.execute("lock table ops.marts_lock in exclusive mode")
            holder = _holder(conn, run_id)
            if holder is None:
                conn.execute("delete from ops.marts_lock")
                conn.execute(
                    "insert into ops.marts_lock (run_id, data_year) values (%s, %s)",
                    (run_id, year),
                )
                waited = time.monotonic() - started
                if reported is not None:
                    say(f"marts lock taken after waiting {waited:.0f} s")
                return waited
        now = time.monotonic()
        if reported is None or now - reported >= REPORT_EVERY_SECONDS:
            say(
                f"waiting for run {holder[0]} (data year {holder[1]}) to finish building the "
                f"marts before replacing {year}'s landing rows"
            )
            reported = now
        time.sleep(POLL_SECONDS)


def release(url: str, run_id: str) -> None:
    """Give the lock up if the run holds it."""
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute("delete from ops.marts_lock where run_id = %s", (run_id,))
