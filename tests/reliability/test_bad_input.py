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
    return line(
        PB,
        npi=npi,
        state="CA",
        zip="94110",
        hcpcs_code=code,
        hcpcs_description="Office visit, 15 min",
        hcpcs_drug_ind="N",
        place_of_service="O",
        tot_benes="11",
        tot_srvcs=srvcs,
        tot_bene_day_srvcs=days,
        **extra,
    )


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
