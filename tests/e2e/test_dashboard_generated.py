"""The provider, code, drug and geography pages on a *generated* release with two years loaded
(2022 and 2023 through the three Spark steps and dbt), in Chromium: the figures each page shows
equal the marts, the trend shows the change between the two years, and no request leaves the
machine. With MEDIDASH_SCREENSHOTS=1 these cases write the README's screenshots of the
provider, code, drug and state pages to docs/screenshots/ (from this generated release)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from urllib.parse import quote, urlsplit

import psycopg
import pytest

from medidash.ports import free_port
from medidash.warehouse import EmbeddedServer
from tests.e2e.test_dashboard_pages import _new_page, browser, pctile_text, settle, shot, title
from tests.reliability import harness as h

pytestmark = pytest.mark.slow
__all__ = ["browser"]  # the module's one Chromium, shared with test_dashboard_pages' helpers

YEARS = (2022, 2023)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Two generated years in one warehouse, and `medidash serve` over them."""
    root = tmp_path_factory.mktemp("generated")
    server = EmbeddedServer(root / "pg")
    wh = server.start()
    proc = None
    try:
        for year in YEARS:
            release = h.generate(root / f"release-{year}", year, scale=0.0005, seed=year)
            h.run_pipeline(release=release, year=year, lake=root / "lake", run_id=f"g{year}",
                           url=wh.url)  # fmt: skip
        h.dbt_build(wh.url)
        port = free_port()
        log = open(root / "serve.log", "w")  # noqa: SIM115
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "medidash.cli",
                "serve",
                "--database-url",
                wh.dashboard_url,
                "--port",
                str(port),
            ],  # fmt: skip
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "MEDIDASH_DASHBOARD_WORKERS": "1"},
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((root / "serve.log").read_text()) from None
                time.sleep(0.3)
        with psycopg.connect(wh.url, autocommit=True) as conn:
            yield base, conn
    finally:
        if proc is not None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        server.stop()


@pytest.fixture
def open_page(browser, generated):
    base, _ = generated
    opened = []

    def opener(path: str):
        context, pg = _new_page(browser)
        opened.append((context, pg))
        pg.goto(base + path)
        settle(pg)
        return pg

    yield opener
    for context, pg in opened:
        offsite = [u for u in pg.requests if urlsplit(u).hostname not in ("127.0.0.1", None)]
        assert offsite == [], f"requests left the machine: {offsite}"
        assert pg.errors == []
        context.close()


def test_provider_page_shows_the_marts_peer_position(open_page, generated, artifacts_dir):
    _, marts = generated
    npi, name, *pctiles = marts.execute(
        "select npi, display_name, paid_pctile_state, paid_pctile_nation, claims_pctile_nation "
        "from marts.providers where data_year = 2023 and paid_pctile_state is not null "
        "and claims_pctile_nation is not null order by paid_amount desc, npi limit 1"
    ).fetchone()
    pg = open_page(f"/?npi={npi}&year=2023")
    assert title(pg, name) == name
    shown = [
        pg.inner_text(f"#{bar} .pctile-value")
        for bar in ("peer-paid-state", "peer-paid-nation", "peer-claims-nation")
    ]
    assert shown == [pctile_text(v) for v in pctiles]
    code = marts.execute(
        "select hcpcs_code from marts.provider_procedures where data_year = 2023 and npi = %s "
        "order by event_count desc, hcpcs_code limit 1",
        (npi,),
    ).fetchone()[0]
    assert code in pg.inner_text("#provider-procedures-table")
    shot(pg, "provider", artifacts_dir)


def test_code_and_drug_pages_show_the_national_figures(open_page, generated, artifacts_dir):
    _, marts = generated
    code, events = marts.execute(
        "select hcpcs_code, event_count from marts.procedure_counts where data_year = 2023 "
        "and geo_level = 'nation' order by event_count desc, hcpcs_code limit 1"
    ).fetchone()
    pg = open_page(f"/?hcpcs={code}&year=2023")
    title(pg, f"HCPCS {code}")
    assert pg.inner_text("#summary-events strong") == f"{events:,}"
    pg.wait_for_selector("#code-providers-table")
    shot(pg, "code", artifacts_dir)
    drug, claims = marts.execute(
        "select generic_name, claim_count from marts.prescription_counts where data_year = 2023 "
        "and geo_level = 'nation' order by claim_count desc, generic_name limit 1"
    ).fetchone()
    pg = open_page(f"/?drug={quote(drug)}&year=2023")
    title(pg, drug)
    assert pg.inner_text("#summary-claims strong") == f"{claims:,}"
    shot(pg, "drug", artifacts_dir)


def test_a_state_shows_its_trend_over_the_two_years(open_page, generated, artifacts_dir):
    _, marts = generated
    state, before, now = marts.execute(
        "select a.geo_id, a.procedure_events, b.procedure_events from marts.geo_summary a "
        "join marts.geo_summary b on b.geo_level = a.geo_level and b.geo_id = a.geo_id "
        "and b.data_year = 2023 where a.data_year = 2022 and a.geo_level = 'state' "
        "and a.procedure_events > 0 order by b.procedure_events desc, a.geo_id limit 1"
    ).fetchone()
    pg = open_page(f"/?state={state}")
    pg.wait_for_selector("#trend .trend-table")
    change = 100 * (now - before) / before
    assert pg.inner_text("#trend .change-procedure_events") == f"{change:+,.1f} %"
    assert pg.inner_text("#summary-events strong") == f"{now:,}"
    shot(pg, "state", artifacts_dir)
