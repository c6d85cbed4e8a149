"""Allow-lists for every input that reaches a query: anything else is rejected before SQL.

Also the rules of a page of a list (`limit`, `offset`, `cursor`): what a client may ask for,
and the opaque cursor that names the last row of the page it has seen."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

STATE = re.compile(r"^[A-Z]{2}$")
ZIP5 = re.compile(r"^[0-9]{5}$")
PRACTICE = re.compile(r"^[0-9]{10}$")
NPI = re.compile(r"^[0-9]{10}$")
NPI_PREFIX = re.compile(r"^[0-9]{1,10}$")
# HCPCS codes are five letters or digits once trimmed and upper-cased (contract section 2)
HCPCS = re.compile(r"^[0-9A-Z]{5}$")
NATION = "US"
LEVELS = ("nation", "state", "zip", "practice")
MAX_SEARCH = 80
MAX_NAME = 200
MIN_YEAR, MAX_YEAR = 2000, 2100
# at most 9 digits: every value fits PostgreSQL's integer before any range check
ASCII_DIGITS = re.compile(r"[0-9]{1,9}")
# a control character (C0, DEL, C1): never part of a name, and PostgreSQL text holds no NUL
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

MAX_PAGE = 1000
MAX_OFFSET = 999_999_999
MAX_CURSOR = 2048
CURSOR_CHARS = re.compile(r"^[A-Za-z0-9_-]+$")
DECIMAL_TEXT = re.compile(r"^-?[0-9]{1,30}(\.[0-9]{1,12})?$")
BIGINT = 2**63


class InvalidInput(ValueError):
    pass


def geo(level: str, geo_id: str) -> tuple[str, str]:
    if level not in LEVELS:
        raise InvalidInput("level must be nation, state, zip or practice")
    if geo_id is not None and not isinstance(geo_id, str):
        raise InvalidInput(f"{level} must be text")
    value = (geo_id or "").strip()
    if level in ("state", "nation"):
        value = value.upper()
    if level == "nation":
        if value != NATION:
            raise InvalidInput("the nation's id is US")
        return level, value
    pattern = {"state": STATE, "zip": ZIP5, "practice": PRACTICE}[level]
    if not pattern.fullmatch(value):
        raise InvalidInput(
            {
                "state": "a state is two letters",
                "zip": "a ZIP code is five digits",
                "practice": "a practice PAC ID is ten digits",
            }[level]
        )
    return level, value


def state(value) -> str | None:
    """An optional state filter (`?state=`): two letters, any case; None when not given."""
    if value in (None, ""):
        return None
    return geo("state", value)[1]


def npi(value) -> str:
    if not isinstance(value, str) or not NPI.fullmatch(value.strip()):
        raise InvalidInput("an NPI is ten digits")
    return value.strip()


def hcpcs(value) -> str:
    """A HCPCS code as the marts hold it: trimmed and upper-cased."""
    code = value.strip().upper() if isinstance(value, str) else ""
    if not HCPCS.fullmatch(code):
        raise InvalidInput("a HCPCS code is five letters or digits")
    return code


def name(what: str, value) -> str:
    """A name as the marts clean it (contract section 2): trimmed, upper-cased, inner runs of
    white space collapsed; printable, at most MAX_NAME characters."""
    if not isinstance(value, str) or CONTROL.search(value):
        raise InvalidInput(f"{what} must be printable text")
    text = " ".join(value.split()).upper()
    if not text or len(text) > MAX_NAME:
        raise InvalidInput(f"{what} must be 1 to {MAX_NAME} characters")
    return text


def drug(value) -> str:
    """A generic drug name, upper-cased like the marts' (`atorvastatin  calcium` finds it)."""
    return name("a generic name", value)


def provider_type(value) -> str | None:
    """An optional provider type filter, matched without regard to case; None when absent."""
    if value in (None, ""):
        return None
    return name("provider_type", value)


def flag(what: str, value, default: bool | None = False) -> bool | None:
    """A `true`/`false` query parameter; absent means the default."""
    if value is None:
        return default
    if value not in ("true", "false"):
        raise InvalidInput(f"{what} must be true or false")
    return value == "true"


