"""The page's state in its URL: every view and every choice on it, so a shared link reopens it.

`?state=CA`, `?zip=94110`, `?practice=0840459889`, `?nation=US`, `?npi=1111111111`,
`?hcpcs=99213` or `?drug=ATORVASTATIN CALCIUM` name the page; `year`, `measure` and `rate`
(the map), `specialty` (the specialty the page's provider list is filtered to), `pstate` and
`ptype` (the provider search's filters) the choices on it, and `<table>.sort` (a column, `-`
before it for descending) and `<table>.page` (from 1) each table's order and page. Every
control only rewrites the URL and the URL alone decides what is shown. The browser sends the query string, so any value may
arrive here: each is checked against `validation`'s allow-lists before it reaches a query.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import parse_qs, urlencode

from medidash.dashboard import validation as v
from medidash.dashboard.tables import PAGES_SHOWN, TABLES

GEO_LEVELS = ("practice", "zip", "state", "nation")
# a page's kind -> how its key is checked; the first present names the page
PAGES = {
    "npi": v.npi,
    "hcpcs": v.hcpcs,
    "drug": v.drug,
    **{level: (lambda value, level=level: v.geo(level, value)[1]) for level in GEO_LEVELS},
}
MEASURES = (
    "procedure_events",
    "paid_amount",
    "prescription_claims",
    "drug_cost",
    "clinician_count",
    "provider_count",
    "avg_mips_score",
    # a code's or a drug's map
    "event_count",
    "claim_count",
)
RATES = ("total", "per_clinician", "per_provider")
CHOICES = ("year", "measure", "rate", "specialty", "pstate", "ptype")


@dataclass(frozen=True)
class TableState:
    """A table's order (a column key, `-` before it for descending; None: the list's own)
    and page (from 1)."""

    sort: str | None = None
    page: int = 1

    @property
    def column(self) -> str | None:
        return None if self.sort is None else self.sort.removeprefix("-")

    @property
    def sort_by(self) -> list[dict]:
        """The order as DataTable's `sort_by`."""
        if self.sort is None:
            return []
        direction = "desc" if self.sort.startswith("-") else "asc"
        return [{"column_id": self.column, "direction": direction}]


@dataclass(frozen=True)
class View:
    kind: str | None = None  # a key of PAGES, None for the start page
    key: str | None = None
    year: int | None = None
    measure: str | None = None
    rate: str | None = None
    specialty: str | None = None
    pstate: str | None = None
    ptype: str | None = None
    # (table name, its state) of the tables not in their first state, by name
    tables: tuple[tuple[str, TableState], ...] = ()
    error: str | None = None

    @property
    def is_geo(self) -> bool:
        return self.kind in GEO_LEVELS

    def table(self, name: str) -> TableState:
        return dict(self.tables).get(name, TableState())

    def with_table(self, name: str, state: TableState) -> View:
        """This view with table `name` in `state` (checked as a URL's would be)."""
        tables = {**dict(self.tables), name: _table_state(self.kind, name, state)}
        kept = tuple(sorted((n, t) for n, t in tables.items() if t != TableState()))
        return replace(self, tables=kept)

    def search(self, **changes) -> str:
        """The query string of this view with `changes` (None removes a parameter)."""
        view = replace(self, **changes)
        query = {}
        if view.kind:
            query[view.kind] = view.key
        for name in CHOICES:
            value = getattr(view, name)
            if value is not None:
                query[name] = value
        for name, state in view.tables:
            if state.sort is not None:
                query[f"{name}.sort"] = state.sort
            if state.page != 1:
                query[f"{name}.page"] = state.page
        return "?" + urlencode(query) if query else ""


def _table_state(kind: str | None, name: str, state: TableState) -> TableState:
    table = TABLES.get(name)
    if table is None or kind not in table.kinds:
        raise v.InvalidInput(f"no table {name} on this page")
    if state.sort is not None and state.column not in [c[0] for c in table.columns]:
        raise v.InvalidInput(f"table {name} has no column {state.column}")
    v.number(f"{name}.page", state.page, 1, PAGES_SHOWN)
    return state


def _tables(kind: str | None, query: dict[str, str]) -> tuple[tuple[str, TableState], ...]:
    """The tables' states a query string names (`<table>.sort`, `<table>.page`)."""
    states: dict[str, TableState] = {}
    for key, value in query.items():
        name, dot, what = key.rpartition(".")
        if not dot or what not in ("sort", "page"):
            continue
        state = states.get(name, TableState())
        if what == "sort":
            state = replace(state, sort=value)
        else:
            state = replace(state, page=v.number(key, value, 1, PAGES_SHOWN))
        states[name] = state
    return tuple(sorted((name, _table_state(kind, name, s)) for name, s in states.items()))


def parse(search) -> View:
    """The view a query string names (an error message in `error` when a value is invalid)."""
    if search is not None and not isinstance(search, str):
        return View(error="not a query string")
    query = {k: vals[0] for k, vals in parse_qs((search or "").lstrip("?")).items()}
    try:
        kind = next((k for k in PAGES if k in query), None)
        key = PAGES[kind](query[kind]) if kind else None
        measure = query.get("measure")
        if measure is not None and measure not in MEASURES:
            raise v.InvalidInput("unknown map measure")
        rate = query.get("rate")
        if rate is not None and rate not in RATES:
            raise v.InvalidInput("rate must be total, per_clinician or per_provider")
        specialty = query.get("specialty")
        return View(
            kind=kind,
            key=key,
            year=v.year(query.get("year")),
            measure=measure,
            rate=rate,
            specialty=v.name("a specialty", specialty) if specialty is not None else None,
            pstate=v.state(query.get("pstate")),
            ptype=v.provider_type(query.get("ptype")),
            tables=_tables(kind, query),
        )
    except v.InvalidInput as error:
        return View(error=str(error))


def selection(search) -> tuple[str | None, str | None, int | None, str | None]:
    """(level, id, year, error) of a geography's view (level None for any other page)."""
    view = parse(search)
    if view.error:
        return None, None, None, view.error
    if not view.is_geo:
        return None, None, view.year, None
    return view.kind, view.key, view.year, None
