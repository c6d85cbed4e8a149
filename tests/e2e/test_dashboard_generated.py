"""The provider, code, drug and geography pages on a *generated* release with two years loaded
(2022 and 2023 through the three Spark steps and dbt), in Chromium: the figures each page shows
equal the marts, the trend shows the change between the two years, the interactions (a code
opened from a provider's table, a provider from a code's, a shared URL reopened, a full CSV
export) work, and no request leaves the machine. With MEDIDASH_SCREENSHOTS=1 these cases write the README's screenshots of the
provider, code, drug and state pages to docs/screenshots/ (from this generated release)."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from urllib.parse import quote, urlsplit

import psycopg
import pytest

from medidash.ports import free_port
from medidash.warehouse import EmbeddedServer
from tests.e2e.test_dashboard_pages import (
    _new_page,
    browser,
    click_to,
    column,
    map_paid_per_clinician,
    pctile_text,
    query,
    settle,
    shot,
    sort_until,
    title,
)
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
                "--port",
                str(port),
            ],  # fmt: skip
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={
                **os.environ,
                "MEDIDASH_DASHBOARD_DATABASE_URL": wh.dashboard_url,
                "MEDIDASH_DASHBOARD_WORKERS": "1",
            },
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
        if path.startswith(base):
            path = path[len(base) :]
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


def assert_change(pg, measure: str, before, now) -> None:
    """The trend shows the change of `measure` between the two years' marts."""
    change = 100 * (now - before) / before
    assert pg.inner_text(f"#trend .change-{measure}") == f"{change:+,.1f} %"


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
    assert_change(pg, "procedure_events", before, now)
    assert pg.inner_text("#summary-events strong") == f"{now:,}"
    shot(pg, "state", artifacts_dir)


def test_a_code_opened_from_a_provider_then_a_provider_from_the_code(open_page, generated):
    _, marts = generated
    npi, name = marts.execute(
        "select npi, display_name from marts.providers where data_year = 2023 "
        "and display_name is not null order by paid_amount desc, npi limit 1"
    ).fetchone()
    code = marts.execute(
        "select hcpcs_code from marts.provider_procedures where data_year = 2023 and npi = %s "
        "order by event_count desc, hcpcs_code limit 1",
        (npi,),
    ).fetchone()[0]
    pg = open_page(f"/?npi={npi}&year=2023")
    title(pg, name)
    click_to(
        pg,
        f"#provider-procedures-table td[data-dash-column=hcpcs_code] >> text={code}",
        f"**hcpcs={code}**",
    )
    title(pg, f"HCPCS {code}")
    events, paid, allowed = marts.execute(
        "select event_count, paid_amount, allowed_amount from marts.procedure_counts "
        "where data_year = 2023 and geo_level = 'nation' and hcpcs_code = %s",
        (code,),
    ).fetchone()
    assert pg.inner_text("#summary-events strong") == f"{events:,}"
    assert pg.inner_text("#summary-paid strong") == f"${paid:,.0f}"
    assert pg.inner_text("#summary-allowed strong") == f"${allowed:,.0f}"
    # the code's providers, most events first: the first one's page, with its own figures
    other, other_name, other_paid = marts.execute(
        "select pp.npi, p.display_name, p.paid_amount from marts.provider_procedures pp "
        "join marts.providers p on p.data_year = pp.data_year and p.npi = pp.npi "
        "where pp.data_year = 2023 and pp.hcpcs_code = %s "
        "order by pp.event_count desc, pp.npi limit 1",
        (code,),
    ).fetchone()
    pg.wait_for_selector("#code-providers-table td[data-dash-column=npi]")
    assert column(pg, "code-providers", "npi")[0] == other
    click_to(
        pg, f"#code-providers-table td[data-dash-column=npi] >> text={other}", f"**npi={other}**"
    )
    assert title(pg, other_name or "–").startswith(other_name or "–")
    assert pg.inner_text("#summary-paid strong") == f"${other_paid:,.0f}"


