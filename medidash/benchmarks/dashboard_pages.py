"""Dashboard pages benchmark (issue 16's bar): server-side latency of the provider page, the
code page and the provider type-ahead, each measured as the Dash callback a browser sends for
it, in process through Flask's test client (only the server's work is timed: queries, layout,
JSON).

- provider page: `detail.children` for `?npi=` of random providers (peer groups, procedures,
  drugs, trend);
- code page: `detail.children` for `?hcpcs=` of random codes, plus the map of the code
  (`us-map.figure`), the two callbacks the page runs;
- type-ahead: `provider-search.options` for random name prefixes (2-4 letters of real names)
  and NPI prefixes, with and without the state filter.

Bar (issue 16): page p95 < 150 ms, type-ahead p95 < 50 ms, on marts holding two data years
(`land_years` lands the year the pipeline bench does not, so every page has its trend).
"""

from __future__ import annotations

import json
import random
import shutil
import statistics
import time
from pathlib import Path

import psycopg

# the data years the dashboard benches' marts hold: the pipeline bench lands the latest one
YEARS = (2022, 2023)
# the pipeline bench's seed: the same providers in every year, as in CMS's releases
SEED = 42


def land_years(url: str, scale: float, workdir: Path, landed: tuple[int, ...] = ()) -> dict:
    """Land every year of YEARS but those in `landed` (already landed at `scale` in this run)
    into the warehouse at `url` through the three Spark steps, each from a release generated
    once per year and scale under `workdir` (the pipeline bench's own release of a year, when
    it has one, is reused). The figures: the years the marts will hold and the seconds each
    landed year took."""
    from medidash import settings
    from medidash.generator.release import generate
    from spark_jobs import step1_ingest, step2_explode, step3_aggregate_load
    from spark_jobs.session import build_session

    todo = [year for year in YEARS if year not in landed]
    figures: dict = {"years": ", ".join(map(str, YEARS))}
    if not todo:
        return figures
    spark = build_session(
        "medidash-bench-years",
        **{"spark.driver.memory": settings.current().given_or("spark_driver_memory", "8g")},
    )
    try:
        for year in todo:
            started = time.perf_counter()
            release = workdir / f"release-{year}-{scale:g}"
            pipeline_release = workdir.parent / "pipeline" / f"release-{scale:g}"
            if year == max(YEARS) and (pipeline_release / "manifest.json").exists():
                release = pipeline_release  # the pipeline bench's: same year, seed and scale
            elif not (release / "manifest.json").exists():
                generate(release, year, scale, SEED, "current")
            lake = workdir / "lake"
            shutil.rmtree(lake, ignore_errors=True)
            run_id = f"bench_dashboard_{year}"
            step1_ingest.ingest(spark, release, year, str(lake), run_id)
            step2_explode.explode(spark, str(lake), year, run_id)
            step3_aggregate_load.load(spark, str(lake), year, run_id, url)
            shutil.rmtree(lake, ignore_errors=True)
            figures[f"land_{year}_seconds"] = round(time.perf_counter() - started, 1)
    finally:
        spark.stop()
    return figures


def marts_years(conn) -> str:
    """The data years the marts hold, as the report shows them."""
    rows = conn.execute("select distinct data_year from marts.geo_summary order by 1").fetchall()
    return ", ".join(str(year) for (year,) in rows)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _body(outputs: list[str], inputs: list[tuple], state: list[tuple] = ()) -> str:
    """A Dash callback request as the browser sends it."""
    split = [dict(zip(("id", "property"), o.split("."), strict=True)) for o in outputs]
    return json.dumps(
        {
            "output": outputs[0] if len(outputs) == 1 else ".." + "...".join(outputs) + "..",
            "outputs": split[0] if len(outputs) == 1 else split,
            "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
            "changedPropIds": [f"{inputs[0][0]}.{inputs[0][1]}"],
            "state": [{"id": i, "property": p, "value": v} for i, p, v in state],
        }
    )


def _timed(client, body: str) -> float:
    started = time.perf_counter()
    response = client.post("/_dash-update-component", data=body, content_type="application/json")
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.data[:300]
    return elapsed


def _summary(name: str, values: list[float]) -> dict:
    return {
        f"{name}_n": len(values),
        f"{name}_p50_ms": round(statistics.median(values), 2),
        f"{name}_p95_ms": round(_percentile(values, 0.95), 2),
    }


def run(database_url: str, n: int = 300, seed: int = 7) -> dict:
    """p50/p95 of each page's callbacks over `n` random lookups in the latest year (the
    marts' years, as they hold them, in `years`)."""
    from medidash.dashboard.app import create_app

    with psycopg.connect(database_url) as conn:
        year = conn.execute("select max(data_year) from marts.providers").fetchone()[0]
        if year is None:
            raise RuntimeError("marts.providers is empty: run the pipeline first")
        years = marts_years(conn)
        providers = conn.execute(
            "select npi, display_name, state from marts.providers where data_year = %s "
            "order by random() limit %s",
            (year, max(n, 50)),
        ).fetchall()
        codes = [
            r[0]
            for r in conn.execute(
                "select hcpcs_code from marts.procedure_counts where data_year = %s "
                "and geo_level = 'nation' order by random() limit %s",
                (year, max(n, 50)),
            ).fetchall()
        ]
    rng = random.Random(seed)
    client = create_app(database_url, rate_limit=None).server.test_client()
    client.get("/healthz")  # warm the pool

    def page(search: str) -> str:
        return _body(["detail.children"], [("url", "search", search), ("year", "value", year)])

    provider_ms, code_ms, map_ms, typeahead_ms = [], [], [], []
    for _ in range(n):
        npi, name, state = rng.choice(providers)
        provider_ms.append(_timed(client, page(f"?npi={npi}&year={year}")))
        code = rng.choice(codes)
        code_ms.append(_timed(client, page(f"?hcpcs={code}&year={year}")))
        map_ms.append(
            _timed(
                client,
                _body(
                    ["us-map.figure"],
                    [
                        ("year", "value", year),
                        ("measure", "value", "event_count"),
                        ("url", "search", f"?hcpcs={code}&year={year}"),
                        ("rate", "value", "total"),
                    ],
                ),
            )
        )
        if rng.random() < 0.5 and name:
            text = name[: rng.randint(2, 4)].lower()
        else:
            text = npi[: rng.randint(3, 6)]
        typeahead_ms.append(
            _timed(
                client,
                _body(
                    ["provider-search.options"],
                    [
                        ("provider-search", "search_value", text),
                        ("provider-state", "value", state if rng.random() < 0.3 else None),
                        ("provider-type", "value", None),
                    ],
                    [("year", "value", year), ("provider-search", "value", None)],
                ),
            )
        )
    return {
        "years": years,
        "year": year,
        **_summary("provider_page", provider_ms),
        **_summary("code_page", code_ms),
        **_summary("code_map", map_ms),
        **_summary("typeahead", typeahead_ms),
        "bar": {"page_p95_ms": 150, "typeahead_p95_ms": 50},
    }


if __name__ == "__main__":
    import sys

    print(json.dumps(run(sys.argv[1], n=int(sys.argv[2]) if len(sys.argv) > 2 else 300), indent=2))
