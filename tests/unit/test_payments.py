"""Part B payments through the lake (contract v2 sections 2 and 3): a row's total of each average
is average × Tot_Srvcs rounded half up to the cent, split over its events in cents like
drug_cost (exact sums, at most one cent apart, NULL on every event of a row without the
average); step 3 sums the cents into dollars. Tiny hand-made frames, real Spark and the JVM
event writer."""

from __future__ import annotations

from decimal import Decimal

from pyspark.sql import functions as F

from spark_jobs import ingest_cleaning as cleaning
from spark_jobs import step2_explode as explode
from spark_jobs import step3_aggregate_load as load

MONEY = ("submitted_charge", "allowed_amount", "paid_amount", "standardized_amount")
AVERAGES = ("avg_submitted_charge", "avg_allowed_amount", "avg_payment_amount",
            "avg_standardized_amount")  # fmt: skip

# (npi, hcpcs, place, tot_srvcs, bene-days, the four averages as the file spells them)
ROWS = [
    # 3 events (bene-days); 100.01 × 10 = 1000.10; 33.3333333333 × 10 = 333.333333333;
    # 1.0005 × 10 = 10.005 → 10.01 (half up); no standardized amount
    ("1111111111", "99213", "O", "10", "3", "100.01", "33.3333333333", "1.0005", ""),
    # one event: 1.005 × 1 = 1.005 → 1.01 (a double 1.005 is 1.00499999999999989...)
    ("1111111111", "99214", "F", "1", "1", "1.005", "1.005", "1.005", "1.005"),
    # 50 events, 2 cents: 0.0003 × 50 = 0.015 → 0.02; fewer cents than events
    ("2222222222", "J1100", "O", "50", "", "0.0003", "0.0003", "0", "0.0001"),
    # ceil(2.5) = 3 events; 0.01 × 2.5 = 0.025 → 0.03
    ("2222222222", "99215", "O", "2.5", "", "0.01", "0.01", "0.01", "0.01"),
    # the averages blank: NULL on every event
    ("3333333333", "99213", "O", "4", "", "", "", "", ""),
]
TOTAL_CENTS = {  # (npi, hcpcs) -> the four totals, worked out by hand
    ("1111111111", "99213"): (100010, 33333, 1001, None),
    ("1111111111", "99214"): (101, 101, 101, 101),
    ("2222222222", "J1100"): (2, 2, 0, 1),
    ("2222222222", "99215"): (3, 3, 3, 3),
    ("3333333333", "99213"): (None, None, None, None),
}
EVENTS = {("1111111111", "99213"): 3, ("1111111111", "99214"): 1, ("2222222222", "J1100"): 50,
          ("2222222222", "99215"): 3, ("3333333333", "99213"): 4}  # fmt: skip


def _clean_rows(spark):
    """ROWS typed as step 1 types them (CLEAN_COLUMNS, through ingest_cleaning.number)."""
    types = dict(cleaning.CLEAN_COLUMNS["part_b"])
    raw = spark.createDataFrame(
        ROWS,
        "npi string, hcpcs_code string, place_of_service string, tot_srvcs string, "
        "tot_bene_day_srvcs string, " + ", ".join(f"{a} string" for a in AVERAGES),
    )
    numbers = ("tot_srvcs", "tot_bene_day_srvcs", *AVERAGES)
    return raw.select(
        "npi",
        "hcpcs_code",
        "place_of_service",
        F.lit("CA").alias("state"),
        F.lit("94110").alias("zip5"),
        *(cleaning.number(F.col(c), types[c]).cast(types[c]).alias(c) for c in numbers),
    )


def test_averages_are_cleaned_as_exact_decimals(spark):
    rows = _clean_rows(spark)
    for average in AVERAGES:
        assert rows.schema[average].dataType.simpleString().startswith("decimal")
    one = rows.where("hcpcs_code = '99214'").first()
    assert one.avg_payment_amount == Decimal("1.005")


def test_row_totals_round_half_up_and_events_split_them_exactly(spark, tmp_path):
    events = explode.explode_procedures(_clean_rows(spark), 2023, tmp_path / "events")
    for name in MONEY:
        assert events.schema[name].dataType.simpleString() == "bigint"
        assert events.schema[name].nullable
    per_row = (
        events.groupBy("npi", "hcpcs_code")
        .agg(
            F.count(F.lit(1)).alias("n"),
            *(F.sum(m).alias(f"{m}_sum") for m in MONEY),
            *(F.min(m).alias(f"{m}_min") for m in MONEY),
            *(F.max(m).alias(f"{m}_max") for m in MONEY),
            *(F.count(m).alias(f"{m}_present") for m in MONEY),
        )
        .collect()
    )
    assert {(r.npi, r.hcpcs_code): r.n for r in per_row} == EVENTS
    for r in per_row:
        expected = TOTAL_CENTS[(r.npi, r.hcpcs_code)]
        assert tuple(r[f"{m}_sum"] for m in MONEY) == expected, (r.npi, r.hcpcs_code)
        for m, total in zip(MONEY, expected, strict=True):
            if total is None:  # NULL on every event of the row, none on any other
                assert r[f"{m}_present"] == 0
            else:
                assert r[f"{m}_present"] == r.n
                assert r[f"{m}_max"] - r[f"{m}_min"] <= 1
    fewer_cents = sorted(e.submitted_charge for e in events.where("hcpcs_code = 'J1100'").collect())
    assert fewer_cents == [0] * 48 + [1, 1]
    first = events.where("npi = '1111111111' and hcpcs_code = '99213'").collect()
    assert sorted(e.submitted_charge for e in first) == [33336, 33337, 33337]


def test_landing_sums_the_cents_into_dollars(spark, tmp_path):
    events = explode.explode_procedures(_clean_rows(spark), 2023, tmp_path / "events")
    totals = load.procedure_totals(events.withColumn("data_year", F.lit(2023)))
    for name in MONEY:
        assert totals.schema[name].dataType.simpleString() == "decimal(22,2)"
    got = {(r.npi, r.hcpcs_code): tuple(r[m] for m in MONEY) for r in totals.collect()}
    assert got == {
        key: tuple(None if c is None else Decimal(c) / 100 for c in cents)
        for key, cents in TOTAL_CENTS.items()
    }
