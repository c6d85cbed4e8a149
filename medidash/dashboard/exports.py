"""The one CSV writer behind every download: the API's `?format=csv` and the dashboard's
table exports (contract section 7).

A spreadsheet runs a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return as a
formula, so such a cell gets a leading `'`. The rule is decided by the value's type, which is
its column's type in the marts: a number (int, float, Decimal, from a numeric column) is
written as the number it is, so `-3.5` stays `-3.5`; a text value is always text, so a text
cell reading `-3.5` becomes `'-3.5` like any other text starting with `-` (a text column holds
names and codes, never quantities, and guessing which text "looks numeric" is how `-1+1`
slips through).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from numbers import Number

from flask import Response

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# a download's file name keeps only these (a drug name may hold `/`, `"` or a space)
FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
# rows per chunk of a streamed CSV: few enough writes, a small bounded buffer
CHUNK_ROWS = 500


def safe_cell(value):
    """The cell as written: numbers and empty values as they are, text neutralised."""
    if value is None or (isinstance(value, Number) and not isinstance(value, bool)):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(rows: Sequence[dict], columns: Sequence[tuple[str, str]] | None = None) -> str:
    """Rows as CSV, one line per row, a header line first: `columns` is (key, header) in
    order, by default every key of the first row under its own name."""
    if columns is None:
        columns = [(key, key) for key in rows[0]] if rows else []
    out = io.StringIO()
    writer = csv.writer(out)
    if columns:
        writer.writerow([safe_cell(label) for _, label in columns])
    writer.writerows(_cells(rows, [key for key, _ in columns]))
    return out.getvalue()


def _cells(rows: Iterable[dict], keys: list[str]):
    for row in rows:
        yield [safe_cell(row[key]) for key in keys]


def csv_response(
    rows: Sequence[dict],
    filename: str,
    columns: Sequence[tuple[str, str]] | None = None,
    spreadsheet: bool = False,
) -> Response:
    """A CSV download; `spreadsheet` adds the UTF-8 byte-order mark Excel needs to read
    non-ASCII names (the dashboard's downloads), the API's CSV has none."""
    body = ("\ufeff" if spreadsheet else "") + csv_text(rows, columns)
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": _attachment(filename)},
    )


def csv_chunks(rows: Iterable[Sequence]) -> Iterator[str]:
    """A streamed CSV: `rows` is the header first, then each row as a sequence of values;
    yields the CSV text a few hundred lines at a time, never holding more."""
    out = io.StringIO()
    writer = csv.writer(out)
    for count, row in enumerate(rows, start=1):
        writer.writerow([safe_cell(value) for value in row])
        if count % CHUNK_ROWS == 0:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    if out.tell():
        yield out.getvalue()


def csv_stream_response(rows: Iterable[Sequence], filename: str) -> Response:
    """A CSV download written while it is sent (the API's whole lists, `?format=csv`): the
    body is generated chunk by chunk, so a list of any length takes the same memory."""
    return Response(
        csv_chunks(rows),
        mimetype="text/csv",
        headers={"Content-Disposition": _attachment(filename)},
    )


def _attachment(filename: str) -> str:
    return f'attachment; filename="{FILENAME_UNSAFE.sub("_", filename)}.csv"'
