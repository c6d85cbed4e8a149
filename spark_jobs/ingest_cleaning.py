"""Pure transforms of ingest (contract section 2): raw lines → classified records → cleaned,
typed rows per dataset. DataFrames in, DataFrames out; no I/O, no session, no clock."""

from __future__ import annotations

import re
from functools import reduce
from operator import add

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, StringType

from medidash.contract import CHECKED_NUMBERS, COPYRIGHT_NPI

# A longer record is garbage and is quarantined unparsed, so it never reaches the CSV parser
# (which would hold it, and copies of it, in memory); the release reader cuts records there.
from medidash.release.reader import MAX_RECORD_CHARS

SIMPLE_RECORD = "medidash_simple_record"  # the fast path's SQL function (parse_fields)
RAW_RECORD_LIMIT = 10_000
NUMBER = r"^[0-9]+(\.[0-9]+)?$|^\.[0-9]+$"
# contract section 2 (v2): counts and amounts above 10^10 and event counts above 10^9 are out
# of range; every type a checked value is cleaned to holds these exactly
MAX_VALUE_EXPONENT = 10
MAX_EVENTS_EXPONENT = 9

# a control character (Unicode Cc) other than the line ends a quoted field may hold; tab is
# one too, except in a tab-delimited file
CONTROL = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f"

AVERAGE = "decimal(23,12)"

CLEAN_COLUMNS = {
    "part_b": [
        ("npi", "string"),
        ("provider_last_org_name", "string"),
        ("provider_first_name", "string"),
        ("entity_code", "string"),
        ("provider_type", "string"),
        ("state", "string"),
        ("zip5", "string"),
        ("country", "string"),
        ("hcpcs_code", "string"),
        ("hcpcs_description", "string"),
        ("is_drug", "boolean"),
        ("place_of_service", "string"),
        ("tot_benes", "bigint"),
        ("tot_srvcs", "double"),
        ("tot_bene_day_srvcs", "bigint"),
        # decimals, never doubles: a row's totals are average × Tot_Srvcs rounded half up to
        # the cent, and a double of 1.005 is below it (at most 10^10, 12 decimals kept)
        ("avg_submitted_charge", AVERAGE),
        ("avg_allowed_amount", AVERAGE),
        ("avg_payment_amount", AVERAGE),
        ("avg_standardized_amount", AVERAGE),
    ],
    "clinicians": [
        ("npi", "string"),
        ("ind_pac_id", "string"),
        ("last_name", "string"),
        ("first_name", "string"),
        ("medical_school", "string"),
        ("grad_year", "string"),
        ("specialty", "string"),
        ("practice_name", "string"),
        ("practice_id", "string"),
        ("practice_member_count", "string"),
        ("city", "string"),
        ("state", "string"),
        ("zip5", "string"),
        *[(f"hosp_afl_ccn_{i}", "string") for i in range(1, 6)],
        *[(f"hosp_afl_name_{i}", "string") for i in range(1, 6)],
    ],
    "affiliations": [
        ("npi", "string"),
        ("ind_pac_id", "string"),
        ("facility_type", "string"),
        ("facility_ccn", "string"),
        ("parent_ccn", "string"),
    ],
    "part_d": [
        ("npi", "string"),
        ("prescriber_last_org_name", "string"),
        ("prescriber_first_name", "string"),
        ("city", "string"),
        ("state", "string"),
        ("prescriber_type", "string"),
        ("brand_name", "string"),
        ("generic_name", "string"),
        ("tot_clms", "bigint"),
        ("tot_30day_fills", "double"),
        ("tot_day_suply", "bigint"),
        ("tot_drug_cst", "decimal(18,2)"),
        ("tot_benes", "bigint"),
    ],
    "mips": [
        ("npi", "string"),
        ("pac_id", "string"),
        ("practice_id", "string"),
        ("source", "string"),
        ("final_mips_score", "double"),
    ],
}


def clean_schema(dataset: str) -> str:
    """The DDL schema string of a dataset's cleaned rows (CLEAN_COLUMNS), for Spark readers."""
    return ", ".join(f"{name} {type_}" for name, type_ in CLEAN_COLUMNS[dataset])


