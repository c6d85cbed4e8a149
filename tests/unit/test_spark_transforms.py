"""The pure transforms of the Spark steps on tiny DataFrames with explicit schemas, compared
as whole frames."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from spark_jobs import ingest_cleaning as cleaning
from spark_jobs import step2_explode as explode
from spark_jobs import step3_aggregate_load as load


def test_zip5_ccn_and_labels(spark):
    df = spark.createDataFrame(
        [
            ("94110", "50001", "  family   practice ", None),
            ("021341111", "050001", "", "OTHER"),
            ("2134", "A1B2C3", None, "  "),
            ("12345-6789", "", "other", "Stanford  Univ"),
        ],
        "zip string, ccn string, spec string, school string",
    )
    out = df.select(
        cleaning.zip5(F.col("zip")).alias("zip5"),
        cleaning.ccn(F.col("ccn")).alias("ccn"),
        cleaning.label_or_unknown(F.col("spec")).alias("spec"),
        cleaning.label_or_unknown(F.col("school")).alias("school"),
    )
    expected = spark.createDataFrame(
        [
            ("94110", "050001", "FAMILY PRACTICE", "UNKNOWN"),
            ("02134", "050001", "UNKNOWN", "OTHER"),
            ("02134", "A1B2C3", "UNKNOWN", "UNKNOWN"),
            ("12345", None, "OTHER", "STANFORD UNIV"),
        ],
        "zip5 string, ccn string, spec string, school string",
    )
    assertDataFrameEqual(out, expected)


def test_classify_order_and_reasons(spark):
    lines = spark.createDataFrame(
        [
            ("f", 2, "1234567890,20"),
            ("f", 3, "0000000001,"),
            ("f", 4, "123,5"),
            ("f", 5, "1234567890,-1"),
            ("f", 6, "1234567890,20"),
            ("f", 7, "1234567890,1,2"),
            ("f", 8, '1234567890,"2'),
        ],
        "source_file string, line_number bigint, raw string",
    )
    parsed = cleaning.parse_fields(lines, ["npi", "tot_srvcs"], ",")
    classified = cleaning.mark_duplicates(
        cleaning.classify(parsed, "part_b", {"npi": "c0", "tot_srvcs": "c1"}, 2)
    )
    assertDataFrameEqual(
        classified.select("line_number", "status", "reason"),
        spark.createDataFrame(
            [
                (2, "valid", None),
                (3, "filtered", None),
                (4, "quarantined", "NPI is not 10 digits: '123'"),
                (5, "quarantined", "tot_srvcs is not a non-negative number: '-1'"),
                (6, "duplicate", None),
                (7, "quarantined", "wrong number of fields: expected 2, found 3"),
                (8, "quarantined", "unbalanced quotes"),
            ],
            "line_number bigint, status string, reason string",
        ),
    )


# records at and past every edge of RFC 4180 quoting, for a comma and a tab file
QUOTING_CORPUS = [
    "a,b,c",
    '"a","b","c"',
    '"a,1","b""x""","c"',
    '"",,"c"',
    ",,",
    '"a",b,',
    ' "a",b,c',
    '"a" ,b,c',
    '"a"x,b,c',
    'a"b,c,d',
    '"a,b,c',
    '"a""",b,c',
    '"""",b,c',
    '"a"","b",c',
    "a,b",
    "a,b,c,d",
    "a,b,c,",
    '"a\nb",c,d',
    "a\rb,c,d",
    '" a ", b ,c ',
    "\u00e9t\u00e9,\u4e2d,\x00\x07",
    '"",""," "',
    '"a""b""c",,',
    "a\tb,c,d",
    '"a\tb",c,d',
]


@pytest.mark.parametrize("delimiter", [",", "\t"])
def test_the_fast_path_splits_as_the_csv_parser_does(spark, delimiter):
    """Every record the fast path (SimpleRecord) splits gets exactly the CSV parser's fields
    and count; the plain records take it, the others go to the parser."""
    records = [r.replace(",", delimiter) if delimiter != "," else r for r in QUOTING_CORPUS]
    lines = spark.createDataFrame(
        [("f", i + 2, r) for i, r in enumerate(records)],
        "source_file string, line_number bigint, raw string",
    )
    header = ["x", "y", "z"]
    fast = cleaning.parse_fields(lines, header, delimiter)
    assertDataFrameEqual(fast, cleaning.parse_fields(lines, header, delimiter, fast=False))
    took = [
        r[0]
        for r in lines.select(
            F.call_function(cleaning.SIMPLE_RECORD, "raw", F.lit(delimiter), F.lit(3)).isNotNull()
        ).collect()
    ]
    # the plain records take the fast path; the others are the parser's
    assert took[:6] == [True] * 6 and sum(took) >= 10, took


