"""The page of one provider (an NPI) in one data year: who and where it is, its totals, where
it stands among the providers of its type (in its state and nationally, with a "top 10 %"
cue), its trend, its procedures with its percentile per code and its Part D drugs."""

from __future__ import annotations

from dash import dcc, html

from medidash.dashboard import formatting as f
from medidash.dashboard import layout
from medidash.dashboard.pages.common import series, table
from medidash.dashboard.queries import Marts
from medidash.dashboard.urlstate import View

ENTITY = {"I": "Individual", "O": "Organisation"}
TREND = [
    ("procedure_events", "Procedure events", "count"),
    ("paid_amount", "Medicare paid", "money"),
    ("prescription_claims", "Part D claims", "count"),
    ("drug_cost", "Part D cost", "money"),
]


def render(marts: Marts, view: View, year: int):
    p = marts.provider(view.key, year)
    if p is None:
        return layout.empty(f"No data for provider {view.key} in {year}.")
    where = [p["state"] or "–"]
    if p["zip5"]:
        where.append(dcc.Link(p["zip5"], href=f"?zip={p['zip5']}&year={year}"))
    facts = [
        ("NPI", p["npi"]),
        ("Entity", ENTITY.get(p["entity_type"], p["entity_type"] or "–")),
        ("Provider type", p["provider_type"] or "–"),
        ("Primary specialty", p["primary_specialty"] or "–"),
        ("Location", _joined(where)),
        ("Practices", _practices(marts, p, year)),
    ]
    sections = [
        html.H2(p["display_name"] or p["npi"], id="detail-title"),
        html.Dl(
            [item for label, value in facts for item in (html.Dt(label), html.Dd(value))],
            className="facts",
            id="provider-facts",
        ),
        layout.strip(
            [
                layout.figure("procedure events", f.count(p["procedure_events"]), "summary-events"),
                layout.figure("paid by Medicare", f.money(p["paid_amount"]), "summary-paid"),
                layout.figure("allowed", f.money(p["allowed_amount"]), "summary-allowed"),
                layout.figure("Part D claims", f.count(p["prescription_claims"]), "summary-claims"),
                layout.figure("Part D cost", f.money(p["drug_cost"]), "summary-cost"),
                layout.figure("MIPS score", f.decimal(p["mips_score"]), "summary-mips"),
                layout.figure("data year", str(year), "summary-year"),
            ]
        ),
        _peers(marts, p),
    ]
    trend = layout.trend(series(marts, marts.provider_series(view.key)), TREND, year)
    if trend is not None:
        sections.append(trend)
    sections += [
        table(marts, "provider-procedures", view, year),
        table(marts, "provider-prescriptions", view, year),
    ]
    hospitals = _hospitals(marts, p, year)
    if hospitals is not None:
        sections.append(hospitals)
    return html.Div(sections)


def _joined(parts: list) -> list:
    out = []
    for i, part in enumerate(parts):
        out += ([", "] if i else []) + [part]
    return out


def _practices(marts: Marts, p: dict, year: int):
    if not p["practice_ids"]:
        return "none listed"
    links = []
    for practice_id in p["practice_ids"]:
        summary = marts.summary("practice", practice_id, year)
        name = summary["display_name"] if summary else practice_id
        links.append(
            dcc.Link(f"{name} ({practice_id})", href=f"?practice={practice_id}&year={year}")
        )
    return _joined(links)


def _peers(marts: Marts, p: dict):
    """Percentile bars within the state and nationally, with each peer group's size, median
    and 90th percentile."""
    if p["provider_type"] is None:
        return layout.section(
            "Among peers", layout.empty("No provider type: no peer group (contract section 4).")
        )
    groups = marts.provider_peers(p)
    kind = p["provider_type"]

    def note(group: dict, show) -> str:
        if not group["providers"]:
            return "no peer with a value above 0"
        return (
            f"{group['providers']:,} {kind} providers with a value · median "
            f"{show(group['median'])} · top 10 % from {show(group['p90'])}"
        )

    bars = [
        layout.percentile_bar(
            f"Medicare paid among {kind} providers in {p['state']}",
            p["paid_pctile_state"],
            note(groups["paid_state"], f.money),
            "peer-paid-state",
        ),
        layout.percentile_bar(
            f"Medicare paid among {kind} providers nationally",
            p["paid_pctile_nation"],
            note(groups["paid_nation"], f.money),
            "peer-paid-nation",
        ),
        layout.percentile_bar(
            f"Part D claims among {kind} providers nationally",
            p["claims_pctile_nation"],
            note(groups["claims_nation"], f.count),
            "peer-claims-nation",
        ),
    ]
    return layout.section(
        "Among peers of the same provider type", html.Div(bars, className="peers")
    )


def _hospitals(marts: Marts, p: dict, year: int):
    items = []
    for practice_id in p["practice_ids"] or []:
        for h in marts.hospitals(practice_id, year, limit=20):
            items.append(
                html.Li(
                    [
                        f"{h['facility_name'] or h['facility_type'] or 'Facility'} "
                        f"(CCN {h['facility_ccn']}) via ",
                        dcc.Link(practice_id, href=f"?practice={practice_id}&year={year}"),
                    ]
                )
            )
    if not items:
        return None
    return layout.section("Hospitals of its practices", html.Ul(items, id="provider-hospitals"))
