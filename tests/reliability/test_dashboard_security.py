"""Attacks on the dashboard and the API: injection and script payloads in every input are
refused or shown as text, the database role cannot write, and the server tells nothing."""

from __future__ import annotations

import csv
import io
import json
import time
import urllib.error
import urllib.parse
import urllib.request

import psycopg
import pytest

from tests.e2e.test_dashboard_pages import settle

PAYLOADS = [
    "'; drop table marts.geo_summary; --",
    "1' or '1'='1",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "%' union select current_user --",
    "\\x00\\",
]


def request(base, path, data: bytes | None = None, method="GET"):
    req = urllib.request.Request(
        base + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


@pytest.mark.parametrize("payload", PAYLOADS)
def test_api_refuses_injection_in_every_parameter(dashboard_server, marts_db, payload):
    quoted = urllib.parse.quote(payload, safe="")
    for path in (
        f"/api/v1/geo/zip/{quoted}",
        f"/api/v1/geo/state/{quoted}/procedures",
        f"/api/v1/geo/{quoted}/CA",
        f"/api/v1/practices/{quoted}/hospitals",
        f"/api/v1/geo/state/CA?year={quoted}",
        f"/api/v1/geo/state/CA/procedures?limit={quoted}",
        f"/api/v1/geo/state/CA/procedures?drugs={quoted}",
    ):
        status, headers, body = request(dashboard_server, path)
        assert status in (400, 404), (path, status)
        assert headers["Content-Type"] == "application/json"
        assert "<script" not in body and "Traceback" not in body
    status, _, body = request(dashboard_server, f"/api/v1/practices?q={quoted}")
    assert status == 200 and json.loads(body) == []  # a search for the text itself: no match
    with psycopg.connect(marts_db.url) as conn:
        assert conn.execute("select count(*) from marts.geo_summary").fetchone()[0] > 0


FORMULAS = ["=1+2", "@SUM(1+1)", "+1", "-1+1", "\t=1", "\r=1"]  # marts_fixture's ZIP 98101
BAD_YEARS = ["\u00b2\u00b2\u00b2\u00b2", "\uff12\uff10\uff12\uff13", "1e3", "-2023", "9" * 30]


def dash_callback(base, outputs: list[str], inputs: list[tuple[str, str, object]], state=()):
    """POST one Dash callback as the browser would: outputs as "id.property", (id, property,
    value) per input and per state."""
    split = [dict(zip(("id", "property"), o.split("."), strict=True)) for o in outputs]
    body = {
        "output": outputs[0] if len(outputs) == 1 else ".." + "...".join(outputs) + "..",
        "outputs": split[0] if len(outputs) == 1 else split,
        "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
        "changedPropIds": [f"{inputs[0][0]}.{inputs[0][1]}"],
        "state": [{"id": i, "property": p, "value": v} for i, p, v in state],
    }
    return request(base, "/_dash-update-component", json.dumps(body).encode(), "POST")


@pytest.mark.parametrize("bad", BAD_YEARS, ids=repr)
def test_dashboard_url_and_controls_refuse_non_digit_years(dashboard_server, bad):
    search = "?zip=98101&year=" + urllib.parse.quote(bad)
    status, _, body = dash_callback(
        dashboard_server, ["detail.children"], [("url", "search", search), ("year", "value", None)]
    )
    assert status == 200, body[:300]
    assert "Invalid link: year must be a four-digit year" in body
    years = ["year.options", "year.value", "refresh-info.children"]
    status, _, body = dash_callback(
        dashboard_server,
        years,
        [("url", "search", search)],
        [("year", "value", None), ("pushed", "data", None)],
    )
    assert status == 200, body[:300]
    # the year dropdown's value comes from the client too
    for output, inputs in (
        (["detail.children"], [("url", "search", "?zip=98101"), ("year", "value", bad)]),
        (
            ["us-map.figure"],
            [
                ("year", "value", bad),
                ("measure", "value", "procedure_events"),
                ("url", "search", ""),
                ("rate", "value", "total"),
            ],
        ),
    ):
        status, _, body = dash_callback(dashboard_server, output, inputs)
        assert status == 200, (output, status, body[:300])
        assert "Traceback" not in body


def test_dashboard_csv_download_neutralises_formulas(dashboard_server, chromium, tmp_path):
    context = chromium.new_context(accept_downloads=True)
    try:
        page = context.new_page()
        page.goto(dashboard_server + "/?zip=98101")
        page.wait_for_selector("#schools-table")
        with page.expect_download() as download:
            page.click("#schools-table .export")
        path = tmp_path / "schools.csv"
        download.value.save_as(path)
    finally:
        context.close()
    text = path.read_bytes().decode("utf-8-sig")  # as written: read_text would turn \r into \n
    rows = list(csv.reader(io.StringIO(text, newline="")))
    # the whole list, as the API's CSV writes it (contract column names)
    assert rows[0] == ["medical_school", "clinician_count", "pct_of_geo"], text[:500]
    assert all(len(r) == 3 for r in rows), text[:500]
    assert sorted(r[0] for r in rows[1:]) == sorted("'" + f for f in FORMULAS)
    assert {r[1] for r in rows[1:]} == {"1"}


def test_dashboard_role_is_read_only(marts_db):
    with psycopg.connect(marts_db.dashboard_url, autocommit=True) as conn:
        assert conn.execute("select count(*) from marts.geo_summary").fetchone()[0] > 0
        assert conn.execute("select count(*) from ops.pipeline_runs").fetchone()[0] >= 0
        for statement in (
            "insert into marts.geo_summary (data_year) values (1)",
            "delete from marts.procedure_counts",
            "create table marts.x (a int)",
            "create table public.x (a int)",
            "select * from landing.procedure_events",
            "drop table marts.geo_summary",
            "update ops.pipeline_runs set status = 'failed'",
        ):
            with pytest.raises(psycopg.Error):
                conn.execute(statement)


def test_headers_debug_off_and_limits(dashboard_server):
    status, headers, body = request(dashboard_server, "/")
    csp = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "'unsafe-eval'" not in csp
    assert (
        "script-src 'self'" in csp
        and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    )
    assert headers["X-Content-Type-Options"] == "nosniff"
    status, _, body = request(dashboard_server, "/_dash-update-component", b"{not json", "POST")
    assert status in (400, 500) and "Traceback" not in body and "werkzeug" not in body.lower()
    status, _, body = request(
        dashboard_server, "/_dash-update-component", b"x" * (256 * 1024), "POST"
    )
    assert status == 413
    status, _, body = request(dashboard_server, "/no/such/page")
    assert status == 404 and "Traceback" not in body


def test_api_rate_limit(dashboard_server):
    statuses = [request(dashboard_server, "/api/v1/years")[0] for _ in range(300)]
    assert 429 in statuses, "300 requests at once must meet the rate limit"
    assert statuses[0] == 200
    time.sleep(3)  # let the bucket refill for the tests after this one


def test_script_payloads_render_as_text_in_the_browser(dashboard_server, chromium):
    context = chromium.new_context()
    try:
        page = context.new_page()
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        payload = "<img src=x onerror=alert(1)>"
        page.goto(dashboard_server + "/?practice=" + urllib.parse.quote(payload))
        page.wait_for_selector("text=Invalid link")
        # the pages named by free text (a drug, a specialty filter) show it as text
        page.goto(dashboard_server + "/?drug=" + urllib.parse.quote(payload))
        page.wait_for_selector("text=No data for drug <IMG SRC=X ONERROR=ALERT(1)>")
        page.goto(dashboard_server + "/?state=CA&specialty=" + urllib.parse.quote(payload))
        page.wait_for_selector("text=Providers here: <Img Src=X Onerror=Alert(1)>")
        page.goto(dashboard_server + "/")
        page.wait_for_selector("#zip-input")
        settle(page)  # the first callbacks answered: a value typed before they do may be reset
        page.fill("#zip-input", "<script>alert(2)</script>")
        page.press("#zip-input", "Enter")  # the box commits its value on Enter (debounced)
        settle(page)
        page.click("#zip-button")
        page.wait_for_selector("text=a ZIP code is five digits")
        page.click("#practice-search")
        page.locator("input.dash-dropdown-search").press_sequentially(
            "<svg onload=alert(3)>", delay=20
        )
        page.wait_for_timeout(1500)
        assert (
            page.evaluate("() => document.querySelectorAll('img[src=x], svg[onload]').length") == 0
        )
    finally:
        context.close()
    assert dialogs == []