PART_B = (
    "npi string, hcpcs_code string, place_of_service string, state string, zip5 string, "
    "tot_srvcs double, tot_bene_day_srvcs bigint"
)


def test_procedure_events_add_up_exactly(spark, tmp_path):
    rows = spark.createDataFrame(
        [
            ("1111111111", "99213", "O", "CA", "94110", 10.0, 3),  # bene-days: 3 events
            ("1111111111", "99214", "F", "CA", "94110", 2.5, None),  # blank: ceil(2.5) = 3
            ("2222222222", "J1100", "O", "NY", "10001", 400.0, 0),  # zero: ceil(400)
            ("3333333333", "0002A", "O", "PR", "00901", 0.0, None),
        ],  # no event at all
        PART_B,
    ).withColumns(  # rows without payments (tests/unit/test_payments.py has them)
        {a: F.lit(None).cast(cleaning.AVERAGE) for _, a in explode.PAYMENTS}
    )
    events = explode.explode_procedures(rows, 2024, tmp_path / "first")
    totals = (
        events.groupBy("npi", "hcpcs_code")
        .agg(
            F.count(F.lit(1)).alias("n"),
            F.sum("units").alias("units"),
            F.min("service_date").alias("first"),
            F.max("service_date").alias("last"),
        )
        .select("npi", "hcpcs_code", "n", "units")
    )
    assertDataFrameEqual(
        totals,
        spark.createDataFrame(
            [
                ("1111111111", "99213", 3, Decimal("10.000")),
                ("1111111111", "99214", 3, Decimal("2.500")),
                ("2222222222", "J1100", 400, Decimal("400.000")),
            ],
            "npi string, hcpcs_code string, n bigint, units decimal(28,3)",
        ),
    )
    units = [r.units for r in events.where("hcpcs_code = '99213'").orderBy("units").collect()]
    assert units == [Decimal("3.333"), Decimal("3.333"), Decimal("3.334")]
    dates = events.agg(F.min("service_date"), F.max("service_date")).first()
    assert dt.date(2024, 1, 1) <= dates[0] and dates[1] <= dt.date(2024, 12, 31)
    assert events.where("service_date = date'2024-12-31'").count() >= 0  # leap year accepted
    again = explode.explode_procedures(rows.repartition(3), 2024, tmp_path / "again")
    assert again.collect() == events.collect()  # deterministic, whatever the input partitioning
    columns = [(f.name, f.dataType) for f in explode.PROCEDURES.schema()]
    assert [(f.name, f.dataType) for f in events.schema] == columns
    assert events.schema.simpleString() == (
        "struct<npi:string,hcpcs_code:string,place_of_service:string,service_date:date,"
        "units:decimal(18,3),state:string,zip5:string,submitted_charge:bigint,"
        "allowed_amount:bigint,paid_amount:bigint,standardized_amount:bigint>"
    )


def test_prescription_events_add_up_exactly(spark, tmp_path):
    rows = spark.createDataFrame(
        [("1111111111", "ATORVASTATIN", "Lipitor", "CA", 11, 335, Decimal("250.51"))],
        "npi string, generic_name string, brand_name string, state string, tot_clms bigint, "
        "tot_day_suply bigint, tot_drug_cst decimal(18,2)",
    )
    events = explode.explode_prescriptions(rows, 2023, tmp_path)
    totals = events.agg(F.count(F.lit(1)), F.sum("days_supply"), F.sum("drug_cost")).first()
    assert tuple(totals) == (11, 335, 25051)
    costs = sorted(r.drug_cost for r in events.collect())
    assert costs[0] == 2277 and costs[-1] == 2278


def test_a_row_without_a_total_is_refused_by_name(spark, tmp_path):
    rows = spark.createDataFrame(
        [("1111111111", "ATORVASTATIN", "Lipitor", "CA", 11, None, Decimal("250.51"))],
        "npi string, generic_name string, brand_name string, state string, tot_clms bigint, "
        "tot_day_suply bigint, tot_drug_cst decimal(18,2)",
    )
    with pytest.raises(Exception, match="a cleaned row has no days_supply:"):
        explode.explode_prescriptions(rows, 2023, tmp_path / "events")
    assert not list((tmp_path / "events").glob("*"))  # the failed task left no file


