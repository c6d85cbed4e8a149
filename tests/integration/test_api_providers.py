"""The provider, code, drug and series endpoints of the API (issue 15 item 5), and the
pagination and CSV streaming of every list, through the real gunicorn server.

Values are compared with SQL on the marts that dbt built from tests/marts_fixture.py, and a few
checked by hand against its landing rows. The long lists (pagination past the old 1,000-row
cut, a 100,000-row CSV in bounded memory) use a warehouse of their own: 100,000 providers
billing one code in 2021, built by the same dbt project."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal

import psycopg
import pytest

BIG_YEAR, BIG_CODE, BIG_ROWS = 2021, "G0999", 100_000
SLASH_DRUG = "AMOXICILLIN/CLAVULANATE POTASSIUM"  # a generic name with a slash, in a URL path


def get(base, path, pause=0.03):
    """GET a path: (status, headers, body); paced under the fixture server's rate limit."""
    time.sleep(pause)
    try:
        with urllib.request.urlopen(base + path, timeout=30) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def get_json(base, path):
    status, headers, body = get(base, path)
    assert status == 200, (path, status, body[:300])
    return json.loads(body), headers


def plain(value):
    """A value as the API's JSON writes it (numeric as a JSON number)."""
    return float(value) if isinstance(value, Decimal) else value


def sql(url, query, params=()):
    with psycopg.connect(url) as conn:
        cursor = conn.execute(query, params)
        names = [c.name for c in cursor.description]
        return [{n: plain(v) for n, v in zip(names, row, strict=True)} for row in cursor]


def walk(base, path):
    """Every row of a list, page after page through the Link header's next cursor."""
    rows, pages, total = [], 0, None
    while path:
        page, headers = get_json(base, path)
        total = int(headers["X-Total-Count"])
        rows += page
        pages += 1
        link = headers.get("Link")
        path = link[1 : link.index(">")] if link else None
        if link:
            assert headers["X-Next-Cursor"] in link
    return rows, pages, total


# the marts of tests/marts_fixture.py


def test_provider_search_by_name_prefix_npi_state_and_type(dashboard_server, marts_db):
    hits = {}
    for q in ("garc", "GA", "g", "lone%20st", "o"):
        rows, headers = get_json(dashboard_server, f"/api/v1/providers?q={q}&limit=1000")
        expected = sql(
            marts_db.url,
            "select npi, display_name, entity_type, provider_type, primary_specialty, state, "
            "zip5, procedure_events, paid_amount, prescription_claims, drug_cost, "
            "paid_pctile_nation from marts.providers where data_year = 2023 "
            "and lower(display_name) like %s order by lower(display_name), npi",
            (urllib.parse.unquote(q).lower() + "%",),
        )
        assert rows == expected and int(headers["X-Total-Count"]) == len(expected), q
        hits[q] = [r["npi"] for r in rows]
    # marts_fixture's names: Garcia, Maria; Chen, Wei; Okafor, Ngozi; Walsh, Erin; and the
    # organisation Lone Star Pharmacy Group
    assert hits == {
        "garc": ["1111111111"],
        "GA": ["1111111111"],
        "g": ["1111111111"],
        "lone%20st": ["5555555555"],
        "o": ["3333333333"],
    }
    assert rows[0]["display_name"] == "Okafor, Ngozi" and rows[0]["provider_type"] == "Cardiology"
    by_npi, _ = get_json(dashboard_server, "/api/v1/providers?q=1111111111")
    assert [r["npi"] for r in by_npi] == ["1111111111"]
    by_prefix, _ = get_json(dashboard_server, "/api/v1/providers?q=11111")
    assert [r["npi"] for r in by_prefix] == ["1111111111"]
    everyone, headers = get_json(dashboard_server, "/api/v1/providers?limit=1000")
    count = sql(marts_db.url, "select count(*) as n from marts.providers where data_year = 2023")
    assert len(everyone) == int(headers["X-Total-Count"]) == count[0]["n"]
    some = everyone[0]
    state, ptype = some["state"], some["provider_type"]
    filtered, _ = get_json(
        dashboard_server,
        f"/api/v1/providers?state={state.lower()}&provider_type="
        + urllib.parse.quote(ptype.upper())
        + "&limit=1000",
    )
    assert filtered and [r["npi"] for r in filtered] == [
        r["npi"] for r in everyone if r["state"] == state and r["provider_type"] == ptype
    ]
    old, _ = get_json(dashboard_server, "/api/v1/providers?q=1111111111&year=2022")
    assert [r["npi"] for r in old] == ["1111111111"]


