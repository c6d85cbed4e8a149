"""The bench's single-node reference (medidash/benchmarks/reference.py, DuckDB) counts what
MediDash counts: on a tiny generated release, its reconciliation (input, valid, duplicate,
filtered and quarantined rows per dataset), its events per dataset and its rows of step 3's
event totals equal those of MediDash's ingest, explode and aggregation (real Spark) on the
same files, within the reference's tolerance (exact at this size). The generated release
carries the bad records the contract names (records a field short or a field long, some of
them a valid record with a trailing delimiter; bad NPIs; non-numeric and negative counts;
a MIPS score out of range; duplicates)."""

from __future__ import annotations

import copy

import pytest

from medidash.benchmarks import reference
from medidash.generator.release import generate

YEAR = 2023
SCALE = 0.0005


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    generate(out, YEAR, SCALE, seed=7, processes=1)
    return out


@pytest.fixture(scope="module")
def medidash(spark, release, tmp_path_factory) -> dict:
    """MediDash's reconciliation of the release, and the rows of step 3's event totals."""
    from spark_jobs import step1_ingest, step2_explode, step3_aggregate_load

    lake = str(tmp_path_factory.mktemp("lake"))
    step1_ingest.ingest(spark, release, YEAR, lake, "reference")
    reconciliation = step2_explode.explode(spark, lake, YEAR, "reference")
    frames = step3_aggregate_load.landing_frames(spark, lake, YEAR)
    landed = {table: frames[table].count() for table in reference.AGGREGATES}
    return {"reconciliation": reconciliation, "landed": landed}


@pytest.fixture(scope="module")
def figures(release, tmp_path_factory) -> dict:
    return reference.compute(release, tmp_path_factory.mktemp("reference"), YEAR)


def test_the_reference_counts_what_medidash_counts(figures, medidash):
    assert reference.disagreements(figures, medidash["reconciliation"], medidash["landed"]) == []
    assert set(figures["counts"]) == set(medidash["reconciliation"])  # every dataset compared
    for dataset in ("part_b", "part_d"):
        assert figures["counts"][dataset]["events"] > 0
    assert all(rows > 0 for rows in medidash["landed"].values())


def test_a_difference_of_one_row_is_reported(figures, medidash):
    """At this size the tolerance is below one row: one valid row more is a disagreement."""
    changed = copy.deepcopy(medidash["reconciliation"])
    changed["clinicians"]["valid_rows"] += 1
    differ = reference.disagreements(figures, changed)
    assert len(differ) == 1 and differ[0].startswith("clinicians valid rows"), differ
