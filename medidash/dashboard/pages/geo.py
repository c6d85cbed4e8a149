"""The page of one geography (the nation, a state, a ZIP code or a practice) in one data year:
its summary, its figures against its state and the nation as fair rates (per clinician, per
provider), its trend, its ranked tables (each code, drug and provider opening its own page),
its specialties (a click filters its provider list) and for a practice its hospitals."""

from __future__ import annotations

from dash import html

from medidash.dashboard import formatting as f
from medidash.dashboard import layout
from medidash.dashboard.pages.common import series, table
from medidash.dashboard.queries import Marts
from medidash.dashboard.urlstate import View

NOUNS = {"nation": "nation", "state": "state", "zip": "ZIP code", "practice": "practice"}
TREND = [
    ("procedure_events", "Procedure events", "count"),
    ("paid_amount", "Medicare paid", "money"),
    ("prescription_claims", "Prescription claims", "count"),
    ("drug_cost", "Part D cost", "money"),
    ("clinician_count", "Clinicians", "count"),
]


def render(marts: Marts, view: View, year: int):
    level, geo_id = view.kind, view.key
    summary = marts.summary(level, geo_id, year)
    noun = NOUNS[level]
    if summary is None:
        return layout.empty(f"No data for {noun} {geo_id} in {year}.")
    if level == "nation":
        title = "United States (all providers)"
    elif level == "practice":
        title = f"Practice {summary['display_name']} ({geo_id}, {summary['state']})"
    else:
        title = f"{noun.capitalize()} {geo_id}"
    sections = [
        html.H2(title, id="detail-title"),
        _strip(summary, year),
        _comparison(marts, summary, year),
    ]
    trend = layout.trend(series(marts, marts.geo_series(level, geo_id)), TREND, year)
    if trend is not None:
        sections.append(trend)
    specialties = marts.specialties(level, geo_id, year)
    sections += [
        table(marts, "procedures", view, year),
        table(marts, "drugs", view, year),
        table(marts, "prescriptions", view, year),
        layout.section(
            "Specialties",
            html.Div(
                [
                    html.P("Click a specialty to list its providers below.", className="hint"),
                    layout.treemap(specialties),
                ]
            )
            if specialties
            else layout.empty("No clinicians listed here."),
        ),
        table(
            marts,
            "providers",
            view,
            year,
            title=f"Providers here: {view.specialty.title()}" if view.specialty else None,
        ),
        table(marts, "schools", view, year),
    ]
    if level == "practice":
        sections.append(table(marts, "hospitals", view, year))
    return html.Div(sections)


def _strip(summary: dict, year: int):
    return layout.strip(
        [
            layout.figure("clinicians", f.count(summary["clinician_count"]), "summary-clinicians"),
            layout.figure("providers", f.count(summary["provider_count"]), "summary-providers"),
            layout.figure(
                "procedure events", f.count(summary["procedure_events"]), "summary-events"
            ),
            layout.figure("paid by Medicare", f.money(summary["paid_amount"]), "summary-paid"),
            layout.figure(
                "prescription claims", f.count(summary["prescription_claims"]), "summary-claims"
            ),
            layout.figure("Part D cost", f.money(summary["drug_cost"]), "summary-cost"),
            layout.figure("average MIPS", f.decimal(summary["avg_mips_score"]), "summary-mips"),
            layout.figure("data year", str(year), "summary-year"),
        ]
    )


def _per(row: dict | None, key: str, per: str):
    if not row:
        return None
    return f.ratio(row[key], row[per])


# (label, numerator, denominator or None for a raw figure, how it is shown)
COMPARED = [
    ("Clinicians", "clinician_count", None, f.count),
    ("Providers", "provider_count", None, f.count),
    ("Procedure events per clinician", "procedure_events", "clinician_count", f.decimal),
    ("Procedure events per provider", "procedure_events", "provider_count", f.decimal),
    ("Medicare paid per provider", "paid_amount", "provider_count", f.money),
    ("Prescription claims per clinician", "prescription_claims", "clinician_count", f.decimal),
    ("Part D cost per provider", "drug_cost", "provider_count", f.money),
    ("Average MIPS score", "avg_mips_score", None, f.decimal),
]


def _comparison(marts: Marts, summary: dict, year: int):
    """The geography's rates beside its state's (a ZIP or a practice) and the nation's, and
    its ratio to the nation."""
    level = summary["geo_level"]
    nation = marts.summary("nation", "US", year) if level != "nation" else None
    state = None
    if level in ("zip", "practice") and summary["state"]:
        state = marts.summary("state", summary["state"], year)
    rows = []
    for label, key, per, show in COMPARED:
        value = summary[key] if per is None else _per(summary, key, per)
        row = [label, show(value)]
        if level in ("zip", "practice"):
            row.append(show(state[key] if per is None else _per(state, key, per)) if state else "–")
        if nation is not None:
            national = nation[key] if per is None else _per(nation, key, per)
            row.append(show(national))
            row.append(
                f.times(value, national) if per is not None or key == "avg_mips_score" else "–"
            )
        rows.append(tuple(row))
    here = {"nation": "US", "state": summary["geo_id"], "zip": "ZIP", "practice": "Practice"}
    columns = [here[level]]
    if level in ("zip", "practice"):
        columns.append(summary["state"] or "State")
    if nation is not None:
        columns += ["US", "× US"]
    if level == "nation":
        return layout.comparison("National figures", columns, rows, "comparison-table")
    against = " and ".join(
        ([summary["state"]] if level in ("zip", "practice") and summary["state"] else [])
        + ["the US"]
    )
    return layout.comparison(f"Compared with {against}", columns, rows, "comparison-table")
