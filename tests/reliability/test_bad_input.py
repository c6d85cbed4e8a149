"""The bad-input corpus: every kind of broken file either stops the run with an error naming
the file, the line and the problem, or has its bad records quarantined and counted, and the
reconciliation invariant holds."""

from __future__ import annotations

import csv
import gzip
import io
import json
import zipfile
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from medidash.cms_layouts import layout
from spark_jobs.ingest_sources import ReleaseFileError, prepare

PB = layout("part_b_current_no_gndr")
CL = layout("clinicians_current")


def line(lay, delimiter=",", **values) -> str:
    index = {c: i for i, c in enumerate(lay.canonical) if c}
    cells = [""] * len(lay.headers)
    for key, value in values.items():
        cells[index[key]] = value
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="").writerow(cells)
    return out.getvalue()


def header(lay, delimiter=",") -> str:
    return delimiter.join(lay.headers)


def pb_row(npi="1234567890", code="99213", srvcs="20", days="12", **extra) -> str:
    values = {
        "state": "CA",
        "zip": "94110",
        "hcpcs_description": "Office visit, 15 min",
        "hcpcs_drug_ind": "N",
        "place_of_service": "O",
        "tot_benes": "11",
        **extra,
    }
    return line(PB, npi=npi, hcpcs_code=code, tot_srvcs=srvcs, tot_bene_day_srvcs=days, **values)


def clinicians(folder: Path) -> None:
    (folder / "dac.csv").write_text(
        header(CL)
        + "\n"
        + line(
            CL,
            npi="1234567890",
            specialty="INTERNAL MEDICINE",
            medical_school="OTHER",
            state="CA",
            zip="94110",
        )
        + "\n"
    )


# -- the run stops, with a clear message -------------------------------------------------


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("empty.csv", b"", "line 1: empty file, no header"),
        ("unknown.csv", b"foo,bar,baz\n1,2,3\n", "matches no CMS layout; closest is"),
        (
            "dup.csv",
            (header(PB) + ",Rndrng_NPI\n").encode(),
            "line 1: duplicate column names: rndrng_npi",
        ),
        (
            "cut.csv.gz",
            gzip.compress((header(PB) + "\n" + pb_row() + "\n").encode() * 50)[:-40],
            "the compressed file is cut off or damaged",
        ),
        ("bad.zip", b"PK\x03\x04 not really a zip", "not a readable zip archive"),
    ],
)
def test_files_that_stop_the_run(tmp_path, name, content, expected):
    release = tmp_path / "release"
    release.mkdir()
    clinicians(release)
    (release / name).write_bytes(content)
    with pytest.raises((ReleaseFileError, ValueError)) as error:
        prepare(release, tmp_path / "work")
    assert name in str(error.value) and expected in str(error.value), str(error.value)


def test_missing_required_dataset(tmp_path):
    release = tmp_path / "release"
    release.mkdir()
    (release / "partb.csv").write_text(header(PB) + "\n" + pb_row() + "\n")
    with pytest.raises(ReleaseFileError, match="has no clinicians file"):
        prepare(release, tmp_path / "work")


# -- records are quarantined, counted, and the rest goes through -----------------------------


