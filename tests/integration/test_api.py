"""The JSON API against known marts, through the real gunicorn server."""

from __future__ import annotations

import csv
import io
import json
import urllib.error
import urllib.request

import psycopg


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
        )
        if concrete.endswith("/practices"):
            concrete += "?q=bay"
        assert get(dashboard_server, concrete)[0] == 200, path


def test_security_headers_everywhere(dashboard_server):
    for path in ("/", "/api/v1/years", "/nope", "/assets/topojson/usa_110m.json"):
        _, headers, _ = get(dashboard_server, path)
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], path
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
