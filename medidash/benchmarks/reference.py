"""Single-node reference (issue 18 item 5): the pipeline bench's three stages again, with DuckDB
on 2 threads, on the same release files in the same run, so that MediDash's time per stage
reads as a ratio to a single-node engine's.

- ingest: every data file of the release (layout and delimiter from the release reader, as
  ingest's), read as text fields; a record with the wrong number of fields (DuckDB's rejects),
  an NPI that is not 10 digits, a count or amount that is not a non-negative number (blank
  where the contract does not allow it, above 10^10), more than 10^9 events, or a MIPS score
  outside 0-100 is quarantined; the copyright row is filtered; exact repeats within a file are
  dropped; the rest is typed to ingest's clean schema (`CLEAN_COLUMNS`) and written as Parquet.
- explode: one row per event (contract section 3) through `range(n)`, with its date and its
  integer shares of the row's totals, written as zstd Parquet.
- aggregate: step 3's event totals, grouped as `procedure_totals` and `prescription_totals`
  group, written as Parquet. MediDash's stage also builds the small landing tables and
  COPYs everything into PostgreSQL: its ratio includes the load.

What it leaves out, being a reference and not a second pipeline: control characters,
records over a million characters, Latin-1 lines (DuckDB rejects invalid UTF-8, so such a
record counts as quarantined here), the quarantine table and line numbers. Its counts are
checked against MediDash's of the same run (`disagreements`: every reconciliation count and
the events per dataset, the rows of step 3's event totals), within `TOLERANCE` of what they
count, which is exact on a small release.
"""

from __future__ import annotations

import shutil
import time
import zipfile
from pathlib import Path

from medidash.contract import CHECKED_NUMBERS, COPYRIGHT_NPI, RECONCILIATION_KEYS

THREADS = 2
MEMORY_LIMIT = "4GB"
# of what is counted: 0.01 % of a dataset's rows (1,000 of 10 M; below one row under 10,000)
TOLERANCE = 1e-4
YEAR = 2023
NUMBER = r"[0-9]+(\.[0-9]+)?|\.[0-9]+"
PAYMENTS = {
    "submitted_charge": "avg_submitted_charge",
    "allowed_amount": "avg_allowed_amount",
    "paid_amount": "avg_payment_amount",
    "standardized_amount": "avg_standardized_amount",
}


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _copy(con, query: str, target: Path, options: str = "format parquet") -> int:
    """Writes the query's rows to `target` (Parquet); how many."""
    (rows,) = con.execute(f"copy ({query}) to {_text(str(target))} ({options})").fetchone()
    return rows


def connect(workdir: Path):
    import duckdb

    workdir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(workdir / "reference.duckdb"))
    con.execute(f"set threads = {THREADS}")
    con.execute(f"set memory_limit = {_text(MEMORY_LIMIT)}")
    con.execute(f"set temp_directory = {_text(str(workdir / 'spill'))}")
    con.execute("set preserve_insertion_order = false")
    # a row's integer share of a total split over its n events (the first ones take the rest)
    con.execute(
        "create or replace macro share(total, n, e) as "
        "total // n + case when e < total % n then 1 else 0 end"
    )
    return con


# -- ingest ----------------------------------------------------------------------------------


def _readable(header, work: Path, index: int) -> Path:
    """A path DuckDB reads: the file itself (plain or gzip), or a zip member extracted."""
    if header.file.compression != "zip":
        return header.file.path
    target = work / f"member{index}.csv"
    with zipfile.ZipFile(header.file.path) as archive, archive.open(header.file.member) as src:
        with open(target, "wb") as out:
            shutil.copyfileobj(src, out)
    return target