@pytest.mark.slow
def test_bad_records_are_quarantined_with_file_line_and_reason(tmp_path, spark):
    from spark_jobs import step1_ingest

    release = tmp_path / "release"
    release.mkdir()
    clinicians(release)
    good = pb_row()
    rows = [
        good,  # line 2: valid
        pb_row(npi="12345678901"),  # 3: 11-digit NPI
        pb_row(srvcs="abc"),  # 4: non-numeric
        pb_row(srvcs="-5"),  # 5: negative
        good + ",extra",  # 6: one field too many
        good.rsplit(",", 3)[0],  # 7: fields missing
        pb_row(code='99"214'),  # 8: unbalanced quote (raw below)
        pb_row(code="J1100", days=""),  # 9: blank bene-days: valid (NULL)
        good,  # 10: exact duplicate of line 2
        pb_row(npi="0000000001", srvcs=""),  # 11: copyright pseudo-row: filtered
        pb_row(code="x" * 40_000_000),  # 12: a 40 MB line, quarantined
    ]
    text = header(PB) + "\r\n" + "\r\n".join(rows).replace('99""214', '99"214') + "\r\n"
    (release / "partb.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    # Latin-1 file, tab-delimited, inside a zip with a second member (a valid UTF-8 copy)
    latin = (
        header(PB, "\t")
        + "\n"
        + line(
            PB,
            "\t",
            npi="2234567890",
            state="PR",
            zip="00901",
            hcpcs_code="99213",
            hcpcs_description="Visita médica",
            hcpcs_drug_ind="N",
            place_of_service="O",
            tot_benes="11",
            tot_srvcs="11",
            tot_bene_day_srvcs="11",
        )
        + "\n"
        + pb_row(npi="3234567890")[:30]
    )  # a truncated last line
    with zipfile.ZipFile(release / "puf.zip", "w") as archive:
        archive.writestr("latin.txt", latin.encode("latin-1"))
        archive.writestr("copy.csv", header(PB) + "\n" + pb_row(npi="4234567890") + "\n")

    lake = tmp_path / "lake"
    report = step1_ingest.ingest(spark, release, 2023, str(lake), "bad")
    part_b = report["part_b"]
    assert part_b == {
        "input_rows": 11 + 2 + 1,
        "valid_rows": 2 + 1 + 1,
        "duplicate_rows": 1,
        "filtered_rows": 1,
        "quarantined_rows": 7 + 1,
    }
    for entry in report.values():
        assert entry["input_rows"] == (
            entry["valid_rows"]
            + entry["duplicate_rows"]
            + entry["filtered_rows"]
            + entry["quarantined_rows"]
        )
    quarantine = spark.read.parquet(str(lake / "runs" / "bad" / "quarantine")).collect()
    found = {(Path(r.source_file.split("!")[0]).name, r.line_number): r.reason for r in quarantine}
    assert found[("partb.csv", 3)] == "NPI is not 10 digits: '12345678901'"
    assert found[("partb.csv", 4)] == "tot_srvcs is not a non-negative number: 'abc'"
    assert found[("partb.csv", 5)] == "tot_srvcs is not a non-negative number: '-5'"
    assert found[("partb.csv", 6)].startswith("wrong number of fields: expected 28, found 29")
    assert found[("partb.csv", 7)].startswith("wrong number of fields: expected 28, found 25")
    assert found[("partb.csv", 8)].startswith("unbalanced quotes")
    assert found[("partb.csv", 12)].endswith("(record cut to 10000 characters)")
    assert found[("puf.zip", 3)].startswith("wrong number of fields")
    long_row = next(r for r in quarantine if r.line_number == 12)
    assert len(long_row.raw_record) == 10_000
    cleaned = spark.read.parquet(str(lake / "clean" / "part_b" / "data_year=2023")).collect()
    by_npi = {r.npi: r for r in cleaned}
    assert by_npi["2234567890"].hcpcs_description == "Visita médica"  # Latin-1 decoded
    assert by_npi["2234567890"].zip5 == "00901"
    assert sorted(by_npi) == ["1234567890", "2234567890", "4234567890"]
    assert {r.hcpcs_code: r.tot_bene_day_srvcs for r in cleaned if r.npi == "1234567890"} == {
        "99213": 12,
        "J1100": None,
    }
    saved = json.loads((lake / "runs" / "bad" / "reconciliation.json").read_text())
    assert saved["part_b"] == part_b


# -- contract v2: one reader, RFC 4180 in full, values in range (issue 14) --------------------

PD = layout("part_d_current")
BIG = "10000000001"  # above 10^10


def pd_row(npi="1234567890", brand="Lipitor", clms="11", days="335", cost="250.51", **extra):
    return line(
        PD,
        npi=npi,
        prescriber_last_org_name="SMITH",
        city="SAN JOSE",
        state="CA",
        brand_name=brand,
        generic_name="ATORVASTATIN",
        tot_clms=clms,
        tot_day_suply=days,
        tot_drug_cst=cost,
        tot_benes="5",
        **extra,
    )


def requoted(row: str) -> str:
    """The same fields, every one of them quoted."""
    cells = next(csv.reader([row]))
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="").writerow(cells)
    return out.getvalue()


PB_OUT_OF_RANGE = [
    "tot_srvcs",
    "tot_bene_day_srvcs",
    "tot_benes",
    "avg_submitted_charge",
    "avg_allowed_amount",
    "avg_payment_amount",
    "avg_standardized_amount",
]
PD_OUT_OF_RANGE = ["tot_clms", "tot_day_suply", "tot_drug_cst", "tot_benes"]


def _pb_out_of_range(field: str, npi: str) -> str:
    values = {"srvcs": "20", "days": "12"}
    if field == "tot_srvcs":
        values["srvcs"] = BIG
    elif field == "tot_bene_day_srvcs":
        values["days"] = BIG
    extra = {field: BIG} if field not in ("tot_srvcs", "tot_bene_day_srvcs") else {}
    return pb_row(npi=npi, code="99215", **values, **extra)


