"""The JSON API against known marts, through the real gunicorn server."""

from __future__ import annotations

import csv
import io
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request

import psycopg
import pytest

# contract section 7: text a spreadsheet would run as a formula (marts_fixture's ZIP 98101)
FORMULAS = ["=1+2", "@SUM(1+1)", "+1", "-1+1", "\t=1", "\r=1"]
# every numeric query parameter, with text that is not plain ASCII digits in range
NOT_NUMBERS = [
    "\u00b2\u00b2\u00b2\u00b2",  # superscript digits: str.isdigit() is true, int() fails
    "\uff12\uff10\uff12\uff13",  # full-width 2023: int() would accept it
    "\u0662\u0660\u0662\u0663",  # Arabic-Indic 2023
    "1e3",
    "2.023e3",
    "-1",
    "+2023",
    " 2023",
    "2023 ",
    "0x7e7",
    "2147483648",
    "9" * 30,
    "9" * 5000,  # past Python's int() digit limit
    "",
]


def get(base, path):
    try:
        with urllib.request.urlopen(base + path, timeout=10) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def test_summary_equals_marts(dashboard_server, marts_db):
    status, _, body = get(dashboard_server, "/api/v1/geo/state/CA")
    assert status == 200
    data = json.loads(body)
    with psycopg.connect(marts_db.url) as conn:
        row = conn.execute(
            "select clinician_count, procedure_events, prescription_claims, avg_mips_score "
            "from marts.geo_summary where data_year = 2023 and geo_level = 'state' "
            "and geo_id = 'CA'"
        ).fetchone()
    assert (
        (
            data["clinician_count"],
            data["procedure_events"],
            data["prescription_claims"],
            data["avg_mips_score"],
        )
        == row
        == (2, 100, 50, 90.0)
    )
    assert data["data_year"] == 2023


def test_tables_and_years(dashboard_server):
    assert json.loads(get(dashboard_server, "/api/v1/years")[2]) == [2023, 2022]
    procedures = json.loads(get(dashboard_server, "/api/v1/geo/zip/94110/procedures")[2])
    assert [(p["hcpcs_code"], p["event_count"]) for p in procedures] == [
        ("99213", 52),
        ("0002A", 30),
    ]
    drugs = json.loads(get(dashboard_server, "/api/v1/geo/zip/94110/procedures?drugs=true")[2])
    assert [(d["hcpcs_code"], d["event_count"], d["pct_of_geo"]) for d in drugs] == [
        ("J1100", 18, 100.0)
    ]
    old = json.loads(get(dashboard_server, "/api/v1/geo/state/CA/procedures?year=2022")[2])
    assert [(p["hcpcs_code"], p["event_count"]) for p in old] == [("99213", 7)]
    hospitals = json.loads(get(dashboard_server, "/api/v1/practices/0840459889/hospitals")[2])
    assert [(h["facility_ccn"], h["clinician_count"]) for h in hospitals] == [
        ("050001", 2),
        ("335678", 1),
    ]
    found = json.loads(get(dashboard_server, "/api/v1/practices?q=bay%20cl")[2])
    assert [p["practice_id"] for p in found] == ["0840459889"]
    by_id = json.loads(get(dashboard_server, "/api/v1/practices?q=00000001")[2])
    assert [p["practice_id"] for p in by_id] == ["0000000123"]