def _status(dataset: str, field: dict[str, str], n_fields: int) -> str:
    """The SQL of a record's status from its text fields (`field`: canonical name → cN; a
    field is NULL only where the record has no such field, `_read`)."""

    def value(name: str) -> str:
        return f"nullif(trim({field[name]}), '')"

    bad = [
        f"c{n_fields - 1} is null or c{n_fields} is not null",
        f"not coalesce(regexp_full_match({value('npi')}, '[0-9]{{10}}'), false)",
    ]
    for name, blank_ok in CHECKED_NUMBERS.get(dataset, []):
        if name in field:
            v = value(name)
            number = f"regexp_full_match({v}, '{NUMBER}') and try_cast({v} as double) <= 1e10"
            bad.append(f"not coalesce({number}, {str(blank_ok).lower()})")
    if dataset == "part_b":
        days = f"floor(try_cast({value('tot_bene_day_srvcs')} as double))"
        services = f"ceil(try_cast({value('tot_srvcs')} as double))"
        bad.append(f"coalesce(case when {days} > 0 then {days} else {services} end, 0) > 1e9")
    if dataset == "part_d":
        bad.append(f"coalesce(floor(try_cast({value('tot_clms')} as double)), 0) > 1e9")
    if dataset == "mips" and "final_mips_score" in field:
        score = value("final_mips_score")
        bad.append(
            f"coalesce(regexp_full_match({score}, '-?[0-9]+(\\.[0-9]+)?') and "
            f"try_cast({score} as double) not between 0 and 100, false)"
        )
    return (
        f"case when trim({field['npi']}) = '{COPYRIGHT_NPI}' then 'filtered' "
        f"when {' or '.join(bad)} then 'quarantined' else 'valid' end"
    )


def _typed(name: str, type_: str, field: dict[str, str]) -> str:
    """A clean column's SQL from the text fields, after contract section 2."""
    source = {"zip5": "zip", "is_drug": "hcpcs_drug_ind"}.get(name, name)
    if source not in field:
        return f"cast(null as {type_}) as {name}"
    raw = field[source]
    v = f"nullif(trim({raw}), '')"
    label = f"nullif(upper(regexp_replace(trim({raw}), '\\s+', ' ', 'g')), '')"
    if name == "zip5":
        digits = f"regexp_replace(coalesce({raw}, ''), '[^0-9]', '', 'g')"
        sql = (
            f"case when {digits} = '' then null when length({digits}) <= 5 "
            f"then lpad({digits}, 5, '0') else left(lpad({digits}, 9, '0'), 5) end"
        )
    elif name == "is_drug":
        sql = f"coalesce(upper({v}) = 'Y', false)"
    elif name in ("hcpcs_code", "place_of_service", "state", "entity_code"):
        sql = f"upper({v})"
    elif name in ("specialty", "medical_school"):
        sql = f"coalesce({label}, 'UNKNOWN')"
    elif name == "generic_name":
        sql = label
    elif name in ("facility_ccn", "parent_ccn") or name.startswith("hosp_afl_ccn_"):
        short = f"regexp_full_match({v}, '[0-9]{{1,5}}')"
        sql = f"case when {short} then lpad({v}, 6, '0') else upper({v}) end"
    elif name == "final_mips_score":
        sql = f"case when regexp_full_match({v}, '[0-9]+(\\.[0-9]+)?') then {v} end"
    elif type_ == "bigint":
        sql = f"floor(try_cast({v} as double))"  # the integer part, as ingest keeps it
    elif type_ != "string":
        sql = f"try_cast({v} as {type_})"
    else:
        sql = v
    return f"cast({sql} as {type_}) as {name}"


def _read(con, table: str, path: Path, header, status: str) -> None:
    """The file's records as text fields c0..cN-1 into `table` with their `status`. One
    field more than the header is read, and an empty field is '' (never NULL), so that a
    record with too few fields (NULL-padded) or too many (DuckDB takes a trailing delimiter
    for the end of the line) is seen; a record DuckDB cannot split is in its rejects table."""
    import duckdb

    n = len(header.cells)
    columns = "{" + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(n + 1)) + "}"
    # by content, as the release reader tells it (a gzip file need not be named .gz)
    compression = "gzip" if header.file.compression == "gzip" else "none"
    for parallel in ("true", "false"):  # the parallel scanner pads no quoted line break
        try:
            con.execute(
                f"create or replace table {table} as select {status} as status, * "
                f"from read_csv({_text(str(path))}, header = true, auto_detect = false, "
                f"delim = {_text(header.delimiter)}, quote = '\"', escape = '\"', "
                f"columns = {columns}, null_padding = true, nullstr = '\x01', "
                f"compression = '{compression}', parallel = {parallel}, store_rejects = true, "
                f"rejects_table = 'rejects_{table}', rejects_scan = 'scan_{table}')"
            )
            return
        except duckdb.Error as error:
            if "parallel=false" not in str(error):
                raise