def _pd_out_of_range(field: str, npi: str) -> str:
    values = {"clms": "11", "days": "335", "cost": "250.51"}
    key = {"tot_clms": "clms", "tot_day_suply": "days", "tot_drug_cst": "cost"}.get(field)
    if key:
        values[key] = BIG
        return pd_row(npi=npi, **values)
    row = pd_row(npi=npi, **values)
    cells = next(csv.reader([row]))
    cells[PD.canonical.index(field)] = BIG
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(cells)
    return out.getvalue()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, spark):
    """One hand-made release holding every row-level case of contract v2 sections 1-2, ingested
    once; each test below asserts its own rows. Part B lines are listed with their numbers."""
    from spark_jobs import step1_ingest

    root = tmp_path_factory.mktemp("corpus")
    release = root / "release"
    release.mkdir()
    clinicians(release)
    good = pb_row()
    multi = pb_row(npi="1111111111", hcpcs_description="Office visit,\r\n15 min")
    assert multi.count("\r\n") == 1
    pb_lines = [
        good,  # 2
        multi,  # 3-4: one record, a quoted line break
        pb_row(npi="1111111112", srvcs="abc"),  # 5: bad number after the multi-line record
        requoted(good),  # 6: the same fields as line 2, quoted differently: duplicate
        pb_row(npi="1111111113", days="5000000000"),  # 7: a runaway event count
        pb_row(npi="1111111114", srvcs="1500000000.5", days=""),  # 8: ceil(srvcs) > 10^9
        pb_row(npi="1111111115", city="SAN\x00JOSE"),  # 9: a NUL byte
        pb_row(npi="1111111116", hcpcs_description="visit\x07bell"),  # 10: a control char
        pb_row(npi="1111111117", hcpcs_description="tab\there"),  # 11: a tab in a comma file
    ]
    pb_lines += [_pb_out_of_range(f, f"22222222{i:02d}") for i, f in enumerate(PB_OUT_OF_RANGE)]
    (release / "partb.txt").write_text(  # a comma file named .txt
        header(PB) + "\n" + "\n".join(pb_lines) + "\n", newline=""
    )
    pd_lines = [
        pd_row(),  # 2
        pd_row(npi="1234567891", clms="1", days="9000000000"),  # 3: 9e9 days, one claim
        pd_row(npi="1234567892", clms="2000000000", days="2000000000"),  # 4: runaway
    ]
    pd_lines += [_pd_out_of_range(f, f"33333333{i:02d}") for i, f in enumerate(PD_OUT_OF_RANGE)]
    (release / "partd.csv").write_text(header(PD) + "\n" + "\n".join(pd_lines) + "\n")
    lake = root / "lake"
    report = step1_ingest.ingest(spark, release, 2023, str(lake), "v2")
    quarantine = spark.read.parquet(str(lake / "runs" / "v2" / "quarantine")).collect()
    clean = {
        d: spark.read.parquet(str(lake / "clean" / d / "data_year=2023")).collect()
        for d in ("part_b", "part_d")
    }
    return {
        "release": release,
        "lake": lake,
        "report": report,
        "quarantine": {(r.dataset, r.line_number): (r.reason, r.raw_record) for r in quarantine},
        "clean": clean,
    }


def _invariant(entry: dict) -> None:
    assert entry["input_rows"] == (
        entry["valid_rows"]
        + entry["duplicate_rows"]
        + entry["filtered_rows"]
        + entry["quarantined_rows"]
    )


def test_reconciliation_of_the_corpus(corpus):
    part_b, part_d = corpus["report"]["part_b"], corpus["report"]["part_d"]
    # Part B: 2 valid (lines 2, 3-4), 1 duplicate (6), 6 bad rows + 7 out of range
    assert part_b == {
        "input_rows": 9 + 7,
        "valid_rows": 2,
        "duplicate_rows": 1,
        "filtered_rows": 0,
        "quarantined_rows": 6 + 7,
    }
    assert part_d == {
        "input_rows": 3 + 4,
        "valid_rows": 2,
        "duplicate_rows": 0,
        "filtered_rows": 0,
        "quarantined_rows": 1 + 4,
    }
    for entry in corpus["report"].values():
        _invariant(entry)


