"""Dashboard benchmark: server-side latency of random state, ZIP and practice lookups, through
the API and through the dashboard's own callback (the request a browser sends), measured in
process with Flask's test client so that only the server's work is timed. The API part also
times the provider pages' requests: a provider search by name prefix, a provider's profile
(its row and peer groups) and one HCPCS code's state map."""

from __future__ import annotations

import json
import random
import statistics
import time

import psycopg

from medidash.benchmarks.dashboard_pages import marts_years


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run(database_url: str, n: int = 1000, seed: int = 7) -> dict:
    from medidash.dashboard.app import create_app

    with psycopg.connect(database_url) as conn:
        year = conn.execute("select max(data_year) from marts.geo_summary").fetchone()[0]
        geos = conn.execute(
            "select geo_level, geo_id from marts.geo_summary where data_year = %s", (year,)
        ).fetchall()
        years = marts_years(conn)
    if not geos:
        raise RuntimeError("the marts are empty: run the pipeline first")
    rng = random.Random(seed)
    by_level = {
        level: [g for lvl, g in geos if lvl == level] for level in ("state", "zip", "practice")
    }
    lookups = [
        (level, rng.choice(by_level[level]))
        for level in rng.choices([lvl for lvl in by_level if by_level[lvl]], k=n)
    ]
    client = create_app(database_url, rate_limit=None).server.test_client()
    client.get("/api/v1/years")  # warm the pool

    api, callback = [], []
    for level, geo_id in lookups:
        started = time.perf_counter()
        response = client.get(f"/api/v1/geo/{level}/{geo_id}/procedures?year={year}")
        api.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.data[:200]
        body = {
            "output": "detail.children",
            "outputs": {"id": "detail", "property": "children"},
            "inputs": [
                {"id": "url", "property": "search", "value": f"?{level}={geo_id}"},
                {"id": "year", "property": "value", "value": year},
            ],
            "changedPropIds": ["url.search"],
            "state": [],
        }
        started = time.perf_counter()
        response = client.post(
            "/_dash-update-component", data=json.dumps(body), content_type="application/json"
        )
        callback.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.data[:200]
    return {
        "years": years,
        "year": year,
        "lookups": n,
        "geographies": len(geos),
        "api_p50_ms": round(statistics.median(api), 2),
        "api_p95_ms": round(_percentile(api, 0.95), 2),
        "callback_p50_ms": round(statistics.median(callback), 2),
        "callback_p95_ms": round(_percentile(callback, 0.95), 2),
        **provider_pages(client, database_url, year, n, rng),
    }


def _timed(client, paths: list[str]) -> list[float]:
    times = []
    for path in paths:
        started = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.data[:200])
    return times


def provider_pages(client, database_url: str, year: int, n: int, rng: random.Random) -> dict:
    """p50/p95 of `n` provider searches (the first three letters of a random provider's name),
    `n` provider profiles (random NPIs) and `n` state maps of a random HCPCS code, through the
    API (issue 15's bar at scale 0.1: search and profile p95 < 50 ms, state map < 100 ms)."""
    from urllib.parse import quote

    with psycopg.connect(database_url) as conn:
        providers = conn.execute(
            "select npi, display_name from marts.providers where data_year = %s", (year,)
        ).fetchall()
        codes = [
            code
            for (code,) in conn.execute(
                "select hcpcs_code from marts.procedure_counts where data_year = %s "
                "and geo_level = 'nation'",
                (year,),
            )
        ]
    if not providers or not codes:
        return {}
    named = [name for _, name in providers if name]
    sample = [rng.choice(providers) for _ in range(n)]
    search = _timed(
        client,
        [f"/api/v1/providers?q={quote(rng.choice(named)[:3])}&year={year}" for _ in range(n)],
    )
    profile = _timed(client, [f"/api/v1/providers/{npi}?year={year}" for npi, _ in sample])
    states = _timed(
        client, [f"/api/v1/procedures/{rng.choice(codes)}/states?year={year}" for _ in range(n)]
    )
    figures = {"providers": len(providers), "hcpcs_codes": len(codes)}
    for name, times in (
        ("provider_search", search),
        ("provider_profile", profile),
        ("code_state_map", states),
    ):
        figures[f"{name}_p50_ms"] = round(statistics.median(times), 2)
        figures[f"{name}_p95_ms"] = round(_percentile(times, 0.95), 2)
    return figures