def number(name: str, value, low: int, high: int) -> int:
    """A whole number from low to high, given as ASCII digits only (or as an int, the form a
    dashboard control's value takes): no sign, space, exponent, decimal point, or digits of
    another script (`str.isdigit()` accepts `²`, `int()` accepts full-width digits). The
    length is checked before `int()`, so no text is long enough to be slow or to overflow."""
    if isinstance(value, int) and not isinstance(value, bool):
        parsed = value
    elif isinstance(value, str) and ASCII_DIGITS.fullmatch(value):
        parsed = int(value)
    else:
        parsed = None
    if parsed is None or not low <= parsed <= high:
        raise InvalidInput(f"{name} must be a number from {low} to {high}")
    return parsed


def year(value) -> int | None:
    """A data year from a URL or a control; None when not given (the latest loaded)."""
    if value in (None, ""):
        return None
    try:
        return number("year", value, MIN_YEAR, MAX_YEAR)
    except InvalidInput:
        raise InvalidInput("year must be a four-digit year") from None


def limit(value, default: int = 25, high: int = MAX_PAGE) -> int:
    """A row limit (`?limit=`): absent means the default, anything given must be 1..high."""
    if value is None:
        return default
    return number("limit", value, 1, high)


def search_text(value: str | None) -> str:
    if value is not None and not isinstance(value, str):
        raise InvalidInput("search text must be text")
    text = (value or "").strip()
    if len(text) > MAX_SEARCH:
        raise InvalidInput(f"search text is limited to {MAX_SEARCH} characters")
    return text


def api_search_text(value: str | None) -> str:
    """Search text from an API query: as `search_text`, and printable (a NUL would reach
    PostgreSQL, whose text holds none, as an error)."""
    text = search_text(value)
    if CONTROL.search(text):
        raise InvalidInput("search text must be printable")
    return text


@dataclass(frozen=True)
class Page:
    """Which rows of a list to return: at most `limit`, starting `offset` rows in, or just
    after the row that `cursor` names (from a previous page's next cursor). A list's order is
    total (its last sort key is unique), so cursor pages never skip or repeat a row, however
    deep; offsets are for jumping to a page number."""

    limit: int
    offset: int = 0
    cursor: str | None = None


def page(args: Mapping, default: int = 25) -> Page:
    """The page a request asks for (`?limit=&offset=` or `?limit=&cursor=`, not both)."""
    size = limit(args.get("limit"), default=default)
    offset, cursor = args.get("offset"), args.get("cursor")
    if offset is not None and cursor is not None:
        raise InvalidInput("give offset or cursor, not both")
    if cursor is not None:
        if not isinstance(cursor, str) or not 0 < len(cursor) <= MAX_CURSOR:
            raise InvalidInput("cursor is not a cursor of this list")
        return Page(size, cursor=cursor)
    return Page(size, offset=0 if offset is None else number("offset", offset, 0, MAX_OFFSET))


def encode_cursor(list_name: str, values: Sequence) -> str:
    """The opaque cursor naming a row of a list: its sort-key values, and the list's name so
    a cursor is never applied to another list. Decimals travel as text (exact)."""
    keys = [str(value) if isinstance(value, Decimal) else value for value in values]
    raw = json.dumps({"l": list_name, "k": keys}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, list_name: str, kinds: Sequence[str]) -> list:
    """The sort-key values a cursor names, each checked against its key's kind (`int`,
    `numeric` or `text`), so that a forged or foreign cursor is a 400, never an SQL error."""
    bad = InvalidInput("cursor is not a cursor of this list")
    if not CURSOR_CHARS.fullmatch(cursor):
        raise bad
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise bad from None
    if not isinstance(data, dict) or data.get("l") != list_name:
        raise bad
    values = data.get("k")
    if not isinstance(values, list) or len(values) != len(kinds):
        raise bad
    for value, kind in zip(values, kinds, strict=True):
        if kind == "int":
            ok = isinstance(value, int) and not isinstance(value, bool) and -BIGINT < value < BIGINT
        elif kind == "numeric":
            ok = isinstance(value, str) and DECIMAL_TEXT.fullmatch(value) is not None
        else:
            ok = isinstance(value, str) and len(value) <= 1000 and "\x00" not in value
        if not ok:
            raise bad
    return values