def test_quoted_line_break_is_one_record_numbered_by_its_first_line(corpus):
    by_npi = {r.npi: r for r in corpus["clean"]["part_b"]}
    assert by_npi["1111111111"].hcpcs_description == "Office visit,\r\n15 min"
    assert ("part_b", 4) not in corpus["quarantine"]  # not a broken second half
    # the records after it keep the file's line numbers
    assert corpus["quarantine"][("part_b", 5)][0] == "tot_srvcs is not a non-negative number: 'abc'"


def test_a_requoted_copy_is_a_duplicate(corpus):
    assert corpus["report"]["part_b"]["duplicate_rows"] == 1
    assert [r.npi for r in corpus["clean"]["part_b"]].count("1234567890") == 1


def test_comma_file_named_txt_header_check_and_ingest_agree(corpus):
    from medidash.release.headers import check_release

    files = {Path(f.path).name: f for f in check_release(corpus["release"])}
    assert files["partb.txt"].dataset == "part_b"
    assert corpus["report"]["part_b"]["valid_rows"] == 2


@pytest.mark.parametrize("field", PB_OUT_OF_RANGE)
def test_out_of_range_part_b_value_is_quarantined(corpus, field):
    line_number = 12 + PB_OUT_OF_RANGE.index(field)
    reason, _ = corpus["quarantine"][("part_b", line_number)]
    assert reason == f"{field} is out of range (above 10^10): '{BIG}'"
    npi = f"22222222{PB_OUT_OF_RANGE.index(field):02d}"
    assert npi not in {r.npi for r in corpus["clean"]["part_b"]}


@pytest.mark.parametrize("field", PD_OUT_OF_RANGE)
def test_out_of_range_part_d_value_is_quarantined(corpus, field):
    reason, _ = corpus["quarantine"][("part_d", 5 + PD_OUT_OF_RANGE.index(field))]
    assert reason == f"{field} is out of range (above 10^10): '{BIG}'"


def test_runaway_event_count_is_quarantined_never_exploded(corpus):
    quarantine = corpus["quarantine"]
    assert quarantine[("part_b", 7)][0] == (
        "tot_bene_day_srvcs would make more than 10^9 events: '5000000000'"
    )
    assert quarantine[("part_b", 8)][0] == (
        "tot_srvcs would make more than 10^9 events: '1500000000.5'"
    )
    assert quarantine[("part_d", 4)][0] == "tot_clms would make more than 10^9 events: '2000000000'"
    cleaned = {r.npi for r in corpus["clean"]["part_b"]} | {
        r.npi for r in corpus["clean"]["part_d"]
    }
    assert not cleaned & {"1111111113", "1111111114", "1234567892"}


def test_days_supply_past_32_bits_is_carried_exactly(corpus, spark, tmp_path):
    """Tot_Day_Suply 9e9 on one claim is in range (contract: counts up to 10^10), so its event
    carries 9e9 days, not a wrapped negative int."""
    from spark_jobs import step2_explode

    part_d = spark.read.parquet(str(corpus["lake"] / "clean" / "part_d" / "data_year=2023"))
    events = step2_explode.explode_prescriptions(part_d, 2023, tmp_path / "events")
    days = {
        r.npi: r.days
        for r in events.groupBy("npi").agg(F.sum("days_supply").alias("days")).collect()
    }
    assert days == {"1234567890": 335, "1234567891": 9_000_000_000}
    assert events.where("days_supply < 0").count() == 0


def test_nul_and_control_characters_are_quarantined_escaped(corpus):
    quarantine = corpus["quarantine"]
    reason, raw = quarantine[("part_b", 9)]
    assert reason == "Rndrng_Prvdr_City holds a control character: 'SAN\\x00JOSE'"
    assert "SAN\\x00JOSE" in raw and "\x00" not in raw
    reason, raw = quarantine[("part_b", 10)]
    assert reason == "HCPCS_Desc holds a control character: 'visit\\x07bell'"
    assert "\x07" not in raw
    reason, raw = quarantine[("part_b", 11)]
    assert reason == "HCPCS_Desc holds a control character: 'tab\\x09here'"
    assert "\t" not in raw


# -- unreadable files stop the run at the header check, naming the file ---------------------


def _release_with(tmp_path: Path, name: str, content: bytes) -> Path:
    release = tmp_path / "release"
    release.mkdir()
    clinicians(release)
    (release / name).write_bytes(content)
    return release


def _stops(release: Path, tmp_path: Path, name: str, expected: str) -> None:
    from medidash.errors import BadInput
    from medidash.release.headers import check_release

    for stage in (lambda: check_release(release), lambda: prepare(release, tmp_path / "work")):
        with pytest.raises(BadInput) as error:
            stage()
        assert name in str(error.value) and expected in str(error.value), str(error.value)


