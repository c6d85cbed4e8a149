"""Numbers as people read them (`$1,234`, `12.5 %`, `1,234`), in text and in tables.

A table cell keeps its number (so a column sorts on the value, never on its text) and carries
the format its column shows it in: `column()` gives DataTable both.
"""

from __future__ import annotations

from decimal import Decimal

from dash.dash_table.Format import Format, Group, Scheme, Symbol

DASH = "–"

# kind -> how a table column of that kind shows its numbers
_FORMATS = {
    "count": Format(precision=0, scheme=Scheme.fixed, group=Group.yes),
    "decimal": Format(precision=1, scheme=Scheme.fixed, group=Group.yes),
    "money": Format(precision=0, scheme=Scheme.fixed, group=Group.yes, symbol=Symbol.yes),
    "money2": Format(precision=2, scheme=Scheme.fixed, group=Group.yes, symbol=Symbol.yes),
    "pct": Format(precision=1, scheme=Scheme.fixed).symbol(Symbol.yes).symbol_suffix(" %"),
    "pctile": Format(precision=1, scheme=Scheme.fixed),
}


def column(key: str, label: str, kind: str = "text") -> dict:
    """A DataTable column: text as it is, numbers typed numeric (sorted as numbers) with the
    format of their kind (`count`, `decimal`, `money`, `money2`, `pct`, `pctile`)."""
    if kind == "text":
        return {"name": label, "id": key, "type": "text"}
    return {"name": label, "id": key, "type": "numeric", "format": _FORMATS[kind]}


def number(value) -> float | int | None:
    """A cell's value: Decimal as float (JSON), everything else as it is."""
    return float(value) if isinstance(value, Decimal) else value


def count(value) -> str:
    return DASH if value is None else f"{float(value):,.0f}"


def decimal(value, digits: int = 1) -> str:
    return DASH if value is None else f"{float(value):,.{digits}f}"


def money(value, digits: int | None = None) -> str:
    """Dollars: whole dollars from $100 up, cents below (a per-event amount of $3.47)."""
    if value is None:
        return DASH
    value = float(value)
    if digits is None:
        digits = 0 if abs(value) >= 100 else 2
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.{digits}f}"


def pct(value, digits: int = 1) -> str:
    return DASH if value is None else f"{float(value):,.{digits}f} %"


def change(current, previous) -> str:
    """The change from the previous value, in percent with its sign (`+12.5 %`)."""
    if current is None or previous in (None, 0):
        return DASH
    delta = 100.0 * (float(current) - float(previous)) / float(previous)
    return f"{delta:+,.1f} %"


def ratio(value, reference) -> float | None:
    """value / reference, None where either is missing or the reference is 0."""
    if value is None or reference in (None, 0):
        return None
    return float(value) / float(reference)


def times(value, reference) -> str:
    """How many times the reference (`1.4× US`-style), for a comparison column."""
    r = ratio(value, reference)
    return DASH if r is None else f"{r:,.2f}×"