# -- classification -------------------------------------------------------------------------


def parse_fields(
    lines: DataFrame, header: list[str], delimiter: str, *, fast: bool = True
) -> DataFrame:
    """Split each raw line into its fields (RFC 4180 quoting) and count them.

    In: source_file, line_number, raw. Out: the same plus `n_fields` and one string column per
    header position (`c0`, `c1`, …). A plainly formed record (the header's number of fields,
    each unquoted or wholly quoted: nearly every record) is split by `SimpleRecord`
    (spark_jobs/java), which returns exactly what the CSV parser would; every other one goes
    to the CSV parser (Spark's `from_csv`), which flags a line whose field count is not the
    header's; only such lines (rare) are counted again outside quotes for the error message, so
    a line with a field too many or too few, or with an unbalanced quote, is seen for what it is.
    `n_fields` is -1 for unbalanced or malformed quoting and -2 for an over-long record.
    Without `fast`, the parser reads every record (the reference the fast path is tested on).
    """
    n = len(header)
    schema = ", ".join(f"c{i} string" for i in range(n)) + ", _malformed string"
    options = {
        "sep": delimiter,
        "quote": '"',
        "escape": '"',
        "mode": "PERMISSIVE",
        "columnNameOfCorruptRecord": "_malformed",
    }
    session = lines.sparkSession
    if not session.catalog.functionExists(SIMPLE_RECORD):
        session.udf.registerJavaFunction(
            SIMPLE_RECORD, "medidash.spark.SimpleRecord", ArrayType(StringType())
        )
    # a record of at most MAX_RECORD_CHARS bytes has at most as many characters: the count of
    # characters (a pass over the record) is only taken for the rare longer one
    fits = (F.octet_length("raw") <= MAX_RECORD_CHARS) | (F.length("raw") <= MAX_RECORD_CHARS)
    raw = F.when(fits, F.col("raw"))
    split = F.call_function(SIMPLE_RECORD, raw, F.lit(delimiter), F.lit(n))
    simple = lines.select(
        "source_file",
        "line_number",
        "raw",
        fits.alias("_fits"),
        (split if fast else F.lit(None).cast("array<string>")).alias("_simple"),
    )
    # the parser reads only what the fast path left
    hard = F.when(F.col("_fits") & F.col("_simple").isNull(), F.col("raw"))
    quotes = F.octet_length(hard) - F.octet_length(F.replace(hard, F.lit('"'), F.lit("")))
    counted = F.size(
        F.split(F.regexp_replace(hard, r'"([^"]|"")*"', ""), _regex_escape(delimiter), -1)
    )
    return simple.select("*", F.from_csv(hard, schema, options).alias("fields")).select(
        "source_file",
        "line_number",
        "raw",
        F.when(~F.col("_fits"), F.lit(-2))
        .when(F.col("_simple").isNotNull(), F.lit(n))
        .when(quotes % 2 != 0, F.lit(-1))
        .when(F.col("fields._malformed").isNull(), F.lit(n))
        .when(counted != n, counted)
        .otherwise(F.lit(-1))
        .alias("n_fields"),
        *[
            F.when(F.col("_simple").isNotNull(), F.get("_simple", i))
            .otherwise(F.col(f"fields.c{i}"))
            .alias(f"c{i}")
            for i in range(n)
        ],
    )


def _regex_escape(delimiter: str) -> str:
    return "\\t" if delimiter == "\t" else "\\" + delimiter if delimiter in "|.^$" else delimiter


def _blank(col: Column) -> Column:
    return F.coalesce(F.trim(col), F.lit("")) == ""


def _quoted(text: str, value: Column) -> Column:
    return F.concat(F.lit(text + ": '"), F.coalesce(value, F.lit("")), F.lit("'"))


def _integer_part(value: Column) -> Column:
    """The digits before the point, leading zeros dropped ('' for 0)."""
    return F.regexp_extract(value, r"^0*([0-9]*)", 1)