def ingest(con, release: Path, workdir: Path) -> dict[str, dict]:
    """Every file of the release → `<workdir>/clean/<dataset>.parquet`; per dataset the
    reconciliation counts (input = valid + duplicate + filtered + quarantined)."""
    from medidash.cms_layouts import normalize_header
    from medidash.release.reader import read_release
    from spark_jobs.ingest_cleaning import CLEAN_COLUMNS

    clean = workdir / "clean"
    clean.mkdir(parents=True, exist_ok=True)
    selects: dict[str, list[str]] = {}
    counts: dict[str, dict] = {}
    headers = read_release(release, verify_compressed=False)
    for index, header in enumerate(headers):
        dataset = header.layout.dataset
        rename = header.layout.rename_map()
        fields = [f"c{i}" for i in range(len(header.cells))]
        field = {
            rename[normalize_header(cell)]: f"c{i}"
            for i, cell in enumerate(header.cells)
            if normalize_header(cell) in rename
        }
        _read(
            con,
            f"file{index}",
            _readable(header, workdir, index),
            header,
            _status(dataset, field, len(fields)),
        )
        status = dict(
            con.execute(f"select status, count(*) from file{index} group by 1").fetchall()
        )
        (rejected,) = con.execute(
            f"select count(distinct line) from rejects_file{index}"
        ).fetchone()
        con.execute(
            f"create or replace table valid{index} as select distinct {', '.join(fields)} "
            f"from file{index} where status = 'valid'"
        )
        con.execute(f"drop table file{index}")
        (distinct,) = con.execute(f"select count(*) from valid{index}").fetchone()
        entry = counts.setdefault(dataset, dict.fromkeys(RECONCILIATION_KEYS, 0))
        entry["valid_rows"] += distinct
        entry["duplicate_rows"] += status.get("valid", 0) - distinct
        entry["filtered_rows"] += status.get("filtered", 0)
        entry["quarantined_rows"] += status.get("quarantined", 0) + rejected
        entry["input_rows"] += sum(status.values()) + rejected
        typed = ", ".join(_typed(name, type_, field) for name, type_ in CLEAN_COLUMNS[dataset])
        selects.setdefault(dataset, []).append(f"select {typed} from valid{index}")
    for dataset, parts in selects.items():
        _copy(con, " union all ".join(parts), clean / f"{dataset}.parquet")
    for index in range(len(headers)):
        con.execute(f"drop table valid{index}")
    return counts


# -- explode ---------------------------------------------------------------------------------


def _days(year: int) -> int:
    return 366 if (year % 4 == 0 and year % 100 != 0) or year % 400 == 0 else 365