def test_drug_page_equals_the_mart(open_page, generated):
    _, marts = generated
    drug, claims, cost, days = marts.execute(
        "select generic_name, claim_count, drug_cost, day_supply from marts.prescription_counts "
        "where data_year = 2023 and geo_level = 'nation' "
        "order by drug_cost desc, generic_name limit 1"
    ).fetchone()
    pg = open_page(f"/?drug={quote(drug)}&year=2023")
    title(pg, drug)
    assert pg.inner_text("#summary-claims strong") == f"{claims:,}"
    assert pg.inner_text("#summary-cost strong") == f"${cost:,.0f}"
    assert pg.inner_text("#summary-days strong") == f"{days:,}"
    per_claim = cost / claims  # whole dollars from $100 up, cents below
    assert pg.inner_text("#summary-cost-per-claim strong") == (
        f"${per_claim:,.0f}" if per_claim >= 100 else f"${per_claim:,.2f}"
    )


def test_a_codes_trend_shows_the_change_between_the_two_years(open_page, generated):
    _, marts = generated
    # a code billed in both years: its national change between them
    code, before, now, paid_before, paid_now = marts.execute(
        "select a.hcpcs_code, a.event_count, b.event_count, a.paid_amount, b.paid_amount "
        "from marts.procedure_counts a join marts.procedure_counts b "
        "on b.geo_level = a.geo_level and b.geo_id = a.geo_id "
        "and b.hcpcs_code = a.hcpcs_code and b.data_year = 2023 "
        "where a.data_year = 2022 and a.geo_level = 'nation' and a.event_count > 0 "
        "and a.paid_amount > 0 order by b.event_count desc, a.hcpcs_code limit 1"
    ).fetchone()
    pg = open_page(f"/?hcpcs={code}&year=2023")
    pg.wait_for_selector("#trend .trend-table")
    assert_change(pg, "event_count", before, now)
    assert_change(pg, "paid_amount", paid_before, paid_now)


def test_a_shared_url_reopens_the_same_view(open_page, generated):
    _, marts = generated
    state = marts.execute(
        "select state from marts.providers where data_year = 2023 and state is not null "
        "group by state order by count(*) desc, state limit 1"
    ).fetchone()[0]
    pg = open_page(f"/?state={state}&year=2022")
    pg.wait_for_selector("#providers-table td[data-dash-column=npi]")
    map_paid_per_clinician(pg)
    sort_until(pg, "providers", "npi")
    settle(pg)  # a second click before the table has taken the first sorts the same way again
    sort_until(pg, "providers", "-npi")
    settle(pg)
    if pg.locator("#providers-table button.next-page:not([disabled])").count():
        click_to(pg, "#providers-table button.next-page", "**providers.page=2**")
        settle(pg)
    shown = column(pg, "providers", "npi")
    listed = [
        npi
        for (npi,) in marts.execute(
            "select npi from marts.providers where data_year = 2022 and state = %s "
            "order by coalesce(paid_amount, 0) desc, prescription_claims desc, npi limit 100",
            (state,),
        )
    ]
    page = int(query(pg).get("providers.page", 1))
    assert shown == sorted(listed, reverse=True)[(page - 1) * 15 : page * 15]
    colorbar = pg.locator("#us-map .colorbar").text_content()
    other = open_page(pg.url)  # a new browser context: nothing kept but the link
    other.wait_for_selector("#providers-table td[data-dash-column=npi]")
    settle(other)
    assert column(other, "providers", "npi") == shown
    assert other.locator("#us-map .colorbar").text_content() == colorbar
    assert other.inner_text("#summary-year strong") == "2022"
    assert other.locator("#rate input[value=per_clinician]").is_checked()


def test_a_full_export_equals_the_mart_slice(open_page, generated, tmp_path):
    _, marts = generated
    code, providers = marts.execute(
        "select hcpcs_code, count(*) from marts.provider_procedures where data_year = 2023 "
        "group by hcpcs_code order by count(*) desc, hcpcs_code limit 1"
    ).fetchone()
    pg = open_page(f"/?hcpcs={code}&year=2023")
    pg.wait_for_selector("#code-providers-table .export")
    with pg.expect_download() as download:
        pg.click("#code-providers-table .export")
    path = tmp_path / "code-providers.csv"
    download.value.save_as(path)
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    header = rows[0]
    got = [
        (
            r[header.index("npi")],
            int(r[header.index("event_count")]),
            Decimal(r[header.index("paid_amount")]),
        )
        for r in rows[1:]
    ]
    mart = marts.execute(
        "select npi, event_count, paid_amount from marts.provider_procedures "
        "where data_year = 2023 and hcpcs_code = %s order by event_count desc, npi",
        (code,),
    ).fetchall()
    assert len(got) == providers and got == [tuple(r) for r in mart]
