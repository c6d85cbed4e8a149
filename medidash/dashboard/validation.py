"""Allow-lists for every input that reaches a query: anything else is rejected before SQL."""

from __future__ import annotations

import re

STATE = re.compile(r"^[A-Z]{2}$")
ZIP5 = re.compile(r"^[0-9]{5}$")
PRACTICE = re.compile(r"^[0-9]{10}$")
LEVELS = ("state", "zip", "practice")
MAX_SEARCH = 80


class InvalidInput(ValueError):
    pass


def geo(level: str, geo_id: str) -> tuple[str, str]:
    if level not in LEVELS:
        raise InvalidInput("level must be state, zip or practice")
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


def year(value) -> int | None:
    if value in (None, ""):
        return None
    text = str(value).strip()
    if not text.isdigit() or not 2000 <= int(text) <= 2100:
        raise InvalidInput("year must be a four-digit year")
    return int(text)


def search_text(value: str | None) -> str:
    text = (value or "").strip()
    if len(text) > MAX_SEARCH:
        raise InvalidInput(f"search text is limited to {MAX_SEARCH} characters")
    return text
