"""`medidash demo`'s last step serves the dashboard in a process that has just run the DAG, so
Airflow is loaded there and its logging configured (airflow.logging_config gives gunicorn's
error logger a handler of its own): every line gunicorn prints after "dashboard at" must still
appear once, as with `medidash serve`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from medidash.ports import free_port

# the demo process after its run: Airflow imported (and with it its logging set up), then served
AFTER_A_RUN = """
import sys
import airflow  # noqa: F401 - what `medidash run` leaves loaded in the demo's process
from medidash.orchestration import demo

sys.exit(demo.serve_dashboard(int(sys.argv[1])))
"""


def test_the_demo_prints_each_dashboard_line_once(warehouse, tmp_path):
    port = free_port()
    out = tmp_path / "demo.out"
    with open(out, "w") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-c", AFTER_A_RUN, str(port)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={
                **os.environ,
                "AIRFLOW_HOME": str(tmp_path / "airflow"),
                "MEDIDASH_DASHBOARD_DATABASE_URL": warehouse.dashboard_url,
                "MEDIDASH_DASHBOARD_WORKERS": "1",
            },
        )
    try:
        deadline = time.monotonic() + 60
        while "Booting worker" not in out.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, out.read_text()
            time.sleep(0.2)
        for _ in range(100):  # the worker answers once it has built the app
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/docs", timeout=5)
                break
            except urllib.error.HTTPError:
                break  # an answer all the same (no docs site built here)
            except OSError:
                time.sleep(0.2)
        time.sleep(1)  # the access line is written after the response
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C, as a person stops the demo
        proc.wait(timeout=60)
    text = out.read_text()
    lines = text.splitlines()
    served = lines[next(i for i, line in enumerate(lines) if "dashboard at" in line) :]
    for marker in ("Listening at", "Booting worker", "GET /docs"):
        assert sum(marker in line for line in served) == 1, text
    assert len(set(served)) == len(served), text
    assert proc.returncode == 0, text
