"""Readers during a refresh, idempotent re-runs, and two data years side by side.

A SQL reader (the dashboard's read-only role) queries the marts in a loop while a different
release of the same year is loaded and the marts rebuilt: every read succeeds, is never empty,
and always sees one release (the totals of the detail marts agree with geo_summary, read in one
statement). Beside it, the dashboard's own reads of a page (several queries through
`Marts.consistent`, as the detail callback makes them) agree with each other the same way.
"""

from __future__ import annotations

import threading

import psycopg
import pytest

from medidash.dashboard.queries import PROCEDURE, Marts
from medidash.warehouse import EmbeddedServer
from tests.reliability import harness as h

pytestmark = pytest.mark.slow

# One statement, so it reads every table at one point in time as far as PostgreSQL allows;
# a mix of two releases shows as detail totals that disagree with geo_summary.
CONSISTENCY_SQL = """
select
    (select coalesce(sum(event_count), 0) from marts.procedure_counts
      where data_year = %(y)s and geo_level = 'state'),
    (select coalesce(sum(procedure_events), 0) from marts.geo_summary
      where data_year = %(y)s and geo_level = 'state'),
    (select coalesce(sum(claim_count), 0) from marts.prescription_counts
      where data_year = %(y)s and geo_level = 'state'),
    (select coalesce(sum(prescription_claims), 0) from marts.geo_summary
      where data_year = %(y)s and geo_level = 'state'),
    (select count(*) from marts.specialty_counts where data_year = %(y)s)
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("consistency")
    server = EmbeddedServer(root / "pg")
    wh = server.start()
    yield root, wh
    server.stop()


def test_readers_never_see_errors_empty_tables_or_a_mix(env):
    root, wh = env
    year = 2023
    first = h.generate(root / "release-a", year, scale=0.002, seed=1)
    second = h.generate(root / "release-b", year, scale=0.002, seed=2)
    lake = root / "lake"
    h.run_pipeline(release=first, year=year, lake=lake, run_id="a", url=wh.url)
    h.dbt_build(wh.url)
    before = h.marts_snapshot(wh.url)

    stop = threading.Event()
    seen: list[tuple] = []
    errors: list[str] = []

    def reader():
        with psycopg.connect(wh.dashboard_url, autocommit=True) as conn:
            while not stop.is_set():
                try:
                    seen.append(conn.execute(CONSISTENCY_SQL, {"y": year}).fetchone())
                except psycopg.Error as error:
                    errors.append(str(error))

    marts = Marts(wh.dashboard_url, max_size=2)
    state = max(marts.states(year), key=lambda r: r["procedure_events"])["state"]
    with psycopg.connect(wh.url) as conn:
        npi = conn.execute(
            "select npi from marts.providers where data_year = %s "
            "order by procedure_events desc, npi limit 1",
            (year,),
        ).fetchone()[0]
        code = conn.execute(
            "select hcpcs_code from marts.procedure_counts where data_year = %s "
            "and geo_level = 'nation' order by event_count desc, hcpcs_code limit 1",
            (year,),
        ).fetchone()[0]
    pages: list[tuple] = []
    product_pages: list[tuple] = []

    def dashboard_reader():
        """The page of the busiest state, as the dashboard reads it: summary, then details."""
        while not stop.is_set():
            try:
                with marts.consistent() as view:
                    summary = view.summary("state", state, year)
                    events = sum(
                        r["event_count"]
                        for drug in (False, True)
                        for r in view.procedures("state", state, year, drug, limit=100_000)
                    )
                    claims = sum(
                        r["claim_count"]
                        for r in view.prescriptions("state", state, year, limit=100_000)
                    )
                pages.append((summary, events, claims))
                # a provider's page and a code's page (contract v2's marts): their totals and
                # their lists, read in one view, come from one release
                with marts.consistent() as view:
                    provider = view.provider(npi, year)
                    provider_events = sum(
                        r["event_count"]
                        for r in view.first(view.provider_procedures(npi, year), 100_000)
                    )
                    national = view.product(PROCEDURE, code, year)
                    code_events = sum(
                        r["event_count"]
                        for r in view.first(
                            view.product_providers(PROCEDURE, code, year), 1_000_000
                        )
                    )
                product_pages.append((provider, provider_events, national, code_events))
            except psycopg.Error as error:
                errors.append(f"dashboard: {error}")

    threads = [threading.Thread(target=reader), threading.Thread(target=dashboard_reader)]
    for thread in threads:
        thread.start()
    try:
        h.run_pipeline(release=second, year=year, lake=lake, run_id="b", url=wh.url)
        h.dbt_build(wh.url)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        marts.close()

    assert errors == []
    assert len(seen) > 20, "the reader must have run through the refresh"
    assert len(pages) > 20, "the dashboard reader must have run through the refresh"
    for summary, events, claims in pages:
        assert summary is not None and events > 0, "the dashboard saw an empty page"
        assert (summary["procedure_events"], summary["prescription_claims"]) == (events, claims), (
            "the dashboard saw a mix of two releases on one page"
        )
    assert len({p[1:] for p in pages}) == 2, "expected the old and the new page only"
    for provider, provider_events, national, code_events in product_pages:
        if provider is not None:  # the second release need not have this NPI
            assert provider["procedure_events"] == provider_events, "a provider page mixed"
        if national is not None:
            assert national["event_count"] == code_events, "a code page mixed two releases"
    assert len({(p[1], p[3]) for p in product_pages}) == 2, "expected two releases' pages"
    totals = {row[:4] for row in seen}
    for events, summary_events, claims, summary_claims, specialties in seen:
        assert events > 0 and claims > 0 and specialties > 0, "a reader saw an empty mart"
        assert events == summary_events and claims == summary_claims, "a reader saw a mix"
    assert len(totals) == 2, f"expected the old and the new release only, saw {totals}"
    assert h.marts_snapshot(wh.url) != before


def test_same_release_twice_is_identical_and_years_coexist(env):
    root, wh = env
    lake = root / "lake-years"
    r2022 = h.generate(root / "release-2022", 2022, scale=0.001, seed=3)
    r2023 = h.generate(root / "release-2023", 2023, scale=0.001, seed=4)
    h.run_pipeline(release=r2022, year=2022, lake=lake, run_id="y22", url=wh.url)
    h.run_pipeline(release=r2023, year=2023, lake=lake, run_id="y23", url=wh.url)
    h.dbt_build(wh.url)
    first = h.marts_snapshot(wh.url)
    files_2022 = sorted(p.name for p in (lake / "events/procedures/data_year=2022").rglob("*"))

    h.run_pipeline(release=r2023, year=2023, lake=lake, run_id="y23-again", url=wh.url)
    h.dbt_build(wh.url)
    assert h.marts_snapshot(wh.url) == first, "the same release twice must give identical marts"
    assert sorted(p.name for p in (lake / "events/procedures/data_year=2022").rglob("*")) == (
        files_2022
    ), "re-running 2023 must leave 2022's events alone"
    with psycopg.connect(wh.url) as conn:
        for mart in h.MARTS:
            years = {r[0] for r in conn.execute(f"select distinct data_year from marts.{mart}")}
            assert {2022, 2023} <= years, f"marts.{mart} must keep both years, has {years}"
        runs = conn.execute(
            "select count(*) from ops.reconciliation where run_id in ('y23', 'y23-again')"
        ).fetchone()[0]
        assert runs >= 4