PCTILES = {
    "paid_state": "paid_pctile_state",
    "paid_nation": "paid_pctile_nation",
    "claims_nation": "claims_pctile_nation",
}


def test_provider_profile_with_its_peers(dashboard_server, marts_db):
    data, _ = get_json(dashboard_server, "/api/v1/providers/1111111111")
    row = sql(
        marts_db.url,
        "select * from marts.providers where data_year = 2023 and npi = '1111111111'",
    )[0]
    assert data["provider"] == row
    assert data["years"] == [2023, 2022]
    # by hand (marts_fixture): Internal Medicine paid 3040 + 28.80 (Garcia, CA) and
    # 1120 + 1200 (Chen, CA); only Garcia has Part D claims (50)
    assert (row["paid_amount"], row["paid_pctile_state"]) == (3068.8, 100.0)
    assert [data["peers"][g]["providers"] for g in PCTILES] == [2, 2, 1]
    assert (data["peers"]["paid_state"]["median"], data["peers"]["paid_state"]["p90"]) == (
        2694.4,
        2993.92,
    )
    assert data["peers"]["claims_nation"]["median"] == 50.0
    # each peer group: providers of its type with a value above 0 (in its state for paid_state)
    for name, measure, in_state in (
        ("paid_state", "paid_amount", True),
        ("paid_nation", "paid_amount", False),
        ("claims_nation", "prescription_claims", False),
    ):
        group = data["peers"][name]
        peers = sql(
            marts_db.url,
            f"select count(*) as n, percentile_cont(0.5) within group (order by {measure}) as m, "
            f"percentile_cont(0.9) within group (order by {measure}) as p90 "
            f"from marts.providers where data_year = 2023 and provider_type = %s "
            f"and {measure} > 0" + (" and state = %s" if in_state else ""),
            (row["provider_type"], row["state"]) if in_state else (row["provider_type"],),
        )[0]
        assert group["providers"] == peers["n"], name
        places = 2 if measure == "paid_amount" else 1
        assert group["median"] == (None if peers["m"] is None else round(peers["m"], places))
        assert group["p90"] == (None if peers["p90"] is None else round(peers["p90"], places))
        assert group["value"] == row[measure]
        assert group["pctile"] == row[PCTILES[name]]
        assert group["provider_type"] == row["provider_type"]
        assert group["state"] == (row["state"] if in_state else None)


