"""The page's state in its URL: what `?state=CA&year=2023` (or `?zip=`, `?practice=`) names.

The URL alone decides what is shown: every control only rewrites it, so a shared link reopens
the same view. The browser sends the query string, so any value may arrive here: each is
checked against `validation`'s allow-lists before it reaches a query.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from medidash.dashboard import validation as v

GEO_LEVELS = ("practice", "zip", "state")


def selection(search) -> tuple[str | None, str | None, int | None, str | None]:
    """(level, id, year, error) from the URL's query string."""
    if search is not None and not isinstance(search, str):
        return None, None, None, "not a query string"
    query = parse_qs((search or "").lstrip("?"))
    try:
        year = v.year((query.get("year") or [None])[0])
        for level in GEO_LEVELS:
            if level in query:
                return (*v.geo(level, query[level][0]), year, None)
        return None, None, year, None
    except v.InvalidInput as error:
        return None, None, None, str(error)
