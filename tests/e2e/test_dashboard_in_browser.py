"""The dashboard in a real headless Chromium (Debian's, driven by Playwright): every view,
numbers checked against the marts, CSV download, shared URLs, and no request off the machine."""

from __future__ import annotations

import csv
import io
from urllib.parse import urlsplit

import pytest

from tests.e2e.test_dashboard_pages import click_to, settle, shot

playwright = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def browser(chromium):
    return chromium  # the session's one (tests/conftest.py)


@pytest.fixture
def page(browser, dashboard_server):
    context = browser.new_context(viewport={"width": 1280, "height": 1600}, accept_downloads=True)
    pg = context.new_page()
    pg.requests = []
    pg.dialogs = []
    pg.on("request", lambda r: pg.requests.append(r.url))
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    yield pg
    offsite = [u for u in pg.requests if urlsplit(u).hostname not in ("127.0.0.1", None)]
    assert offsite == [], f"requests left the machine: {offsite}"
    context.close()


def summary(pg) -> dict[str, str]:
    pg.wait_for_selector("#summary-clinicians")
    return {
        key: pg.inner_text(f"#summary-{key} strong")
        for key in ("clinicians", "events", "claims", "mips", "year")
    }


def test_landing_page_and_state_click(page, dashboard_server, artifacts_dir):
    page.goto(dashboard_server + "/")
    page.wait_for_selector("#us-map .choroplethlayer path", timeout=30000)
    assert "Data year 2023" in page.inner_text("#refresh-info")
    assert "last refresh 2026-11-01 10:05" in page.inner_text("#refresh-info")
    shot(page, "landing", artifacts_dir)
    # California is the state with the most events: click its shape on the map
    page.evaluate(
        """() => {
            const gd = document.querySelector('#us-map .js-plotly-plot');
            const i = gd.data[0].locations.indexOf('CA');
            const path = gd.querySelectorAll('.choroplethlocation')[i];
            const box = path.getBoundingClientRect();
            window.__ca = [box.x + box.width / 2, box.y + box.height / 2];
        }"""
    )
    x, y = page.evaluate("window.__ca")
    click_to(page, lambda: page.mouse.click(x, y), "**state=CA**")
    assert page.inner_text("#detail-title").startswith("State CA")
    assert summary(page) == {
        "clinicians": "2",
        "events": "100",
        "claims": "50",
        "mips": "90.0",
        "year": "2023",
    }
    table = page.inner_text("#procedures-table")
    # events, allowed, paid, paid per event, share: money beside the counts, for people
    assert "99213\tOffice visit 15\t52\t$5,200\t$4,160\t$80.00\t63.4 %" in table
    shot(page, "state", artifacts_dir)


def test_zip_box_and_csv_download(page, dashboard_server, artifacts_dir, tmp_path):
    page.goto(dashboard_server + "/")
    settle(page)  # the first callbacks answered: a value typed before they do may be reset
    page.fill("#zip-input", "10001")
    page.press("#zip-input", "Enter")  # the box commits its value on Enter (debounced input)
    settle(page)
    click_to(page, "#zip-button", "**zip=10001**")
    assert summary(page) == {
        "clinicians": "2",
        "events": "23",
        "claims": "11",
        "mips": "80.0",
        "year": "2023",
    }
    with page.expect_download() as download:
        page.click("#prescriptions-table .export")
    path = tmp_path / "prescriptions.csv"
    download.value.save_as(path)
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
    # the API's CSV of the whole list, in the contract's column names
    assert rows[0] == ["generic_name", "claim_count", "day_supply", "drug_cost", "pct_of_geo"]
    assert rows[1][:4] == ["ATORVASTATIN CALCIUM", "11", "330", "100.00"]
    assert float(rows[1][4]) == 100.0
    shot(page, "zip", artifacts_dir)
    page.fill("#zip-input", "99999")
    page.press("#zip-input", "Enter")
    settle(page)
    page.click("#zip-button")
    page.wait_for_selector("text=No data for ZIP code 99999 in 2023.")


@pytest.mark.parametrize("typed, expected", [("bay cl", "BAY CLINIC"), ("000000012", "CITY GROUP")])
def test_practice_search_by_name_and_pac_id(page, dashboard_server, artifacts_dir, typed, expected):
    page.goto(dashboard_server + "/")
    page.wait_for_selector("#us-map .choroplethlayer path", timeout=30000)
    settle(page)
    page.click("#practice-search")
    search_box = page.locator("input.dash-dropdown-search")  # the open menu's search field
    search_box.press_sequentially(typed, delay=40)
    assert search_box.input_value() == typed
    option = page.wait_for_selector(f"text={expected} (")
    option.click()
    page.wait_for_url("**practice=**")
    assert expected in page.inner_text("#detail-title")
    if expected == "BAY CLINIC":
        assert summary(page)["events"] == "100"
        hospitals = page.inner_text("#hospitals-table")
        assert "050001" in hospitals and "Skilled nursing facility" in hospitals
        assert "Compared with CA" in page.inner_text("#detail")
        page.wait_for_selector("#specialty-treemap .treemap")
        shot(page, "practice", artifacts_dir)
    else:
        assert summary(page) == {
            "clinicians": "2",
            "events": "79",
            "claims": "61",
            "mips": "80.0",
            "year": "2023",
        }


def test_shared_urls_reload_the_same_view(page, dashboard_server):
    page.goto(dashboard_server + "/?practice=0000000123")
    assert "CITY GROUP" in page.inner_text("#detail-title")
    page.reload()
    assert "CITY GROUP" in page.inner_text("#detail-title")
    page.goto(dashboard_server + "/?state=ca&year=2022")
    assert summary(page)["events"] == "7" and summary(page)["year"] == "2022"
    page.goto(dashboard_server + "/?practice=0999999999")
    page.wait_for_selector("text=No data for practice 0999999999 in 2023.")