def test_provider_procedures_prescriptions_and_series(dashboard_server, marts_db):
    procedures, headers = get_json(dashboard_server, "/api/v1/providers/1111111111/procedures")
    expected = sql(
        marts_db.url,
        "select pp.hcpcs_code, n.hcpcs_description, pp.is_drug, pp.event_count, "
        "pp.service_units, pp.paid_amount, pp.pct_of_provider, pp.events_pctile_code "
        "from marts.provider_procedures pp left join marts.procedure_counts n "
        "on n.data_year = pp.data_year and n.geo_level = 'nation' "
        "and n.hcpcs_code = pp.hcpcs_code "
        "where pp.data_year = 2023 and pp.npi = '1111111111' "
        "order by pp.event_count desc, pp.hcpcs_code",
    )
    assert procedures == expected and int(headers["X-Total-Count"]) == len(expected)
    # marts_fixture: 1111111111 billed 99213 38 times and the drug J1100 18 times in 2023
    assert [(p["hcpcs_code"], p["event_count"], p["is_drug"]) for p in procedures] == [
        ("99213", 38, False),
        ("J1100", 18, True),
    ]
    drugs_only, _ = get_json(dashboard_server, "/api/v1/providers/1111111111/procedures?drugs=true")
    assert [p["hcpcs_code"] for p in drugs_only] == ["J1100"]

    drugs, _ = get_json(dashboard_server, "/api/v1/providers/1111111111/prescriptions")
    assert drugs == sql(
        marts_db.url,
        "select generic_name, claim_count, day_supply, drug_cost, pct_of_provider "
        "from marts.provider_prescriptions where data_year = 2023 and npi = '1111111111' "
        "order by claim_count desc, generic_name",
    )
    assert [(d["generic_name"], d["claim_count"], d["drug_cost"]) for d in drugs] == [
        ("ATORVASTATIN CALCIUM", 50, 340.8)
    ]

    series, _ = get_json(dashboard_server, "/api/v1/providers/1111111111/series")
    rows = sql(
        marts_db.url,
        "select data_year, procedure_events, paid_amount, prescription_claims "
        "from marts.providers where npi = '1111111111' order by data_year",
    )
    assert [s["data_year"] for s in series] == [r["data_year"] for r in rows] == [2022, 2023]
    first, second = series
    assert first["previous_year"] is None and first["procedure_events_change"] is None
    assert second["previous_year"] == 2022
    for measure in ("procedure_events", "paid_amount", "prescription_claims"):
        assert [s[measure] for s in series] == [r[measure] for r in rows]
        assert second[f"{measure}_change"] == pytest.approx(rows[1][measure] - rows[0][measure])
    # 2022: 7 events of 99213; 2023: 38 + 18
    assert (first["procedure_events"], second["procedure_events"]) == (7, 56)
    assert (
        second["procedure_events_change"] == 49 and second["procedure_events_change_pct"] == 700.0
    )


def test_a_code_nationally_by_state_and_by_provider(dashboard_server, marts_db):
    nation, _ = get_json(dashboard_server, "/api/v1/procedures/99213")
    row = sql(
        marts_db.url,
        "select data_year, hcpcs_code, hcpcs_description, is_drug, event_count, service_units, "
        "pct_of_geo, submitted_charge, allowed_amount, paid_amount, standardized_amount "
        "from marts.procedure_counts where data_year = 2023 and geo_level = 'nation' "
        "and hcpcs_code = '99213'",
    )[0]
    assert nation == row
    assert nation["event_count"] == 38 + 14 + 11  # marts_fixture's 2023 rows of 99213
    assert get_json(dashboard_server, "/api/v1/procedures/j1100")[0]["hcpcs_code"] == "J1100"

    states, headers = get_json(dashboard_server, "/api/v1/procedures/99213/states")
    assert states == sql(
        marts_db.url,
        "select geo_id as state, event_count, service_units, pct_of_geo, submitted_charge, "
        "allowed_amount, paid_amount, standardized_amount from marts.procedure_counts "
        "where data_year = 2023 and geo_level = 'state' and hcpcs_code = '99213' order by geo_id",
    )
    assert [(s["state"], s["event_count"]) for s in states] == [("CA", 52), ("NY", 11)]
    assert headers["X-Total-Count"] == "2" and "Link" not in headers

    providers, _ = get_json(dashboard_server, "/api/v1/procedures/99213/providers")
    assert providers == sql(
        marts_db.url,
        "select pp.npi, p.display_name, p.provider_type, p.state, pp.event_count, "
        "pp.service_units, pp.paid_amount, pp.pct_of_provider, pp.events_pctile_code "
        "from marts.provider_procedures pp join marts.providers p "
        "on p.data_year = pp.data_year and p.npi = pp.npi "
        "where pp.data_year = 2023 and pp.hcpcs_code = '99213' "
        "order by pp.event_count desc, pp.npi",
    )
    assert [(p["npi"], p["event_count"]) for p in providers] == [
        ("1111111111", 38),
        ("2222222222", 14),
        ("3333333333", 11),
    ]
    in_ny, _ = get_json(dashboard_server, "/api/v1/procedures/99213/providers?state=NY")
    assert [p["npi"] for p in in_ny] == ["3333333333"]

    series, _ = get_json(dashboard_server, "/api/v1/procedures/99213/series")
    assert [(s["data_year"], s["event_count"], s["event_count_change"]) for s in series] == [
        (2022, 7, None),
        (2023, 63, 56),
    ]
    in_ca, _ = get_json(dashboard_server, "/api/v1/procedures/99213/series?level=state&geo_id=CA")
    assert [(s["data_year"], s["event_count"]) for s in in_ca] == [(2022, 7), (2023, 52)]


