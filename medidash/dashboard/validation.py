"""Allow-lists for every input that reaches a query: anything else is rejected before SQL."""

from __future__ import annotations

import re

STATE = re.compile(r"^[A-Z]{2}$")
ZIP5 = re.compile(r"^[0-9]{5}$")
PRACTICE = re.compile(r"^[0-9]{10}$")
LEVELS = ("state", "zip", "practice")
MAX_SEARCH = 80
MIN_YEAR, MAX_YEAR = 2000, 2100
# at most 9 digits: every value fits PostgreSQL's integer before any range check
ASCII_DIGITS = re.compile(r"[0-9]{1,9}")


class InvalidInput(ValueError):
    pass


def geo(level: str, geo_id: str) -> tuple[str, str]:
    if level not in LEVELS:
        raise InvalidInput("level must be state, zip or practice")
    if geo_id is not None and not isinstance(geo_id, str):
        raise InvalidInput(f"{level} must be text")
    value = (geo_id or "").strip()
    if level == "state":
        value = value.upper()
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


def limit(value, default: int = 25, high: int = 1000) -> int:
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