def above_power_of_ten(value: Column, exponent: int, *, whole: bool = False) -> Column:
    """True when `value` (a non-negative number's text, NUMBER) is above 10^exponent, decided
    on its digits, so that no value is too long to compare (a cast would overflow to NULL).
    With `whole`, only its integer part counts (what a bigint keeps)."""
    digits = _integer_part(value)
    bound = "1" + "0" * exponent
    above = (F.length(digits) > exponent + 1) | (
        (F.length(digits) == exponent + 1) & (digits > F.lit(bound))
    )
    if not whole:
        above = above | ((digits == F.lit(bound)) & value.rlike(r"\.[0-9]*[1-9]"))
    # values of at most `exponent` characters are below the bound: most rows stop here
    return (F.length(value) > exponent) & above


def _number_reason(name: str, col: Column, blank_ok: bool) -> Column:
    """Not a non-negative number, blank (when not allowed), or out of range (above 10^10)."""
    value = F.trim(col)
    bad = ~F.coalesce(value.rlike(NUMBER), F.lit(False))
    message = _quoted(f"{name} is not a non-negative number", value)
    out_of_range = _quoted(f"{name} is out of range (above 10^{MAX_VALUE_EXPONENT})", value)
    checked = F.when(bad, message).when(above_power_of_ten(value, MAX_VALUE_EXPONENT), out_of_range)
    if blank_ok:
        return F.when(~_blank(col), checked)
    return F.when(_blank(col), F.lit(f"{name} is blank")).otherwise(checked)


def _event_count_reason(dataset: str, columns: dict[str, str]) -> Column | None:
    """A row whose event count (contract section 3) would exceed 10^9: Part B's n is
    Tot_Bene_Day_Srvcs when present and above 0 (its integer part, as cleaned), else
    ceil(Tot_Srvcs); Part D's is Tot_Clms. Checked on values already known to be numbers."""
    limit = MAX_EVENTS_EXPONENT

    def reason(name: str) -> Column:
        return _quoted(
            f"{name} would make more than 10^{limit} events", F.trim(F.col(columns[name]))
        )

    if dataset == "part_d" and "tot_clms" in columns:
        return F.when(
            above_power_of_ten(F.trim(F.col(columns["tot_clms"])), limit, whole=True),
            reason("tot_clms"),
        )
    if dataset != "part_b" or "tot_srvcs" not in columns:
        return None
    services = F.trim(F.col(columns["tot_srvcs"]))
    by_services = F.when(above_power_of_ten(services, limit), reason("tot_srvcs"))
    if "tot_bene_day_srvcs" not in columns:
        return by_services
    days = F.trim(F.col(columns["tot_bene_day_srvcs"]))
    present = F.coalesce(days.rlike(NUMBER), F.lit(False)) & (F.length(_integer_part(days)) > 0)
    return F.when(
        present, F.when(above_power_of_ten(days, limit, whole=True), reason("tot_bene_day_srvcs"))
    ).otherwise(by_services)


def control_pattern(delimiter: str) -> str:
    """The control characters a record of a file with this delimiter may not hold."""
    return "[" + CONTROL + ("" if delimiter == "\t" else "\\t") + "]"


def escape_controls(col: Column, pattern: str) -> Column:
    """The text with each control character written as `\\xNN` (NUL: `\\x00`)."""
    tokens = F.regexp_extract_all(col, F.lit(f"(?s){pattern}|(?:(?!{pattern}).)+"), 0)
    return F.array_join(
        F.transform(
            tokens,
            lambda t: F.when(
                t.rlike(f"^{pattern}$"),
                F.concat(F.lit("\\x"), F.lower(F.substring(F.hex(F.encode(t, "utf-32")), 7, 2))),
            ).otherwise(t),
        ),
        "",
    )


def _control_reason(header: list[str], pattern: str) -> Column:
    """The first field holding a control character, named with its (escaped) value; reads
    `_controls`, whether the record holds one (`classify` looks once)."""
    fields = [
        F.when(
            F.col(f"c{i}").rlike(pattern),
            _quoted(
                f"{name.strip()} holds a control character",
                escape_controls(F.col(f"c{i}"), pattern),
            ),
        )
        for i, name in enumerate(header)
    ]
    whole = _quoted(
        "the record holds a control character",
        escape_controls(F.substring("raw", 1, 200), pattern),
    )
    return F.when(F.col("_controls"), F.coalesce(*fields, whole))