def test_a_drug_nationally_by_state_and_by_provider(dashboard_server, marts_db):
    name = urllib.parse.quote("atorvastatin  calcium")  # any case, runs of spaces
    nation, _ = get_json(dashboard_server, f"/api/v1/drugs/{name}")
    assert (
        nation
        == sql(
            marts_db.url,
            "select data_year, generic_name, claim_count, day_supply, drug_cost, pct_of_geo "
            "from marts.prescription_counts where data_year = 2023 and geo_level = 'nation' "
            "and generic_name = 'ATORVASTATIN CALCIUM'",
        )[0]
    )
    assert (nation["claim_count"], nation["drug_cost"]) == (50 + 11, 440.8)
    states, _ = get_json(dashboard_server, f"/api/v1/drugs/{name}/states")
    assert [(s["state"], s["claim_count"], s["drug_cost"]) for s in states] == [
        ("CA", 50, 340.8),
        ("NY", 11, 100.0),
    ]
    providers, _ = get_json(dashboard_server, f"/api/v1/drugs/{name}/providers")
    assert providers == sql(
        marts_db.url,
        "select pp.npi, p.display_name, p.provider_type, p.state, pp.claim_count, "
        "pp.day_supply, pp.drug_cost, pp.pct_of_provider "
        "from marts.provider_prescriptions pp join marts.providers p "
        "on p.data_year = pp.data_year and p.npi = pp.npi "
        "where pp.data_year = 2023 and pp.generic_name = 'ATORVASTATIN CALCIUM' "
        "order by pp.claim_count desc, pp.npi",
    )
    assert [p["npi"] for p in providers] == ["1111111111", "3333333333"]
    # the next page's link holds the name, spaces and all, as a valid URL
    assert walk(dashboard_server, f"/api/v1/drugs/{name}/providers?limit=1")[:2] == (providers, 2)
    series, _ = get_json(dashboard_server, f"/api/v1/drugs/{name}/series")
    assert [(s["data_year"], s["claim_count"]) for s in series] == [(2023, 61)]


def test_geography_series_over_every_loaded_year(dashboard_server, marts_db):
    for level, geo_id in (("nation", "US"), ("state", "CA"), ("zip", "94110")):
        series, _ = get_json(dashboard_server, f"/api/v1/geo/{level}/{geo_id}/series")
        rows = sql(
            marts_db.url,
            "select data_year, clinician_count, procedure_events, paid_amount, provider_count "
            "from marts.geo_summary where geo_level = %s and geo_id = %s order by data_year",
            (level, geo_id),
        )
        assert [s["data_year"] for s in series] == [r["data_year"] for r in rows] == [2022, 2023]
        for measure in ("clinician_count", "procedure_events", "paid_amount", "provider_count"):
            assert [s[measure] for s in series] == [r[measure] for r in rows]
            change = rows[1][measure] - rows[0][measure]
            assert series[1][f"{measure}_change"] == pytest.approx(change)
    ca, _ = get_json(dashboard_server, "/api/v1/geo/state/CA/series")
    assert [(s["procedure_events"], s["procedure_events_change"]) for s in ca] == [
        (7, None),
        (100, 93),
    ]
    nation, _ = get_json(dashboard_server, "/api/v1/geo/nation/US")
    assert nation["geo_id"] == "US" and nation["provider_count"] >= 5


