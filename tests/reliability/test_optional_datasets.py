"""Releases without their optional datasets (contract v2 section 1): no Part D (CMS published
none before 2013), no MIPS file (none before performance year 2017), no affiliations, and none
of the three. Each loads, and the marts follow the contract: the absent dataset's marts hold
no rows for that year, the measures it feeds are 0 (claims, drug cost) or NULL (MIPS), and
every other mart is exactly that of the complete release.

The hand-made release of tests/e2e/test_hand_computed_marts.py, one data year per case plus
the complete release as a reference year, all through the three Spark steps in one session
and one dbt build into a real PostgreSQL (the marts hold every year side by side).
"""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest

from medidash.warehouse import EmbeddedServer
from spark_jobs import step1_ingest, step2_explode, step3_aggregate_load
from tests.e2e.test_hand_computed_marts import P1, P2, write_release
from tests.reliability import harness as h

REFERENCE = 2023
CASES = {  # data year: the optional datasets absent from its release
    2019: ("part_d",),
    2020: ("mips",),
    2021: ("affiliations",),
    2022: ("part_d", "mips", "affiliations"),
}
GEO_SUMMARY = (
    "select geo_level, geo_id, display_name, state, clinician_count, procedure_events, "
    "prescription_claims, avg_mips_score, drug_cost, provider_count from marts.geo_summary "
    "where data_year = %s order by 1, 2"
)
ZERO = Decimal("0.00")
# The complete release's geo_summary without its Part D rows, worked out by hand: no claims
# and no drug cost anywhere, TX (only E's prescriptions) gone, and providers are the NPIs
# with Part B rows only (A and B in CA, 94110 and P1; A and C in P2; C in NY and 10001).
WITHOUT_PART_D = [
    ("nation", "US", "US", None, 5, 123, 0, 80.0, ZERO, 3),
    ("practice", P2, "CITY GROUP", "NY", 2, 79, 0, 80.0, ZERO, 2),
    ("practice", P1, "BAY CLINIC", "CA", 2, 100, 0, 90.0, ZERO, 2),
    ("state", "CA", "CA", "CA", 2, 100, 0, 90.0, ZERO, 2),
    ("state", "MA", "MA", "MA", 1, 0, 0, None, ZERO, 0),  # D: a clinician, no Part B row
    ("state", "NY", "NY", "NY", 2, 23, 0, 80.0, ZERO, 1),
    ("state", "PR", "PR", "PR", 1, 0, 0, None, ZERO, 0),
    ("zip", "00901", "00901", "PR", 1, 0, 0, None, ZERO, 0),
    ("zip", "02134", "02134", "MA", 1, 0, 0, None, ZERO, 0),
    ("zip", "10001", "10001", "NY", 2, 23, 0, 80.0, ZERO, 1),
    ("zip", "94110", "94110", "CA", 2, 100, 0, 90.0, ZERO, 2),
]
pytestmark = pytest.mark.slow


def without_mips(rows):
    return [(*row[:7], None, *row[8:]) for row in rows]


@pytest.fixture(scope="module")
def warehouse_of_cases(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("optional")
    lake = str(root / "lake")
    server = EmbeddedServer(root / "pg")
    wh = server.start()
    try:
        for year, absent in {REFERENCE: (), **CASES}.items():
            release = write_release(root / f"release-{year}", without=absent)
            run_id = f"optional_{year}"
            step1_ingest.ingest(spark, release, year, lake, run_id)
            step2_explode.explode(spark, lake, year, run_id)
            step3_aggregate_load.load(spark, lake, year, run_id, wh.url)
        h.dbt_build(wh.url)
        with psycopg.connect(wh.url) as conn:
            yield conn
    finally:
        server.stop()


def rows_of(conn, mart: str, year: int) -> list[tuple]:
    """The mart's rows of one year, without the year, in a total order."""
    return conn.execute(
        f"select to_jsonb(t) - 'data_year' as row from marts.{mart} t where data_year = %s "
        "order by 1",
        (year,),
    ).fetchall()


@pytest.mark.parametrize("year", sorted(CASES), ids=lambda y: "-".join(CASES[y]) + "-absent")
def test_a_release_without_optional_datasets_loads_and_follows_the_contract(
    warehouse_of_cases, year
):
    conn = warehouse_of_cases
    absent = CASES[year]
    for mart in ("procedure_counts", "specialty_counts", "medical_school_counts"):
        assert rows_of(conn, mart, year) == rows_of(conn, mart, REFERENCE), mart
    for mart, dataset in (
        ("prescription_counts", "part_d"),
        ("hospital_affiliations", "affiliations"),
    ):
        expected = [] if dataset in absent else rows_of(conn, mart, REFERENCE)
        assert rows_of(conn, mart, year) == expected, mart

    summary = conn.execute(GEO_SUMMARY, (year,)).fetchall()
    expected = (
        WITHOUT_PART_D if "part_d" in absent else conn.execute(GEO_SUMMARY, (REFERENCE,)).fetchall()
    )
    if "mips" in absent:
        expected = without_mips(expected)
    assert summary == expected

    recon = {
        r[0]: r[1:]
        for r in conn.execute(
            "select dataset, input_rows, valid_rows, events_written, events_expected "
            "from ops.reconciliation where run_id = %s",
            (f"optional_{year}",),
        )
    }
    assert recon["part_b"] == (9, 7, 123, 123)
    for dataset in absent:  # an absent dataset has no rows and, for Part D, no events
        assert recon.get(dataset, (0, 0, 0, 0)) in ((0, 0, 0, 0), (0, 0, None, None)), dataset