def classify(
    parsed: DataFrame,
    dataset: str,
    columns: dict[str, str],
    n_fields: int,
    *,
    header: list[str] | None = None,
    delimiter: str = ",",
) -> DataFrame:
    """Decide each record's fate: `filtered`, `quarantined` (with a reason), `duplicate` or
    `valid`, in the contract's order. `columns` maps canonical names to parsed columns (`cN`);
    `header` names the parsed columns in reasons (default `cN`), `delimiter` is the file's
    (a tab is a control character in a comma file).

    Out: the input plus `status` and `reason`; `raw` has its control characters escaped
    (`\\x00`), the form ops.quarantine keeps.
    """
    npi = F.trim(F.col(columns["npi"]))
    pattern = control_pattern(delimiter)
    header = header or [f"c{i}" for i in range(n_fields)]
    reasons = [
        F.when(
            F.col("n_fields") == -2,
            F.lit(f"record longer than {MAX_RECORD_CHARS:,} characters"),
        ),
        # before any reason quoting a value, so that no reason holds a control character
        _control_reason(header, pattern),
        F.when(F.col("n_fields") == -1, F.lit("unbalanced quotes")).when(
            F.col("n_fields") != n_fields,
            F.concat(
                F.lit(f"wrong number of fields: expected {n_fields}, found "),
                F.col("n_fields").cast("string"),
            ),
        ),
        F.when(
            ~F.coalesce(npi.rlike("^[0-9]{10}$"), F.lit(False)),
            F.concat(F.lit("NPI is not 10 digits: '"), F.coalesce(npi, F.lit("")), F.lit("'")),
        ),
    ]
    for name, blank_ok in CHECKED_NUMBERS.get(dataset, []):
        if name in columns:
            reasons.append(_number_reason(name, F.col(columns[name]), blank_ok))
    events = _event_count_reason(dataset, columns)
    if events is not None:
        reasons.append(events)
    if dataset == "mips" and "final_mips_score" in columns:
        score = F.trim(F.col(columns["final_mips_score"]))
        numeric = F.coalesce(score.rlike(r"^-?[0-9]+(\.[0-9]+)?$"), F.lit(False))
        reasons.append(
            F.when(
                numeric & ((score.cast("double") < 0) | (score.cast("double") > 100)),
                F.concat(F.lit("final MIPS score outside 0-100: "), score),
            )
        )
    # the reason is computed once, in its own projection; status only tests it
    # whether the record holds a control character is asked once (a pass over the record)
    controls = parsed.select("*", F.col("raw").rlike(pattern).alias("_controls"))
    with_reason = controls.select("*", F.coalesce(*reasons).alias("_reason"))
    status = (
        F.when(npi == COPYRIGHT_NPI, F.lit("filtered"))
        .when(F.col("_reason").isNotNull(), F.lit("quarantined"))
        .otherwise(F.lit("valid"))
    )
    # a quarantined record's raw text is kept with its control characters escaped (cut first:
    # only RAW_RECORD_LIMIT characters are kept)
    raw = F.when(
        F.col("_controls"),
        escape_controls(F.substring("raw", 1, RAW_RECORD_LIMIT + 1), pattern),
    ).otherwise(F.col("raw"))
    return (
        with_reason.withColumn("status", status)
        .withColumn("reason", F.when(F.col("status") == "quarantined", F.col("_reason")))
        .withColumn("raw", raw)
        .drop("_reason", "_controls")
    )


DUPLICATE_KEY = ["source_file", "_hash", "_hash32", "_length"]


def repeated_records(records: DataFrame) -> DataFrame:
    """Per record that occurs more than once in its file among the `valid` ones: its key, the
    line number of its first copy and its number of copies (`_copies`). Records are compared
    by their parsed fields (contract v2: however they were quoted), through a 96-bit hash of
    the fields and their length (a false match among 40 million records has a chance near
    1e-14), so this table is built from small rows, and is small: duplicates are rare.
    `records` are classified records, or staged ones (which carry the key)."""
    return (
        with_record_key(records)
        .where(F.col("_hash").isNotNull())
        .groupBy(*DUPLICATE_KEY)
        .agg(F.min("line_number").alias("_first"), F.count(F.lit(1)).alias("_copies"))
        .where(F.col("_copies") > 1)
    )