def test_small_lists_page_by_offset_and_cursor(dashboard_server):
    whole, _ = get_json(dashboard_server, "/api/v1/procedures/99213/providers")
    rows, pages, total = walk(dashboard_server, "/api/v1/procedures/99213/providers?limit=1")
    assert rows == whole and pages == total == 3
    for offset in range(3):
        page, headers = get_json(
            dashboard_server, f"/api/v1/procedures/99213/providers?limit=1&offset={offset}"
        )
        assert page == whole[offset : offset + 1] and headers["X-Total-Count"] == "3"
    past, headers = get_json(dashboard_server, "/api/v1/procedures/99213/providers?offset=9")
    assert past == [] and headers["X-Total-Count"] == "3" and "Link" not in headers
    # the older table endpoints page the same way
    rows, pages, total = walk(dashboard_server, "/api/v1/geo/zip/94110/procedures?limit=1")
    assert [r["hcpcs_code"] for r in rows] == ["99213", "0002A"] and pages == total == 2
    states, _ = get_json(dashboard_server, "/api/v1/states")
    assert len(states) == int(get(dashboard_server, "/api/v1/states")[1]["X-Total-Count"])


NOT_FOUND = [
    "/api/v1/providers/9999999999",
    "/api/v1/providers/9999999999/procedures",
    "/api/v1/providers/9999999999/prescriptions",
    "/api/v1/providers/9999999999/series",
    "/api/v1/providers/1111111111?year=2019",
    "/api/v1/procedures/ZZZZZ",
    "/api/v1/procedures/ZZZZZ/states",
    "/api/v1/procedures/ZZZZZ/providers",
    "/api/v1/procedures/ZZZZZ/series",
    "/api/v1/procedures/0002A/series?level=state&geo_id=NY",
    "/api/v1/drugs/NO%20SUCH%20DRUG",
    "/api/v1/drugs/NO%20SUCH%20DRUG/states",
    "/api/v1/drugs/NO%20SUCH%2FDRUG/providers",
    "/api/v1/drugs/NO%20SUCH%20DRUG/series",
    "/api/v1/geo/zip/99999/series",
    "/api/v1/providers/9999999999/procedures?format=csv",
]
BAD_REQUEST = [
    "/api/v1/providers/123",
    "/api/v1/providers/12345678901",
    "/api/v1/providers/111111111x/procedures",
    "/api/v1/procedures/9921",
    "/api/v1/procedures/99%2013",
    "/api/v1/drugs/" + "A" * 201,
    "/api/v1/drugs/ATORVASTATIN%00CALCIUM",
    "/api/v1/providers?q=sm%00",
    "/api/v1/providers?state=C",
    "/api/v1/providers?state=C1",
    "/api/v1/providers?provider_type=%07",
    "/api/v1/providers?limit=1001",
    "/api/v1/providers?limit=0",
    "/api/v1/providers?offset=-1",
    "/api/v1/providers?offset=1e3",
    "/api/v1/providers?offset=%EF%BC%91",
    "/api/v1/providers?offset=1&cursor=x",
    "/api/v1/providers?cursor=not-a-cursor",
    "/api/v1/providers?cursor=",
    "/api/v1/providers?format=xml",
    "/api/v1/providers/1111111111/procedures?drugs=yes",
    "/api/v1/procedures/99213/providers?state=California",
    "/api/v1/procedures/99213/series?level=county&geo_id=1",
    "/api/v1/procedures/99213/series?level=state&geo_id=CAL",
    "/api/v1/geo/nation/USA",
    "/api/v1/geo/nation/US/series?limit=x",
    "/api/v1/procedures/99213/states?year=20233",
]


def test_unknown_things_are_404_and_bad_parameters_400(dashboard_server):
    for path in NOT_FOUND:
        status, headers, body = get(dashboard_server, path, pause=0.05)
        assert status == 404, (path, status, body[:200])
        assert headers["Content-Type"] == "application/json" and json.loads(body)["error"]
    for path in BAD_REQUEST:
        status, headers, body = get(dashboard_server, path, pause=0.05)
        assert status == 400, (path, status, body[:200])
        assert headers["Content-Type"] == "application/json" and json.loads(body)["error"]


