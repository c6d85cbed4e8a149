"""The page's fixed frame (header, controls, map, detail area) and the building blocks every
page section is made of (cards, tables, empty states, the map and the treemap)."""

from __future__ import annotations

from urllib.parse import urlencode

import plotly.graph_objects as go
from dash import dash_table, dcc, html

from medidash.dashboard.queries import MEASURES
from medidash.dashboard.tables import TABLES, cells

GRAPH_CONFIG = {"topojsonURL": "/assets/topojson/", "displaylogo": False}


def fmt(value, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{float(value):,.{digits}f}"


def page() -> html.Div:
    """The whole page: what stays while the URL changes."""
    return html.Div(
        [
            dcc.Location(id="url", refresh=False),
            html.Header(
                [
                    html.H1("MediDash"),
                    html.Span(id="refresh-info", className="refresh-info"),
                    html.A("dbt docs", href="/docs", className="nav-link"),
                    html.A("API", href="/api/v1/openapi.json", className="nav-link"),
                ]
            ),
            html.Div(
                [
                    html.Label("Data year", htmlFor="year"),
                    dcc.Dropdown(id="year", clearable=False, style={"width": 120}),
                    html.Label("Map measure", htmlFor="measure"),
                    dcc.Dropdown(
                        id="measure",
                        options=[{"label": label, "value": key} for key, label in MEASURES.items()],
                        value="procedure_events",
                        clearable=False,
                        style={"width": 240},
                    ),
                    html.Label("ZIP code", htmlFor="zip-input"),
                    dcc.Input(
                        id="zip-input",
                        type="text",
                        maxLength=10,
                        debounce=True,
                        placeholder="e.g. 94110",
                    ),
                    html.Button("Show ZIP", id="zip-button"),
                    html.Label("Practice", htmlFor="practice-search"),
                    dcc.Dropdown(
                        id="practice-search",
                        placeholder="Name or PAC ID…",
                        searchable=True,
                        style={"width": 360},
                    ),
                ],
                className="controls",
            ),
            dcc.Graph(id="us-map", config=GRAPH_CONFIG),
            html.Div(id="input-error", className="input-error"),
            html.Div(id="detail"),
        ],
        className="page",
    )


def section(title: str, body) -> html.Div:
    return html.Div([html.H3(title), body], className="card")


def empty(message: str) -> html.Div:
    return html.Div(message, className="empty-state")


def table(name: str, level: str, geo_id: str, year: int, marts) -> html.Div:
    """Table `name` of TABLES for one geography and year, with its CSV download link (the
    server writes the file, formula cells neutralised, never the browser)."""
    _, columns, fetch = TABLES[name]
    data = cells(columns, fetch(marts, level, geo_id, year))
    href = f"/download/{name}?" + urlencode({level: geo_id, "year": year})
    return html.Div(
        [
            html.A("Export CSV", href=href, download=f"{name}.csv", className="export"),
            dash_table.DataTable(
                id=f"{name}-table-data",
                columns=[{"name": label, "id": key} for key, label in columns],
                data=data,
                page_size=15,
                sort_action="native",
                style_table={"overflowX": "auto"},
                style_cell={
                    "fontFamily": "system-ui, sans-serif",
                    "fontSize": 13,
                    "textAlign": "left",
                    "maxWidth": 360,
                    "whiteSpace": "normal",
                },
                style_header={"fontWeight": "600"},
            ),
        ],
        id=f"{name}-table",
    )


def map_figure(rows: list[dict], measure: str, selected: str | None) -> go.Figure:
    fig = go.Figure(
        go.Choropleth(
            locations=[r["state"] for r in rows],
            z=[float(r[measure]) if r[measure] is not None else None for r in rows],
            locationmode="USA-states",
            colorscale="Blues",
            colorbar={"title": {"text": MEASURES[measure]}},
            hovertemplate="%{location}: %{z:,.1f}<extra></extra>",
            marker_line_color=["#d62728" if r["state"] == selected else "white" for r in rows],
            marker_line_width=[3 if r["state"] == selected else 0.5 for r in rows],
        )
    )
    fig.update_layout(geo={"scope": "usa"}, margin={"l": 0, "r": 0, "t": 10, "b": 0}, height=420)
    return fig


def treemap(rows: list[dict]) -> dcc.Graph:
    fig = go.Figure(
        go.Treemap(
            labels=[r["specialty"] for r in rows],
            parents=[""] * len(rows),
            values=[r["clinician_count"] for r in rows],
            textinfo="label+value+percent root",
        )
    )
    fig.update_layout(margin={"l": 0, "r": 0, "t": 0, "b": 0}, height=360)
    return dcc.Graph(id="specialty-treemap", figure=fig, config=GRAPH_CONFIG)