def test_csv_download(dashboard_server):
    status, headers, body = get(dashboard_server, "/api/v1/geo/state/NY/prescriptions?format=csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [(r["generic_name"], r["claim_count"]) for r in rows] == [("ATORVASTATIN CALCIUM", "11")]


def test_csv_exports_neutralise_formulas(dashboard_server):
    status, _, body = get(dashboard_server, "/api/v1/geo/zip/98101/schools?format=csv")
    assert status == 200
    rows = list(csv.DictReader(io.StringIO(body, newline="")))
    assert sorted(r["medical_school"] for r in rows) == sorted("'" + f for f in FORMULAS)
    assert {r["clinician_count"] for r in rows} == {"1"}  # numbers stay numbers
    status, _, body = get(dashboard_server, "/api/v1/geo/zip/98101/specialties?format=csv")
    rows = {r["specialty"]: r for r in csv.DictReader(io.StringIO(body, newline=""))}
    assert set(rows) == {"INTERNAL MEDICINE", "'@SUM(1+1)"}
    assert rows["INTERNAL MEDICINE"]["clinician_count"] == "5"


def test_the_one_csv_writer_keeps_numbers_and_quotes_text():
    from decimal import Decimal

    from medidash.dashboard.exports import csv_text

    rows = [
        {"n": -3.5, "d": Decimal("-2.25"), "i": -7, "t": "-3.5", "u": "x=1", "z": None},
        *({"n": 1, "d": 1, "i": 1, "t": f, "u": "", "z": None} for f in FORMULAS),
    ]
    out = list(csv.reader(io.StringIO(csv_text(rows), newline="")))
    assert out[0] == ["n", "d", "i", "t", "u", "z"]
    assert out[1] == ["-3.5", "-2.25", "-7", "'-3.5", "x=1", ""]
    assert [r[3] for r in out[2:]] == ["'" + f for f in FORMULAS]


@pytest.mark.parametrize("bad", NOT_NUMBERS, ids=lambda b: repr(b)[:20])
def test_numeric_parameters_take_ascii_digits_only(dashboard_server, bad):
    value = urllib.parse.quote(bad, safe="")
    paths = [
        f"/api/v1/{p}?year={value}"
        for p in (
            "states",
            "geo/state/CA",
            "geo/state/CA/procedures",
            "geo/state/CA/prescriptions",
            "geo/state/CA/specialties",
            "geo/state/CA/schools",
            "practices/0840459889/hospitals",
        )
    ]
    paths.append(f"/api/v1/practices?q=bay&year={value}")
    if bad:  # an empty limit is a bad limit; an empty year means the latest
        paths += [
            f"/api/v1/geo/state/CA/{p}?limit={value}"
            for p in ("procedures", "prescriptions", "schools")
        ]
    for path in paths:
        time.sleep(0.05)  # under the fixture server's rate limit (50 requests/s)
        status, headers, body = get(dashboard_server, path)
        if not bad and "year=" in path:
            assert status == 200, path
            continue
        assert status == 400, (path, status, body[:200])
        assert headers["Content-Type"] == "application/json"
        assert json.loads(body)["error"], path


def test_errors_are_json_with_the_right_status(dashboard_server):
    assert get(dashboard_server, "/api/v1/geo/zip/99999")[0] == 404
    assert get(dashboard_server, "/api/v1/geo/state/CA?year=2019")[0] == 404
    for bad in (
        "/api/v1/geo/zip/123",
        "/api/v1/geo/county/CA",
        "/api/v1/geo/state/CA?year=x",
        "/api/v1/practices?q=a",
        "/api/v1/geo/state/CA/procedures?limit=0",
    ):
        status, headers, body = get(dashboard_server, bad)
        assert status in (400, 404), bad
        assert "error" in json.loads(body) and headers["Content-Type"] == "application/json"


def test_openapi_describes_every_route(dashboard_server):
    spec = json.loads(get(dashboard_server, "/api/v1/openapi.json")[2])
    assert spec["openapi"].startswith("3.")
    for path in spec["paths"]:
        concrete = (
            path.replace("{level}", "state")
            .replace("{geo_id}", "CA")
            .replace("{practice_id}", "0840459889")
            .replace("{npi}", "1111111111")
            .replace("{code}", "99213")
            .replace("{generic_name}", "ATORVASTATIN%20CALCIUM")
        )
        if concrete.endswith("/practices"):
            concrete += "?q=bay"
        time.sleep(0.05)  # under the fixture server's rate limit
        assert get(dashboard_server, concrete)[0] == 200, path
    # and every route of the blueprint is in the document (the catch-all 404 aside)
    from flask import Flask

    from medidash.dashboard.api import api

    app = Flask(__name__)
    app.register_blueprint(api)
    routes = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/") and rule.endpoint != "api_v1.no_such_endpoint"
    }
    assert routes == set(spec["paths"])
    # each path's template parameters are declared, and every $ref names a schema
    for path, item in spec["paths"].items():
        declared = {p["name"] for p in item["get"].get("parameters", []) if p["in"] == "path"}
        assert declared == set(re.findall(r"{(\w+)}", path)), path
    refs = set(re.findall(r'"#/components/schemas/(\w+)"', json.dumps(spec)))
    assert refs <= set(spec["components"]["schemas"])


def test_security_headers_everywhere(dashboard_server):
    for path in ("/", "/api/v1/years", "/nope", "/assets/topojson/usa_110m.json"):
        _, headers, _ = get(dashboard_server, path)
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