def test_a_cursor_is_only_good_for_its_own_list(dashboard_server):
    _, headers = get_json(dashboard_server, "/api/v1/procedures/99213/providers?limit=1")
    cursor = headers["X-Next-Cursor"]
    other = get(dashboard_server, f"/api/v1/drugs/ATORVASTATIN%20CALCIUM/providers?cursor={cursor}")
    assert other[0] == 400
    import base64

    def forged(payload) -> str:
        return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")

    for payload in (
        {"l": "procedure_providers", "k": ["38", "1111111111"]},  # text for an integer key
        {"l": "procedure_providers", "k": [38]},  # a key missing
        {"l": "procedure_providers", "k": [2**70, "1"]},  # past bigint
        {"l": "procedure_providers", "k": [38, "\u0000"]},  # NUL in text
        {"l": "procedure_providers", "k": [True, "1"]},
        ["procedure_providers"],
    ):
        status, _, body = get(
            dashboard_server, f"/api/v1/procedures/99213/providers?cursor={forged(payload)}"
        )
        assert status == 400, (payload, status, body[:200])


# long lists: a warehouse of their own


def _serve(url: str, log_path) -> tuple[subprocess.Popen, str]:
    """`medidash serve` over `url`, as conftest's dashboard_server, with a looser rate limit."""
    from medidash.ports import free_port

    port = free_port()
    log = open(log_path, "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "medidash.cli", "serve", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={
            **os.environ,
            "MEDIDASH_DASHBOARD_DATABASE_URL": url,
            "MEDIDASH_DASHBOARD_WORKERS": "1",
            "MEDIDASH_API_RATE_LIMIT": "500/500",
        },
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + "/healthz", timeout=2)
            return proc, base
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(open(log_path).read()) from None
            time.sleep(0.3)
    raise RuntimeError("dashboard did not start")


BIG_LANDING = f"""
insert into landing.procedure_events
 (data_year, npi, state, zip5, hcpcs_code, event_count, service_units, submitted_charge,
  allowed_amount, paid_amount, standardized_amount, loaded_at)
select {BIG_YEAR}, (1000000000 + i)::text, s.state, lpad((i % 99999 + 1)::text, 5, '0'),
  '{BIG_CODE}', 1 + i % 997, 1 + i % 997, 3.00 * (1 + i % 997), 2.00 * (1 + i % 997),
  1.50 * (1 + i % 997), 1.40 * (1 + i % 997), now()
from generate_series(1, {BIG_ROWS}) i,
  lateral (select (array['CA','NY','TX','FL','WA'])[1 + i % 5] as state) s;
insert into landing.hcpcs_codes values ({BIG_YEAR}, '{BIG_CODE}', 'Big code', false, now());
insert into landing.prescription_events values
 ({BIG_YEAR}, '1000000001', 'NY', '{SLASH_DRUG}', 12, 360, 45.50, now());
insert into landing.provider_locations
select {BIG_YEAR}, (1000000000 + i)::text, (array['CA','NY','TX','FL','WA'])[1 + i % 5],
  lpad((i % 99999 + 1)::text, 5, '0'), 1, now()
from generate_series(1, {BIG_ROWS}) i;
insert into landing.provider_rows
 (data_year, dataset, npi, last_name, first_name, provider_type, entity_type, state, zip5,
  row_count, loaded_at)
select {BIG_YEAR}, 'part_b', (1000000000 + i)::text, '=Name' || i, 'First',
  'Internal Medicine', 'I', (array['CA','NY','TX','FL','WA'])[1 + i % 5],
  lpad((i % 99999 + 1)::text, 5, '0'), 1, now()
from generate_series(1, {BIG_ROWS}) i;
"""


