"""The release reader on hand-made files: format, encoding, delimiter by content, RFC 4180
records (contract section 1). Pure Python, no Spark."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import pytest

from medidash.cms_layouts import layout
from medidash.errors import BadInput
from medidash.release import reader

PB = layout("part_b_current_no_gndr")
CL = layout("clinicians_current")


def _file(path: Path) -> reader.DataFile:
    files = reader.data_files(path.parent)
    return next(f for f in files if f.path == path)


def test_delimiter_is_decided_by_content_never_by_name(tmp_path):
    (tmp_path / "comma.txt").write_text(",".join(PB.headers) + "\n")
    (tmp_path / "tab.csv").write_text("\t".join(PB.headers) + "\n")
    comma = reader.read_header(_file(tmp_path / "comma.txt"))
    tab = reader.read_header(_file(tmp_path / "tab.csv"))
    assert (comma.delimiter, comma.layout.name) == (",", PB.name)
    assert (tab.delimiter, tab.layout.name) == ("\t", PB.name)
    assert reader.delimiter_of("a\tb,c\td") == "\t"
    assert reader.delimiter_of("a\tb,c") == ","  # as many tabs as commas: comma


def test_format_by_magic_bytes_and_zip_members(tmp_path):
    (tmp_path / "partb.csv").write_bytes(gzip.compress(b",".join(h.encode() for h in PB.headers)))
    with zipfile.ZipFile(tmp_path / "bundle.zip", "w") as archive:
        archive.writestr("dac.csv", ",".join(CL.headers) + "\n")
        archive.writestr("__MACOSX/._dac.csv", "junk")
        archive.writestr("folder/", "")
    files = reader.data_files(tmp_path)
    assert [(f.compression, f.member) for f in files] == [("zip", "dac.csv"), ("gzip", None)]
    assert files[0].source == f"{tmp_path / 'bundle.zip'}!dac.csv"
    assert [reader.read_header(f).layout.name for f in files] == [CL.name, PB.name]


def test_bom_utf8_and_latin1_headers(tmp_path):
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + ",".join(PB.headers).encode() + b"\r\n")
    assert reader.read_header(_file(tmp_path / "bom.csv")).cells == PB.headers
    assert reader.decode_line("Visita médica".encode("latin-1")) == "Visita médica"
    assert reader.decode_line("Visita médica".encode()) == "Visita médica"


@pytest.mark.parametrize(
    "content",
    [
        (",".join(PB.headers) + "\n").encode("utf-16"),
        (",".join(PB.headers) + "\n").encode("utf-32"),
        b"\x00".join(h.encode() for h in PB.headers) + b"\n",
    ],
    ids=["utf-16", "utf-32", "nul-header"],
)
def test_an_encoding_neither_utf8_nor_latin1_is_unreadable(tmp_path, content):
    (tmp_path / "partb.csv").write_bytes(content)
    with pytest.raises(BadInput, match="neither UTF-8 nor Latin-1") as error:
        reader.read_header(_file(tmp_path / "partb.csv"))
    assert "partb.csv" in str(error.value)


def test_a_name_that_claims_a_format_the_content_lacks_is_broken(tmp_path):
    (tmp_path / "page.zip").write_text("<html>error</html>")
    with pytest.raises(BadInput, match="not a readable zip archive") as error:
        reader.data_files(tmp_path)
    assert "page.zip" in str(error.value)


def test_the_decompression_bound():
    small = reader.DataFile(Path("x.gz"), None, "gzip", 1000, "x.gz")
    assert small.bound() == 1 << 30
    big = reader.DataFile(Path("y.gz"), None, "gzip", 20 << 30, "y.gz")
    assert big.bound() == 100 * (20 << 30)
    assert reader.DataFile(Path("z.csv"), None, "plain", 10, "z.csv").bound() is None


def _records(tmp_path: Path, text: str, name: str = "f.csv") -> list[tuple[int, str]]:
    (tmp_path / name).write_bytes(text.encode())
    return list(reader.records(_file(tmp_path / name), ","))


def test_records_join_quoted_line_breaks_numbered_by_their_first_line(tmp_path):
    text = 'h1,h2\r\na,"one\r\ntwo"\r\n\r\nb,"x\ny\rz"\nc,plain\n'
    assert _records(tmp_path, text) == [
        (2, 'a,"one\r\ntwo"'),
        (5, 'b,"x\ny\rz"'),  # line 4 is blank; a lone CR is a line end too
        (8, "c,plain"),
    ]


def test_a_quote_left_open_does_not_swallow_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(reader, "MAX_RECORD_CHARS", 50)
    text = 'h1,h2\na,"open\n' + "".join(f"r{i},x\n" for i in range(20))
    records = _records(tmp_path, text)
    assert records[0] == (2, 'a,"open')  # given alone, quarantined by ingest
    assert records[1:] == [(3 + i, f"r{i},x") for i in range(20)]


def test_scan_finds_odd_quote_lines_and_utf8(tmp_path):
    (tmp_path / "a.csv").write_bytes(b'h\n"a ""b"" c",d\n')
    (tmp_path / "b.csv").write_bytes(b'h\n"a\nb",c\n')
    (tmp_path / "c.csv").write_bytes(b'h\n99"214,x\n\xe9\n')
    a, b, c = (reader.scan(_file(tmp_path / n)) for n in ("a.csv", "b.csv", "c.csv"))
    assert (a.odd_quotes, a.utf8) == (False, True)
    assert (b.odd_quotes, b.utf8) == (True, True)
    assert (c.odd_quotes, c.utf8) == (True, False)
    # a stray quote inside a field is not a quoted line break
    assert reader.has_quoted_line_break(_file(tmp_path / "c.csv"), ",") is False
    assert reader.has_quoted_line_break(_file(tmp_path / "b.csv"), ",") is True


def test_scan_across_block_boundaries(tmp_path, monkeypatch):
    monkeypatch.setattr(reader, "BLOCK", 7)
    (tmp_path / "a.csv").write_bytes(b'h\n"abcdefghij",x\n"k""lmnopq",y\n')
    (tmp_path / "b.csv").write_bytes(b'h\nabcdefgh,"ij\nk",y\n')
    assert reader.scan(_file(tmp_path / "a.csv")).odd_quotes is False
    assert reader.scan(_file(tmp_path / "b.csv")).odd_quotes is True


def test_cut_gzip_names_the_file(tmp_path):
    data = gzip.compress(b"h1,h2\n" + b"1,2\n" * 10_000)
    (tmp_path / "cut.csv.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(BadInput, match="cut off or damaged") as error:
        reader.verify(_file(tmp_path / "cut.csv.gz"))
    assert "cut.csv.gz" in str(error.value)