def with_record_key(classified: DataFrame) -> DataFrame:
    """The `valid` records with their comparison key: two hashes and the total length in bytes
    of their parsed fields (`cN`; an empty field is an empty field, quoted or not); a frame
    that has it already is returned as it is."""
    if "_hash" in classified.columns:
        return classified
    candidates = F.col("status") == "valid"
    fields = sorted(
        (c for c in classified.columns if re.fullmatch(r"c[0-9]+", c)), key=lambda c: int(c[1:])
    )
    values = [F.coalesce(F.col(c), F.lit("")) for c in fields]
    return classified.select(
        "*",
        F.when(candidates, F.xxhash64(*values)).alias("_hash"),
        F.when(candidates, F.hash(*values)).alias("_hash32"),
        # bytes, not characters: as telling, without a pass over every field
        F.when(candidates, reduce(add, [F.octet_length(v) for v in values])).alias("_length"),
    )


def mark_duplicates(
    records: DataFrame, repeated: DataFrame | None = None, broadcast: bool = False
) -> DataFrame:
    """Among the `valid` records, every extra copy of a record (same file, every field equal as
    read) becomes `duplicate`; the first stays `valid`. `repeated` is `repeated_records` of the
    same records, given when the caller has materialised it; with `broadcast`, it is joined
    without shuffling the records."""
    repeated = repeated_records(records) if repeated is None else repeated
    marked = with_record_key(records).join(
        F.broadcast(repeated) if broadcast else repeated, DUPLICATE_KEY, "left"
    )
    return marked.withColumn(
        "status",
        F.when(
            (F.col("status") == "valid")
            & F.col("_first").isNotNull()
            & (F.col("line_number") != F.col("_first")),
            F.lit("duplicate"),
        ).otherwise(F.col("status")),
    ).drop(*DUPLICATE_KEY[1:], "_first", "_copies")


def staged(classified: DataFrame, dataset: str, columns: dict[str, str]) -> DataFrame:
    """What ingest writes once per record: where it comes from, its status and reason, the raw
    record where it is quarantined (the only place it is kept), the duplicate key where it is
    valid, and the cleaned columns (meaningful where it is valid). Duplicates are marked, and
    the clean rows, the quarantine rows and the counts read, from this: each record is parsed
    once."""
    return with_record_key(classified).select(
        "source_file",
        "line_number",
        "status",
        "reason",
        F.when(F.col("status") == "quarantined", F.col("raw")).alias("raw"),
        *DUPLICATE_KEY[1:],
        *clean_columns(dataset, columns),
    )


def quarantine_rows(classified: DataFrame, run_id: str, dataset: str) -> DataFrame:
    """ops.quarantine rows; a raw record longer than 10,000 characters is cut there."""
    raw = F.col("raw")
    return classified.where(F.col("status") == "quarantined").select(
        F.lit(run_id).alias("run_id"),
        F.lit(dataset).alias("dataset"),
        "source_file",
        F.col("line_number").cast("bigint").alias("line_number"),
        F.when(
            F.length(raw) > RAW_RECORD_LIMIT,
            F.concat(F.col("reason"), F.lit(f" (record cut to {RAW_RECORD_LIMIT} characters)")),
        )
        .otherwise(F.col("reason"))
        .alias("reason"),
        F.substring(raw, 1, RAW_RECORD_LIMIT).alias("raw_record"),
    )


# -- cleaning ------------------------------------------------------------------------------


def text(col: Column) -> Column:
    """Trimmed; blank becomes NULL."""
    value = F.trim(col)
    return F.when(value == "", None).otherwise(value)


def label(col: Column) -> Column:
    """Specialty, school, generic name: trimmed, upper-cased, inner white space collapsed."""
    return F.upper(F.regexp_replace(F.trim(col), r"\s+", " "))


def label_or_unknown(col: Column) -> Column:
    value = label(col)
    return F.when(F.coalesce(value, F.lit("")) == "", F.lit("UNKNOWN")).otherwise(value)


