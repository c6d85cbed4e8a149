"""Every table the pages show: its columns, the list (a `queries.ListQuery`) it shows the
top of, and where its whole list downloads as CSV.

Columns are (key, label, kind), kind as in `formatting.column`: money beside the counts it is
paid for, every number a number (a column sorts on values, not on their text). A table's
export is the whole list, never the rows on screen: the API's streamed CSV of the same list
where the API has it (`api`), else the dashboard's `/download/<name>`, which streams the list
through the same writer (`Marts.stream`, `exports.csv_stream_response`, formula cells
neutralised).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from medidash.dashboard.formatting import number
from medidash.dashboard.queries import DRUG, PROCEDURE, PRODUCTS, ListQuery, Marts

if TYPE_CHECKING:  # urlstate checks a URL's table states against TABLES
    from medidash.dashboard.urlstate import View

# rows of a list a page holds (the table pages through them); the export has them all
SHOWN = 100
PAGE_ROWS = 15
PAGES_SHOWN = math.ceil(SHOWN / PAGE_ROWS)


@dataclass(frozen=True)
class Table:
    title: str
    kinds: tuple[str, ...]  # the pages (View.kind) it belongs to
    columns: list[tuple[str, str, str]]
    query: Callable[[Marts, View, int], ListQuery]
    # the API list path and parameters of the same list, for its CSV
    api: Callable[[View, int], tuple[str, dict]] | None = None
    # a click on a row opens the page of (URL parameter, row key)
    link: tuple[str, str] | None = None

    def export_href(self, name: str, view: View, year: int) -> str:
        if self.api is not None:
            path, params = self.api(view, year)
            return f"/api/v1/{path}?" + urlencode({**params, "year": year, "format": "csv"})
        return f"/download/{name}" + view.search(year=year, measure=None, rate=None, tables=())


GEO = ("nation", "state", "zip", "practice")
PCT = ("pct_of_geo", "% of geography", "pct")
PROCEDURE_COLUMNS = [
    ("hcpcs_code", "HCPCS", "text"),
    ("hcpcs_description", "Description", "text"),
    ("event_count", "Events", "count"),
    ("allowed_amount", "Allowed", "money"),
    ("paid_amount", "Paid", "money"),
    ("paid_per_event", "Paid per event", "money2"),
    PCT,
]


def _geo_api(path: str, **extra) -> Callable[[View, int], tuple[str, dict]]:
    return lambda view, year: (f"geo/{view.kind}/{view.key}/{path}", extra)


def _places(level: str, label: str, what: str) -> list[tuple[str, str, str]]:
    """The columns of a code's or a drug's list of places."""
    name = [("display_name", "Name", "text")] if level == "practice" else []
    state = [("state", "State", "text")] if level != "state" else []
    if what == "hcpcs":
        measures = [
            ("event_count", "Events", "count"),
            ("allowed_amount", "Allowed", "money"),
            ("paid_amount", "Paid", "money"),
            ("events_per_clinician", "Events per clinician", "decimal"),
        ]
    else:
        measures = [
            ("claim_count", "Claims", "count"),
            ("drug_cost", "Cost", "money"),
            ("day_supply", "Days' supply", "count"),
            ("claims_per_clinician", "Claims per clinician", "decimal"),
        ]
    return [("geo_id", label, "text"), *name, *state, *measures, PCT]


TABLES: dict[str, Table] = {
    "procedures": Table(
        "Procedures",
        GEO,
        PROCEDURE_COLUMNS,
        lambda m, view, year: m.procedures_list(view.kind, view.key, year, False),
        api=_geo_api("procedures"),
        link=("hcpcs", "hcpcs_code"),
    ),
    "drugs": Table(
        "Part B drugs",
        GEO,
        PROCEDURE_COLUMNS,
        lambda m, view, year: m.procedures_list(view.kind, view.key, year, True),
        api=_geo_api("procedures", drugs="true"),
        link=("hcpcs", "hcpcs_code"),
    ),
    "prescriptions": Table(
        "Part D prescriptions",
        GEO,
        [
            ("generic_name", "Generic name", "text"),
            ("claim_count", "Claims", "count"),
            ("drug_cost", "Cost", "money"),
            ("cost_per_claim", "Cost per claim", "money2"),
            ("day_supply", "Days' supply", "count"),
            PCT,
        ],
        lambda m, view, year: m.prescriptions_list(view.kind, view.key, year),
        api=_geo_api("prescriptions"),
        link=("drug", "generic_name"),
    ),
    "providers": Table(
        "Providers here",
        GEO,
        [
            ("npi", "NPI", "text"),
            ("display_name", "Name", "text"),
            ("provider_type", "Provider type", "text"),
            ("primary_specialty", "Specialty", "text"),
            ("procedure_events", "Events", "count"),
            ("paid_amount", "Paid", "money"),
            ("prescription_claims", "Part D claims", "count"),
            ("drug_cost", "Drug cost", "money"),
            ("paid_pctile_state", "Paid percentile (state)", "pctile"),
        ],
        lambda m, view, year: m.geo_providers(view.kind, view.key, year, view.specialty),
        link=("npi", "npi"),
    ),
    "schools": Table(
        "Top medical schools",
        GEO,
        [
            ("medical_school", "Medical school", "text"),
            ("clinician_count", "Clinicians", "count"),
            PCT,
        ],
        lambda m, view, year: m.schools_list(view.kind, view.key, year),
        api=_geo_api("schools"),
    ),
    "hospitals": Table(
        "Hospital affiliations",
        ("practice",),
        [
            ("facility_ccn", "CCN", "text"),
            ("facility_type", "Type", "text"),
            ("facility_name", "Name", "text"),
            ("clinician_count", "Clinicians", "count"),
        ],
        lambda m, view, year: m.hospitals_list(view.key, year),
        api=lambda view, year: (f"practices/{view.key}/hospitals", {}),
    ),
    "provider-procedures": Table(
        "Procedures and Part B drugs",
        ("npi",),
        [
            ("hcpcs_code", "HCPCS", "text"),
            ("hcpcs_description", "Description", "text"),
            ("event_count", "Events", "count"),
            ("paid_amount", "Paid", "money"),
            ("paid_per_event", "Paid per event", "money2"),
            ("pct_of_provider", "% of provider", "pct"),
            ("events_pctile_code", "Percentile among the code's providers", "pctile"),
        ],
        lambda m, view, year: m.provider_procedures(view.key, year),
        api=lambda view, year: (f"providers/{view.key}/procedures", {}),
        link=("hcpcs", "hcpcs_code"),
    ),
    "provider-prescriptions": Table(
        "Part D drugs",
        ("npi",),
        [
            ("generic_name", "Generic name", "text"),
            ("claim_count", "Claims", "count"),
            ("drug_cost", "Cost", "money"),
            ("cost_per_claim", "Cost per claim", "money2"),
            ("day_supply", "Days' supply", "count"),
            ("pct_of_provider", "% of provider", "pct"),
        ],
        lambda m, view, year: m.provider_prescriptions(view.key, year),
        api=lambda view, year: (f"providers/{view.key}/prescriptions", {}),
        link=("drug", "generic_name"),
    ),
    "code-providers": Table(
        "Providers billing it",
        ("hcpcs",),
        [
            ("npi", "NPI", "text"),
            ("display_name", "Name", "text"),
            ("provider_type", "Provider type", "text"),
            ("state", "State", "text"),
            ("event_count", "Events", "count"),
            ("paid_amount", "Paid", "money"),
            ("events_pctile_code", "Percentile", "pctile"),
        ],
        lambda m, view, year: m.product_providers(PROCEDURE, view.key, year),
        api=lambda view, year: (f"procedures/{view.key}/providers", {}),
        link=("npi", "npi"),
    ),
    "drug-providers": Table(
        "Prescribers",
        ("drug",),
        [
            ("npi", "NPI", "text"),
            ("display_name", "Name", "text"),
            ("provider_type", "Provider type", "text"),
            ("state", "State", "text"),
            ("claim_count", "Claims", "count"),
            ("drug_cost", "Cost", "money"),
            ("day_supply", "Days' supply", "count"),
        ],
        lambda m, view, year: m.product_providers(DRUG, view.key, year),
        api=lambda view, year: (f"drugs/{quote(view.key, safe='')}/providers", {}),
        link=("npi", "npi"),
    ),
}
for _what, _product in PRODUCTS.items():
    _prefix = "code" if _what == "hcpcs" else "drug"
    for _level, _label, _title in (
        ("state", "State", "States"),
        ("zip", "ZIP", "ZIP codes"),
        ("practice", "PAC ID", "Practices"),
    ):
        TABLES[f"{_prefix}-{_level}s"] = Table(
            _title,
            (_what,),
            _places(_level, _label, _what),
            lambda m, view, year, kind=_product, level=_level: m.product_places(
                kind, view.key, year, level
            ),
            link=(_level, "geo_id"),
        )


def _per(row: dict, amount: str, count: str):
    value, n = row.get(amount), row.get(count)
    return None if value is None or not n else round(float(value) / float(n), 2)


DERIVED = {
    "paid_per_event": lambda r: _per(r, "paid_amount", "event_count"),
    "cost_per_claim": lambda r: _per(r, "drug_cost", "claim_count"),
    "events_per_clinician": lambda r: _per(r, "event_count", "clinician_count"),
    "claims_per_clinician": lambda r: _per(r, "claim_count", "clinician_count"),
}


def cells(columns, rows: list[dict]) -> list[dict]:
    """A table's rows as shown: numbers as numbers, shares to 2 decimals, the per-event,
    per-claim and per-clinician figures computed from the row."""

    def cell(row, key):
        if key in DERIVED:
            return DERIVED[key](row)
        value = row.get(key)
        if key.startswith("pct_of") and value is not None:
            return round(float(value), 2)
        return number(value)

    keys = [c[0] for c in columns]
    return [{key: cell(r, key) for key in keys} for r in rows]