def explode(con, workdir: Path, year: int = YEAR) -> dict[str, int]:
    """Clean Part B and Part D rows → `<workdir>/events/{procedures,prescriptions}.parquet`
    (zstd), one row per event; the events written per dataset."""
    clean, events = workdir / "clean", workdir / "events"
    events.mkdir(parents=True, exist_ok=True)
    days = _days(year)

    def date(key: str) -> str:
        start = f"hash({key}) % {days}"
        return f"date '{year}-01-01' + cast(({start} + e) % {days} as integer)"

    money = ", ".join(
        f"cast(round({average} * cast(tot_srvcs as decimal(14,3)), 2) * 100 as bigint) as {cents}"
        for cents, average in PAYMENTS.items()
    )
    queries = {
        "part_b": (
            "procedures",
            f"select npi, hcpcs_code, place_of_service, state, zip5, "
            f"cast(case when tot_bene_day_srvcs > 0 then tot_bene_day_srvcs "
            f"else ceil(tot_srvcs) end as bigint) as n, "
            f"cast(round(tot_srvcs * 1000) as bigint) as milli_units, {money}",
            f"npi, hcpcs_code, place_of_service, {date('npi, hcpcs_code, place_of_service')} "
            f"as service_date, cast(share(milli_units, n, e) / 1000 as decimal(18,3)) as units, "
            f"state, zip5, " + ", ".join(f"share({cents}, n, e) as {cents}" for cents in PAYMENTS),
        ),
        "part_d": (
            "prescriptions",
            "select npi, generic_name, brand_name, state, tot_clms as n, "
            "tot_day_suply as days_supply, cast(round(tot_drug_cst * 100) as bigint) as cost",
            f"npi, generic_name, brand_name, {date('npi, brand_name, generic_name')} "
            f"as fill_date, share(days_supply, n, e) as days_supply, "
            f"share(cost, n, e) as drug_cost, state",
        ),
    }
    written = {}
    for dataset, (kind, rows, columns) in queries.items():
        source = clean / f"{dataset}.parquet"
        if not source.exists():
            written[dataset] = 0
            continue
        written[dataset] = _copy(
            con,
            f"select {columns} from ({rows} from read_parquet({_text(str(source))})) r, "
            "range(r.n) as t(e)",
            events / f"{kind}.parquet",
            "format parquet, compression zstd",
        )
    return written


# -- aggregate -------------------------------------------------------------------------------

# step 3's event totals (landing tables: step3_aggregate_load.procedure_totals and
# prescription_totals): the events they read, and their grouping and sums
_MONEY = ", ".join(f"cast(sum({c}) / 100 as decimal(22,2)) as {c}" for c in PAYMENTS)
AGGREGATES = {
    "procedure_events": (
        "procedures",
        "npi, state, zip5, hcpcs_code, count(*) as event_count, "
        f"cast(sum(units) as decimal(20,3)) as service_units, {_MONEY}",
    ),
    "prescription_events": (
        "prescriptions",
        "npi, state, generic_name, count(*) as claim_count, sum(days_supply) as day_supply, "
        "cast(sum(drug_cost) / 100 as decimal(20,2)) as drug_cost",
    ),
}


def aggregate(con, workdir: Path) -> dict[str, int]:
    """Step 3's event totals → `<workdir>/aggregates/<table>.parquet`; rows per table."""
    events, out = workdir / "events", workdir / "aggregates"
    out.mkdir(parents=True, exist_ok=True)
    rows = {}
    for table, (kind, columns) in AGGREGATES.items():
        source = events / f"{kind}.parquet"
        if not source.exists():
            rows[table] = 0
            continue
        rows[table] = _copy(
            con,
            f"select {columns} from read_parquet({_text(str(source))}) group by all",
            out / f"{table}.parquet",
        )
    return rows


# -- the bench -------------------------------------------------------------------------------


def compute(release: Path, workdir: Path, year: int = YEAR) -> dict:
    """The three stages on `release`, each timed: seconds, rates and counts."""
    shutil.rmtree(workdir, ignore_errors=True)
    con = connect(workdir)
    try:
        started = time.perf_counter()
        counts = ingest(con, release, workdir)
        ingest_seconds = time.perf_counter() - started
        started = time.perf_counter()
        events = explode(con, workdir, year)
        explode_seconds = time.perf_counter() - started
        started = time.perf_counter()
        aggregated = aggregate(con, workdir)
        aggregate_seconds = time.perf_counter() - started
    finally:
        con.close()
    for dataset, n in events.items():
        counts.setdefault(dataset, {})["events"] = n
    rows = sum(entry["input_rows"] for entry in counts.values())
    total = sum(events.values())
    return {
        "threads": THREADS,
        "memory_limit": MEMORY_LIMIT,
        "ingest_seconds": round(ingest_seconds, 3),
        "ingest_rows": rows,
        "ingest_rows_per_second": round(rows / ingest_seconds),
        "explode_seconds": round(explode_seconds, 3),
        "events": total,
        "explode_events_per_second": round(total / explode_seconds),
        "aggregate_seconds": round(aggregate_seconds, 3),
        "aggregate_events_per_second": round(total / aggregate_seconds),
        "counts": counts,
        "aggregated_rows": aggregated,
    }