def zip5(col: Column) -> Column:
    """Digits of the ZIP field; ≤ 5 digits left-padded to 5, more left-padded to 9, first 5."""
    digits = F.regexp_replace(F.coalesce(col, F.lit("")), "[^0-9]", "")
    return (
        F.when(F.length(digits) == 0, None)
        .when(F.length(digits) <= 5, F.lpad(digits, 5, "0"))
        .otherwise(F.substring(F.lpad(digits, 9, "0"), 1, 5))
    )


def ccn(col: Column) -> Column:
    """6 characters; a shorter all-digit CCN is left-padded with zeros."""
    value = F.upper(F.trim(col))
    return (
        F.when(F.coalesce(value, F.lit("")) == "", None)
        .when(value.rlike("^[0-9]{1,5}$"), F.lpad(value, 6, "0"))
        .otherwise(value)
    )


def number(col: Column, type_: str, *, checked: bool = False) -> Column:
    """A count or amount, typed, NULL unless a non-negative number: a bigint keeps the integer
    part (exactly, from the digits), a decimal is parsed at its own scale (one rounding, half
    up), a double directly. Classification has quarantined every value these types could not
    hold (out of range). A `checked` value (a CHECKED_NUMBERS column) is not matched again:
    where its record is valid it is a number or blank already, and only there is it kept."""
    value = F.trim(col)
    valid = value != "" if checked else value.rlike(NUMBER)
    if type_ == "bigint":
        # the digits before the point (leading zeros are no matter to the cast)
        digits = F.substring_index(value, ".", 1)
        return F.when(valid, F.when(digits == "", F.lit(0)).otherwise(digits).cast("bigint"))
    return F.when(valid, value.cast(type_))


def clean_columns(dataset: str, columns: dict[str, str]) -> list[Column]:
    """The dataset's cleaned, typed columns (CLEAN_COLUMNS) from the parsed ones; `columns`
    maps canonical names to parsed columns (`cN`)."""

    def raw(name: str) -> Column:
        return F.col(columns[name]) if name in columns else F.lit(None).cast("string")

    checked = {name for name, _ in CHECKED_NUMBERS.get(dataset, [])}
    derived = []
    for name, type_ in CLEAN_COLUMNS[dataset]:
        if name == "zip5":
            value = zip5(raw("zip"))
        elif name == "is_drug":
            value = F.upper(F.trim(raw("hcpcs_drug_ind"))) == "Y"
        elif name in ("hcpcs_code", "place_of_service", "state", "entity_code"):
            value = text(F.upper(raw(name)))
        elif name in ("specialty", "medical_school"):
            value = label_or_unknown(raw(name))
        elif name == "generic_name":
            value = label(raw(name))
        elif name in ("facility_ccn", "parent_ccn") or name.startswith("hosp_afl_ccn_"):
            value = ccn(raw(name))
        elif name == "final_mips_score":
            score = F.trim(raw(name))
            value = F.when(score.rlike(r"^[0-9]+(\.[0-9]+)?$"), score.cast("double"))
        elif type_ != "string":
            value = number(raw(name), type_, checked=name in checked)
        else:
            value = text(raw(name))
        derived.append(value.cast(type_).alias(name))
    return derived


def status_counts(staged: DataFrame, repeated: DataFrame) -> dict[str, int]:
    """Records per status once duplicates are marked, without marking them: every copy of a
    repeated record but its first is a `duplicate` instead of `valid` (`repeated_records`)."""
    status = {r["status"]: r["count"] for r in staged.groupBy("status").count().collect()}
    extra = repeated.agg(F.sum(F.col("_copies") - 1)).first()[0] or 0
    if extra:
        status["valid"] -= extra
        status["duplicate"] = status.get("duplicate", 0) + extra
    return status


def reconciliation(status_counts: dict[str, int]) -> dict[str, int]:
    report = {
        "valid_rows": status_counts.get("valid", 0),
        "duplicate_rows": status_counts.get("duplicate", 0),
        "filtered_rows": status_counts.get("filtered", 0),
        "quarantined_rows": status_counts.get("quarantined", 0),
    }
    report["input_rows"] = sum(report.values())
    return report
