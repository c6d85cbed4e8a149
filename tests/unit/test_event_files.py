"""The event writer's run columns (`RunColumn.java`: units and money, a row's shares written a
run at a time) across its page and row-group boundaries: a row whose events fill several
pages, nulls that span pages, row groups ended between rows. Read back by two independent
readers, Spark's and Arrow's, which agree on every value and on each page's statistics."""

from __future__ import annotations

from decimal import Decimal

import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from spark_jobs import step2_explode as explode
from tests.unit.test_payments import AVERAGES, MONEY

PAGE = 128 * 1024  # RunColumn.PAGE_VALUES
# (npi, hcpcs, events, Tot_Srvcs, the four averages; None: absent)
ROWS = [
    ("1000000001", "99213", 3, "7.5", ("10.01", "5.5", "1.0005", None)),
    # more events than two pages hold, one cent each for a few of them
    ("1000000002", "J1100", 2 * PAGE + 77, "300000.5", ("0.0003", "0.0002", "0", None)),
    # NULLs across a page boundary, then values again
    ("1000000003", "99214", PAGE + 5, "131077", (None, None, None, None)),
    ("1000000004", "99215", 1, "1", ("1.005", "1.005", "1.005", "1.005")),
    *(
        (f"20000000{i:02d}", "99213", 9000 + i, f"{9000 + i}", ("97.13", "80", "64.2", "66.6"))
        for i in range(40)
    ),
]


@pytest.fixture(scope="module")
def written(spark, tmp_path_factory):
    folder = tmp_path_factory.mktemp("events") / "procedures"
    rows = spark.createDataFrame(
        [(npi, code, "O", "CA", "94110", Decimal(n), Decimal(srvcs),
          *(None if a is None else Decimal(a) for a in avgs)) for npi, code, n, srvcs, avgs in ROWS],
        "npi string, hcpcs_code string, place_of_service string, state string, zip5 string, "
        "tot_bene_day_srvcs decimal(14,3), tot_srvcs decimal(14,3), "
        + ", ".join(f"{a} decimal(23,12)" for a in AVERAGES),
    )  # fmt: skip
    spark.conf.set("parquet.block.size", str(1024 * 1024))  # row groups of ~1 MiB buffered
    try:
        explode.write_events(rows, explode.PROCEDURES, 2023, folder, 1)
    finally:
        spark.conf.unset("parquet.block.size")
    return folder


def test_the_shares_add_up_across_pages_and_row_groups(spark, written):
    files = sorted(written.glob("*.parquet"))
    assert len(files) == 1
    meta = pq.ParquetFile(files[0]).metadata
    assert meta.num_row_groups > 2, "the test must cross row groups"
    arrow = pq.read_table(files[0]).to_pandas()
    events = explode.read_events(spark, explode.PROCEDURES, written)
    per_row = {
        r.npi: r
        for r in events.groupBy("npi")
        .agg(
            F.count(F.lit(1)).alias("n"),
            F.sum("units").alias("units"),
            *(F.sum(m).alias(m) for m in MONEY),
            *(F.count(m).alias(f"{m}_present") for m in MONEY),
            *(F.max(m).alias(f"{m}_max") for m in MONEY),
            *(F.min(m).alias(f"{m}_min") for m in MONEY),
        )
        .collect()
    }
    assert len(arrow) == events.count() == sum(r[2] for r in ROWS)
    for npi, _, n, srvcs, avgs in ROWS:
        got = per_row[npi]
        assert got.n == n and got.units == Decimal(srvcs)
        for money, average in zip(MONEY, avgs, strict=True):
            if average is None:
                assert got[f"{money}_present"] == 0 and got[money] is None
                continue
            cents = (Decimal(average) * Decimal(srvcs) * 100).quantize(Decimal(1), "ROUND_HALF_UP")
            assert got[money] == cents, (npi, money)
            assert got[f"{money}_present"] == n
            assert got[f"{money}_max"] - got[f"{money}_min"] <= (1 if cents % n else 0)
        # Arrow reads the same values, in the same order
        mine = arrow[arrow.npi == npi]
        assert len(mine) == n
        assert mine.paid_amount.sum() == (got.paid_amount or 0)
        assert mine.standardized_amount.isna().all() == (avgs[3] is None)


def test_each_row_groups_statistics_bound_its_values(written):
    file = pq.ParquetFile(next(written.glob("*.parquet")))
    for g in range(file.metadata.num_row_groups):
        values = file.read_row_group(g).to_pandas()
        group = file.metadata.row_group(g)
        for c in range(group.num_columns):
            column = group.column(c)
            name = column.path_in_schema
            if name not in (*MONEY, "units"):
                continue
            stats = column.statistics
            assert stats.null_count == values[name].isna().sum(), (g, name)
            present = values[name].dropna()
            if len(present):
                assert (stats.min, stats.max) == (present.min(), present.max()), (g, name)
            else:
                assert not stats.has_min_max, (g, name)