def disagreements(reference: dict, reconciliation: dict, landed: dict | None = None) -> list[str]:
    """Where the reference's counts and MediDash's differ by more than TOLERANCE of the
    whole they count (a dataset's input rows, its events, a table's rows): its reconciliation
    per dataset, its events, and the rows of step 3's event totals when `landed` is given.
    One line each."""
    pairs = []  # (what, MediDash's, the reference's, the whole)
    for dataset, ours in sorted(reconciliation.items()):
        theirs = reference["counts"].get(dataset, {})
        for key in RECONCILIATION_KEYS:
            what = f"{dataset} {key.replace('_', ' ')}"
            pairs.append((what, ours.get(key, 0), theirs.get(key, 0), ours.get("input_rows", 0)))
        if "events_written" in ours:
            events = ours["events_written"]
            pairs.append((f"{dataset} events", events, theirs.get("events", 0), events))
    for table, theirs in sorted(reference["aggregated_rows"].items()):
        if landed is not None and table in landed:
            pairs.append((f"{table} rows", landed[table], theirs, landed[table]))
    return [
        f"{what}: MediDash {ours:,}, reference {theirs:,}"
        for what, ours, theirs, whole in pairs
        if abs(ours - theirs) > TOLERANCE * whole
    ]


def run(release: Path, workdir: Path, pipeline: dict) -> dict:
    """The reference on the pipeline bench's release, with MediDash's time per stage (from
    `pipeline`, the same run's figures) as a ratio to it, and the count check printed."""
    figures = compute(release, workdir)
    figures["medidash_ratio"] = {
        "ingest": round(pipeline["ingest_seconds"] / figures["ingest_seconds"], 1),
        "explode": round(pipeline["explode_seconds"] / figures["explode_seconds"], 1),
        "aggregate": round(pipeline["aggregate_load_seconds"] / figures["aggregate_seconds"], 1),
    }
    for stage, ratio in figures["medidash_ratio"].items():
        figures[f"{stage}_ratio_to_reference"] = ratio
    differ = disagreements(
        figures, pipeline["reconciliation"], pipeline.get("landed_rows_by_table")
    )
    figures["count_disagreements"] = len(differ)
    figures["disagreements"] = differ
    for line in differ:
        print(f"reference: counts differ beyond {TOLERANCE:.2%}: {line}", flush=True)
    return figures


def markdown(figures: dict, pipeline: dict) -> list[str]:
    """The report's section: per stage, both engines' seconds and rates and the ratio."""
    rows = [
        ("ingest", "ingest_seconds", "ingest_seconds", "ingest_rows_per_second", "rows/s"),
        ("explode", "explode_seconds", "explode_seconds", "explode_events_per_second", "events/s"),
        (
            "aggregate (MediDash: and load)",
            "aggregate_seconds",
            "aggregate_load_seconds",
            "aggregate_events_per_second",
            "events/s",
        ),
    ]
    lines = [
        f"## reference (DuckDB, {figures['threads']} threads, {figures['memory_limit']})",
        "",
        "| stage | reference s | reference rate | MediDash s | MediDash rate | MediDash / reference |",
        "|---|---|---|---|---|---|",
    ]
    for (stage, ref_s, ours_s, rate, unit), ratio in zip(
        rows, figures["medidash_ratio"].values(), strict=True
    ):
        lines.append(
            f"| {stage} | {figures[ref_s]} | {figures[rate]:,} {unit} | {pipeline[ours_s]} | "
            f"{pipeline[rate]:,} {unit} | {ratio} |"
        )
    lines.append("")
    if figures["disagreements"]:
        lines += [f"Counts that differ beyond {TOLERANCE:.2%} of what they count:", ""]
        lines += [f"- {line}" for line in figures["disagreements"]]
    else:
        lines.append(
            f"Every reconciliation count and the events per dataset, and the rows of step 3's "
            f"event totals, agree with MediDash's within {TOLERANCE:.2%} of what they count."
        )
    lines.append("")
    return lines