def test_landing_aggregates(spark):
    part_b = spark.createDataFrame(
        [
            ("1", "J1100", "Dexamethasone 1mg", True, "CA", "94110"),
            ("2", "J1100", "Dexamethasone 1 mg", False, "NY", "10001"),
            ("3", "99213", "Visit", False, "NY", "10001"),
        ],
        "npi string, hcpcs_code string, hcpcs_description string, is_drug boolean, "
        "state string, zip5 string",
    )
    assertDataFrameEqual(
        load.hcpcs_codes(part_b, 2023),
        spark.createDataFrame(
            [(2023, "J1100", "Dexamethasone 1 mg", True), (2023, "99213", "Visit", False)],
            "data_year int, hcpcs_code string, hcpcs_description string, is_drug boolean",
        ),
    )
    mips = spark.createDataFrame(
        [("1", 80.0), ("1", 90.0), ("2", None)], "npi string, final_mips_score double"
    )
    assertDataFrameEqual(
        load.mips_scores(mips, 2023),
        spark.createDataFrame(
            [(2023, "1", 90.0), (2023, "2", None)],
            "data_year int, npi string, final_mips_score double",
        ),
    )
    clinicians = spark.createDataFrame(
        [
            ("1", "A", "S", None, None, "CA", "94110", "50001", "General", *[None] * 8),
            ("1", "A", "S", None, None, "CA", "94110", None, None, *[None] * 8),
        ],
        "npi string, specialty string, medical_school string, practice_id string, "
        "practice_name string, state string, zip5 string, hosp_afl_ccn_1 string, "
        "hosp_afl_name_1 string, hosp_afl_ccn_2 string, hosp_afl_name_2 string, "
        "hosp_afl_ccn_3 string, hosp_afl_name_3 string, hosp_afl_ccn_4 string, "
        "hosp_afl_name_4 string, hosp_afl_ccn_5 string, hosp_afl_name_5 string",
    )
    assertDataFrameEqual(
        load.clinician_rows(clinicians, 2023),
        spark.createDataFrame(
            [(2023, "1", "A", "S", None, None, "CA", "94110", 2)],
            "data_year int, npi string, specialty string, medical_school string, "
            "practice_id string, practice_name string, state string, zip5 string, "
            "row_count bigint",
        ),
    )
    affiliations = spark.createDataFrame(
        [("2", "335678", "Skilled nursing facility")],
        "npi string, facility_ccn string, facility_type string",
    )
    assertDataFrameEqual(
        load.hospital_affiliations(affiliations, clinicians, 2023),
        spark.createDataFrame(
            [
                (2023, "2", "335678", "Skilled nursing facility", None),
                (2023, "1", "50001", "Hospital", "General"),
            ],
            "data_year int, npi string, facility_ccn string, facility_type string, "
            "facility_name string",
        ),
    )


def test_provider_rows_count_each_datasets_names_types_and_places(spark):
    part_b = spark.createDataFrame(
        [
            ("1", "Garcia", "Maria", "I", "Internal Medicine", "CA", "94110"),
            ("1", "Garcia", "Maria", "I", "Internal Medicine", "CA", "94110"),
            ("1", "Garcia", "Mary", "I", "Internal Medicine", "CA", "94110"),
        ],
        "npi string, provider_last_org_name string, provider_first_name string, "
        "entity_code string, provider_type string, state string, zip5 string",
    )
    part_d = spark.createDataFrame(
        [("2", "Lone Star", None, "Pharmacist", "TX")],
        "npi string, prescriber_last_org_name string, prescriber_first_name string, "
        "prescriber_type string, state string",
    )
    clinicians = spark.createDataFrame(
        [("1", "Garcia", "Maria", "NY", "10001")],
        "npi string, last_name string, first_name string, state string, zip5 string",
    )
    schema = (
        "data_year int, dataset string, npi string, last_name string, first_name string, "
        "provider_type string, entity_type string, state string, zip5 string, row_count bigint"
    )
    im = "Internal Medicine"
    assertDataFrameEqual(
        load.provider_rows(part_b, part_d, clinicians, 2023),
        spark.createDataFrame(
            [
                (2023, "part_b", "1", "Garcia", "Maria", im, "I", "CA", "94110", 2),
                (2023, "part_b", "1", "Garcia", "Mary", im, "I", "CA", "94110", 1),
                # Part D has no entity type nor ZIP; clinicians rows give names only
                (2023, "part_d", "2", "Lone Star", None, "Pharmacist", None, "TX", None, 1),
                (2023, "clinicians", "1", "Garcia", "Maria", None, None, None, None, 1),
            ],
            schema,
        ),
    )
