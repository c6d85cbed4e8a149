"""The page of one geography (state, ZIP code or practice) in one data year: its summary, its
ranked tables, its specialties, and for a practice its state beside it."""

from __future__ import annotations

from dash import html

from medidash.dashboard.layout import empty, fmt, section, table, treemap
from medidash.dashboard.queries import Marts
from medidash.dashboard.tables import TABLES

NOUNS = {"state": "state", "zip": "ZIP code", "practice": "practice"}


def render(marts: Marts, level: str, geo_id: str, year: int):
    summary = marts.summary(level, geo_id, year)
    noun = NOUNS[level]
    if summary is None:
        return empty(f"No data for {noun} {geo_id} in {year}.")
    title = summary["display_name"] if level == "practice" else geo_id
    strip = html.Div(
        [
            html.Div(
                [html.Strong(fmt(summary["clinician_count"])), " clinicians"],
                id="summary-clinicians",
            ),
            html.Div(
                [html.Strong(fmt(summary["procedure_events"])), " procedure events"],
                id="summary-events",
            ),
            html.Div(
                [html.Strong(fmt(summary["prescription_claims"])), " prescription claims"],
                id="summary-claims",
            ),
            html.Div(
                [html.Strong(fmt(summary["avg_mips_score"], 1)), " average MIPS"],
                id="summary-mips",
            ),
            html.Div([html.Strong(str(year)), " data year"], id="summary-year"),
        ],
        className="summary-strip",
    )
    sections = [
        html.H2(
            f"{noun.capitalize()} {title}"
            + (f" ({geo_id}, {summary['state']})" if level == "practice" else ""),
            id="detail-title",
        ),
        strip,
    ]
    if level == "practice":
        sections.append(_comparison(marts, summary, year))
    specialties = marts.specialties(level, geo_id, year)

    def ranked(name):
        return section(TABLES[name][0], table(name, level, geo_id, year, marts))

    sections += [
        ranked("procedures"),
        ranked("drugs"),
        ranked("prescriptions"),
        section(
            "Specialties",
            treemap(specialties) if specialties else empty("No clinicians listed here."),
        ),
        ranked("schools"),
    ]
    if level == "practice":
        sections.append(ranked("hospitals"))
    return html.Div(sections)


def _comparison(marts: Marts, practice: dict, year: int):
    state = marts.summary("state", practice["state"], year) if practice["state"] else None

    def per_clinician(row, key):
        if not row or not row["clinician_count"]:
            return "–"
        return fmt(row[key] / row["clinician_count"], 1)

    rows = [
        (
            "Clinicians",
            fmt(practice["clinician_count"]),
            fmt(state["clinician_count"]) if state else "–",
        ),
        (
            "Procedure events per clinician",
            per_clinician(practice, "procedure_events"),
            per_clinician(state, "procedure_events"),
        ),
        (
            "Prescription claims per clinician",
            per_clinician(practice, "prescription_claims"),
            per_clinician(state, "prescription_claims"),
        ),
        (
            "Average MIPS score",
            fmt(practice["avg_mips_score"], 1),
            fmt(state["avg_mips_score"], 1) if state else "–",
        ),
    ]
    return section(
        f"Compared with {practice['state'] or 'its state'}",
        html.Table(
            [html.Tr([html.Th(""), html.Th("Practice"), html.Th(practice["state"] or "State")])]
            + [html.Tr([html.Td(a), html.Td(b), html.Td(c)]) for a, b, c in rows],
            id="comparison-table",
        ),
    )