def test_broken_zip_names_the_file(tmp_path):
    release = _release_with(tmp_path, "puf.zip", b"PK\x03\x04 not really a zip" + bytes(200))
    _stops(release, tmp_path, "puf.zip", "not a readable zip archive")


def test_zip_with_a_corrupt_member_names_the_file(tmp_path):
    body = (header(PB) + "\n" + (pb_row() + "\n") * 2000).encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("partb.csv", body)
    data = bytearray(buffer.getvalue())
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(16)  # the member's deflate stream, damaged
    release = _release_with(tmp_path, "puf.zip", bytes(data))
    _stops(release, tmp_path, "puf.zip", "not a readable zip archive")


def test_corrupt_gzip_names_the_file(tmp_path):
    body = header(PB) + "\n" + "".join(pb_row(npi=f"12345{i:05d}") + "\n" for i in range(3000))
    data = bytearray(gzip.compress(body.encode()))
    middle = len(data) // 2
    data[middle : middle + 32] = b"\xff" * 32
    release = _release_with(tmp_path, "partb.csv.gz", bytes(data))
    _stops(release, tmp_path, "partb.csv.gz", "the compressed file is cut off or damaged")


def test_unknown_encoding_names_the_file(tmp_path):
    content = (header(PB) + "\n" + pb_row() + "\n").encode("utf-16")
    release = _release_with(tmp_path, "partb.csv", content)
    _stops(release, tmp_path, "partb.csv", "neither UTF-8 nor Latin-1")


def _gzip_bomb(path: Path, gib: float = 1.01) -> None:
    """A gzip file of a Part B header and then zeros, ~1 MB compressed, more than 1 GiB
    decompressed: each 1 MiB block of zeros is compressed once and its bytes repeated (a full
    flush makes every block's deflate output the same)."""
    import zlib

    block = bytes(1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = (header(PB) + "\n").encode()
    start = compressor.compress(head) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeated = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    blocks = int(gib * 1024)
    crc = zlib.crc32(head)
    for _ in range(blocks):
        crc = zlib.crc32(block, crc)
    size = len(head) + blocks * len(block)
    with open(path, "wb") as out:
        out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + start)
        for _ in range(blocks):
            out.write(repeated)
        out.write(compressor.flush())
        out.write(crc.to_bytes(4, "little") + (size & 0xFFFFFFFF).to_bytes(4, "little"))


def test_decompression_bomb_stops_the_run(tmp_path):
    release = tmp_path / "release"
    release.mkdir()
    clinicians(release)
    _gzip_bomb(release / "partb.csv.gz")
    assert (release / "partb.csv.gz").stat().st_size < 20 << 20
    from medidash.errors import BadInput
    from medidash.release.headers import check_release

    # the header check decompresses every compressed file whole: the run stops before Spark
    with pytest.raises(BadInput, match="decompresses past the bound") as error:
        check_release(release)
    assert "partb.csv.gz" in str(error.value)


# -- a required dataset without a valid row stops the run and changes nothing ---------------


@pytest.mark.parametrize(
    "content, at_header_check",
    [
        (header(PB) + "\n", True),  # header only
        (header(PB) + "\n" + pb_row()[:40] + "\n", False),  # truncated: one broken row
    ],
    ids=["header-only", "truncated"],
)
def test_required_dataset_without_valid_row_changes_nothing(
    tmp_path, spark, content, at_header_check
):
    from medidash.errors import BadInput
    from medidash.release.headers import check_release
    from spark_jobs import step1_ingest

    release = _release_with(tmp_path, "partb.csv", content.encode())
    lake = tmp_path / "lake"
    kept = {}
    for dataset in ("part_b", "clinicians"):
        year = lake / "clean" / dataset / "data_year=2023"
        year.mkdir(parents=True)
        (year / "part-00000.parquet").write_bytes(b"the previous release")
        kept[dataset] = year
    if at_header_check:
        with pytest.raises(BadInput, match="part_b has no data row") as error:
            check_release(release)
        assert "partb.csv" in str(error.value)
    with pytest.raises(BadInput) as error:
        step1_ingest.ingest(spark, release, 2023, str(lake), "empty")
    assert "partb.csv" in str(error.value) and "part_b has no" in str(error.value)
    for year in kept.values():
        assert [p.name for p in year.iterdir()] == ["part-00000.parquet"]
        assert (year / "part-00000.parquet").read_bytes() == b"the previous release"
    assert not any(p.name.startswith("_tmp_") for p in (lake / "clean").rglob("*"))
