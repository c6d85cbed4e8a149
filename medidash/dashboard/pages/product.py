"""The page of one HCPCS code (`?hcpcs=`) or one Part D generic drug (`?drug=`) in one data
year: its national figures, its trend, and the states, ZIP codes, practices and providers that
bill or prescribe it (the map above shows it by state)."""

from __future__ import annotations

from dash import html

from medidash.dashboard import formatting as f
from medidash.dashboard import layout
from medidash.dashboard.pages.common import series, table
from medidash.dashboard.queries import DRUG, PROCEDURE, Marts, Product
from medidash.dashboard.urlstate import View

CODE_TREND = [
    ("event_count", "Events", "count"),
    ("paid_amount", "Paid", "money"),
    ("allowed_amount", "Allowed", "money"),
]
DRUG_TREND = [
    ("claim_count", "Claims", "count"),
    ("drug_cost", "Cost", "money"),
    ("day_supply", "Days' supply", "count"),
]


def render_code(marts: Marts, view: View, year: int):
    code = marts.product(PROCEDURE, view.key, year)
    if code is None:
        return layout.empty(f"No data for HCPCS code {view.key} in {year}.")
    kind = "Part B drug" if code["is_drug"] else "Procedure"
    sections = [
        html.H2(
            [
                f"HCPCS {code['hcpcs_code']}: {code['hcpcs_description'] or '–'} ",
                html.Span(kind, className="badge-kind"),
            ],
            id="detail-title",
        ),
        layout.strip(
            [
                layout.figure("events", f.count(code["event_count"]), "summary-events"),
                layout.figure("service units", f.decimal(code["service_units"]), "summary-units"),
                layout.figure("allowed", f.money(code["allowed_amount"]), "summary-allowed"),
                layout.figure("paid by Medicare", f.money(code["paid_amount"]), "summary-paid"),
                layout.figure(
                    "paid per event",
                    f.money(f.ratio(code["paid_amount"], code["event_count"])),
                    "summary-paid-per-event",
                ),
                layout.figure("data year", str(year), "summary-year"),
            ]
        ),
    ]
    return _page(marts, PROCEDURE, view, year, sections, CODE_TREND, "code")


def render_drug(marts: Marts, view: View, year: int):
    drug = marts.product(DRUG, view.key, year)
    if drug is None:
        return layout.empty(f"No data for drug {view.key} in {year}.")
    sections = [
        html.H2(
            [f"{drug['generic_name']} ", html.Span("Part D drug", className="badge-kind")],
            id="detail-title",
        ),
        layout.strip(
            [
                layout.figure("claims", f.count(drug["claim_count"]), "summary-claims"),
                layout.figure("cost", f.money(drug["drug_cost"]), "summary-cost"),
                layout.figure(
                    "cost per claim",
                    f.money(f.ratio(drug["drug_cost"], drug["claim_count"])),
                    "summary-cost-per-claim",
                ),
                layout.figure("days' supply", f.count(drug["day_supply"]), "summary-days"),
                layout.figure("data year", str(year), "summary-year"),
            ]
        ),
    ]
    return _page(marts, DRUG, view, year, sections, DRUG_TREND, "drug")


def _page(marts: Marts, kind: Product, view: View, year: int, head: list, trend_spec, prefix):
    """A code's or a drug's page: its head, its national trend, then the states, ZIP codes,
    practices and providers that bill or prescribe it."""
    sections = list(head)
    trend = layout.trend(
        series(marts, marts.product_series(kind, view.key, "nation", "US")), trend_spec, year
    )
    if trend is not None:
        sections.append(trend)
    sections += [
        table(marts, f"{prefix}-{places}", view, year)
        for places in ("states", "zips", "practices", "providers")
    ]
    return html.Div(sections)