@pytest.fixture(scope="module")
def big_server(tmp_path_factory):
    """A warehouse whose 2021 holds 100,000 providers billing one code, served by gunicorn.
    The names start with `=`: the streamed CSV neutralises them like any export."""
    from medidash.orchestration.dbt_env import dbt_command
    from medidash.warehouse import EmbeddedServer

    folder = tmp_path_factory.mktemp("big")
    server = EmbeddedServer(folder / "pg")
    wh = server.start()
    proc = None
    try:
        with psycopg.connect(wh.url, autocommit=True) as conn:
            conn.execute(BIG_LANDING)
        command, env = dbt_command(["build", "--quiet"], wh.url)
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout[-3000:]
        proc, base = _serve(wh.dashboard_url, folder / "serve.log")
        yield base, wh, proc
    finally:
        if proc is not None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        server.stop()


def test_lists_page_past_the_old_1000_row_cut(big_server):
    base, wh, _ = big_server
    path = f"/api/v1/procedures/{BIG_CODE}/providers?year={BIG_YEAR}&limit=1000"
    expected = [
        r["npi"]
        for r in sql(
            wh.url,
            "select npi from marts.provider_procedures where data_year = %s and hcpcs_code = %s "
            "order by event_count desc, npi",
            (BIG_YEAR, BIG_CODE),
        )
    ]
    assert len(expected) == BIG_ROWS
    # five pages by cursor: rows 1..5,000 in order, none skipped or repeated
    rows, next_path = [], path
    for _ in range(5):
        page, headers = get_json(base, next_path)
        assert int(headers["X-Total-Count"]) == BIG_ROWS and len(page) == 1000
        rows += page
        link = headers["Link"]
        next_path = link[1 : link.index(">")]
    assert [r["npi"] for r in rows] == expected[:5000]
    # a deep page by offset, and by the cursor of the row before it
    deep, _ = get_json(base, path + "&offset=54000")
    assert [r["npi"] for r in deep] == expected[54000:55000]
    one, headers = get_json(base, path.replace("limit=1000", "limit=1") + "&offset=53999")
    assert [r["npi"] for r in one] == [expected[53999]]
    after, _ = get_json(base, path + "&cursor=" + headers["X-Next-Cursor"])
    assert after == deep
    last, headers = get_json(base, path + "&offset=99000")
    assert [r["npi"] for r in last] == expected[99000:] and "Link" not in headers
    # the search pages past 1,000 hits too
    found, headers = get_json(base, f"/api/v1/providers?year={BIG_YEAR}&q=%3Dname1&limit=1000")
    assert int(headers["X-Total-Count"]) == sum(
        1 for i in range(1, BIG_ROWS + 1) if str(i).startswith("1")
    )
    assert len(found) == 1000 and "Link" in headers


def test_a_drug_name_with_a_slash(big_server):
    base, _, _ = big_server
    for name in (
        urllib.parse.quote(SLASH_DRUG),  # the slash as it is
        urllib.parse.quote(SLASH_DRUG.lower()),
        urllib.parse.quote(SLASH_DRUG, safe=""),  # the slash as %2F
    ):
        drug, _ = get_json(base, f"/api/v1/drugs/{name}?year={BIG_YEAR}")
        assert (drug["generic_name"], drug["claim_count"], drug["drug_cost"]) == (
            SLASH_DRUG,
            12,
            45.5,
        )
        states, _ = get_json(base, f"/api/v1/drugs/{name}/states?year={BIG_YEAR}")
        assert [(s["state"], s["claim_count"]) for s in states] == [("NY", 12)]
        providers, _ = get_json(base, f"/api/v1/drugs/{name}/providers?year={BIG_YEAR}")
        assert [(p["npi"], p["claim_count"]) for p in providers] == [("1000000001", 12)]


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def test_csv_streams_a_100000_row_list_in_bounded_memory(big_server):
    base, wh, proc = big_server
    with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as children:
        (worker,) = (int(pid) for pid in children.read().split())
    path = f"/api/v1/procedures/{BIG_CODE}/providers?year={BIG_YEAR}&format=csv"
    get(base, path.replace("format=csv", "limit=5"))  # the worker's pool and caches warm
    baseline = _rss_kib(worker)
    peak, done = [baseline], threading.Event()

    def sample():
        while not done.is_set():
            peak.append(_rss_kib(worker))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    lines = 0
    first, last = [], None
    try:
        with urllib.request.urlopen(base + path, timeout=120) as response:
            headers = dict(response.headers)
            reader = csv.reader(io.TextIOWrapper(response, encoding="utf-8", newline=""))
            for row in reader:  # read as it arrives, never held whole
                lines += 1
                if lines <= 3:
                    first.append(row)
                last = row
    finally:
        done.set()
        sampler.join()
    growth_mib = (max(peak) - baseline) / 1024
    # the whole list is ~9 MB of CSV and ~100 MB as Python rows; streamed, the worker holds
    # one batch of rows at a time
    assert growth_mib < 16, f"the server grew {growth_mib:.1f} MiB while streaming"
    assert headers["Content-Type"].startswith("text/csv")
    assert headers.get("Transfer-Encoding") == "chunked" and "Content-Length" not in headers
    assert lines == BIG_ROWS + 1
    assert first[0] == [
        "npi",
        "display_name",
        "provider_type",
        "state",
        "event_count",
        "service_units",
        "paid_amount",
        "pct_of_provider",
        "events_pctile_code",
    ]
    top = sql(
        wh.url,
        "select pp.npi, p.display_name, pp.event_count, pp.paid_amount "
        "from marts.provider_procedures pp join marts.providers p using (data_year, npi) "
        "where pp.data_year = %s order by pp.event_count desc, pp.npi",
        (BIG_YEAR,),
    )
    assert first[1][:2] == [top[0]["npi"], "'" + top[0]["display_name"]]  # formula neutralised
    assert (first[1][4], first[1][6]) == (
        str(top[0]["event_count"]),
        f"{top[0]['paid_amount']:.2f}",
    )
    assert last[0] == top[-1]["npi"]


def test_peer_groups_follow_a_publish(big_server):
    """The server keeps a peer group's figures until marts.providers is published again."""
    from medidash.orchestration.dbt_env import dbt_command

    base, wh, _ = big_server
    path = f"/api/v1/providers/1000000001?year={BIG_YEAR}"
    before, _ = get_json(base, path)
    assert before["peers"]["paid_nation"]["providers"] == BIG_ROWS
    assert get_json(base, path)[0] == before
    # one more Internal Medicine provider, billing another code (the lists above keep theirs)
    with psycopg.connect(wh.url, autocommit=True) as conn:
        conn.execute(
            f"""
            insert into landing.procedure_events
             (data_year, npi, state, zip5, hcpcs_code, event_count, service_units,
              submitted_charge, allowed_amount, paid_amount, standardized_amount, loaded_at)
            values ({BIG_YEAR}, '1999999999', 'CA', '94110', '99213', 5, 5, 300, 200, 150,
                    140, now());
            insert into landing.provider_rows
             (data_year, dataset, npi, last_name, first_name, provider_type, entity_type,
              state, zip5, row_count, loaded_at)
            values ({BIG_YEAR}, 'part_b', '1999999999', 'Newman', 'Ada', 'Internal Medicine',
                    'I', 'CA', '94110', 1, now());
            insert into landing.provider_locations
            values ({BIG_YEAR}, '1999999999', 'CA', '94110', 1, now());
            """
        )
    command, env = dbt_command(["build", "--quiet"], wh.url)
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
    after, _ = get_json(base, path)
    assert after["peers"]["paid_nation"]["providers"] == BIG_ROWS + 1
    in_state = sql(
        wh.url,
        "select count(*) as n from marts.providers where data_year = %s "
        "and provider_type = 'Internal Medicine' and state = 'NY' and paid_amount > 0",
        (BIG_YEAR,),
    )[0]["n"]
    assert after["peers"]["paid_state"]["providers"] == in_state == BIG_ROWS // 5
