"""The page's fixed frame (header with the provider search, the search controls, the map and
the detail area) and the building blocks every page is made of (cards, tables with their full
export, summary figures, percentile bars, trend charts, empty states)."""

from __future__ import annotations

import plotly.graph_objects as go
from dash import dash_table, dcc, html

from medidash.dashboard import formatting as f

GRAPH_CONFIG = {"topojsonURL": "/assets/topojson/", "displaylogo": False, "responsive": True}

# map measure -> (label, kind); the rates divide by clinician_count / provider_count
MAP_MEASURES = {
    "procedure_events": ("Procedure events", "count"),
    "paid_amount": ("Medicare paid (Part B)", "money"),
    "prescription_claims": ("Prescription claims", "count"),
    "drug_cost": ("Part D drug cost", "money"),
    "clinician_count": ("Clinicians", "count"),
    "provider_count": ("Providers", "count"),
    "avg_mips_score": ("Average MIPS score", "decimal"),
}
# measures a rate makes no sense for (a count of the denominators, a score)
NOT_RATES = ("clinician_count", "provider_count", "avg_mips_score")
RATES = {
    "total": "Total",
    "per_clinician": "Per clinician",
    "per_provider": "Per provider",
}
DENOMINATORS = {"per_clinician": "clinician_count", "per_provider": "provider_count"}
# a code's or a drug's map: its own measures
CODE_MEASURES = {"event_count": "Events", "paid_amount": "Paid"}
DRUG_MEASURES = {"claim_count": "Claims", "drug_cost": "Cost"}

TABLE_STYLE = {
    "style_table": {"overflowX": "auto"},
    "style_cell": {
        "fontFamily": "system-ui, sans-serif",
        "fontSize": 13,
        "textAlign": "left",
        "maxWidth": 360,
        "whiteSpace": "normal",
        "padding": "4px 8px",
    },
    "style_header": {"fontWeight": "600"},
}


def _control(label: str, control, for_id: str) -> html.Div:
    return html.Div([html.Label(label, htmlFor=for_id), control], className="control")


def page() -> html.Div:
    """The whole page: what stays while the URL changes."""
    return html.Div(
        [
            dcc.Location(id="url", refresh=False),
            # the last query string `_navigate` wrote (callbacks tell it from a typed URL)
            dcc.Store(id="pushed"),
            html.Header(
                [
                    html.H1(html.A("MediDash", href="/", className="home")),
                    html.Div(
                        [
                            dcc.Dropdown(
                                id="provider-search",
                                placeholder="Provider: name or NPI…",
                                searchable=True,
                                className="provider-search",
                            ),
                            dcc.Dropdown(
                                id="provider-state",
                                placeholder="State",
                                searchable=True,
                                className="provider-state",
                            ),
                            dcc.Dropdown(
                                id="provider-type",
                                placeholder="Provider type",
                                searchable=True,
                                className="provider-type",
                            ),
                        ],
                        className="header-search",
                        role="search",
                    ),
                    html.Nav(
                        [
                            html.A("dbt docs", href="/docs", className="nav-link"),
                            html.A("API", href="/api/v1/openapi.json", className="nav-link"),
                        ]
                    ),
                ]
            ),
            html.Div(id="refresh-info", className="refresh-info"),
            html.Div(
                [
                    _control(
                        "Data year",
                        dcc.Dropdown(id="year", clearable=False, className="year"),
                        "year",
                    ),
                    _control(
                        "ZIP code",
                        html.Div(
                            [
                                dcc.Input(
                                    id="zip-input",
                                    type="text",
                                    maxLength=10,
                                    debounce=True,
                                    placeholder="e.g. 94110",
                                ),
                                html.Button("Show ZIP", id="zip-button"),
                            ],
                            className="zip-box",
                        ),
                        "zip-input",
                    ),
                    _control(
                        "Practice",
                        dcc.Dropdown(
                            id="practice-search",
                            placeholder="Name or PAC ID…",
                            searchable=True,
                            className="practice-search",
                        ),
                        "practice-search",
                    ),
                    _control(
                        "Procedure or drug",
                        dcc.Dropdown(
                            id="code-search",
                            placeholder="HCPCS code, description or generic name…",
                            searchable=True,
                            className="code-search",
                        ),
                        "code-search",
                    ),
                ],
                className="controls",
            ),
            html.Div(
                [
                    html.Div(
                        [
                            _control(
                                "Map",
                                dcc.Dropdown(
                                    id="measure",
                                    options=[
                                        {"label": label, "value": key}
                                        for key, (label, _) in MAP_MEASURES.items()
                                    ],
                                    value="procedure_events",
                                    clearable=False,
                                    className="measure",
                                ),
                                "measure",
                            ),
                            dcc.RadioItems(
                                id="rate",
                                options=[{"label": v, "value": k} for k, v in RATES.items()],
                                value="total",
                                inline=True,
                                className="rate",
                            ),
                        ],
                        className="map-controls",
                    ),
                    dcc.Graph(id="us-map", config=GRAPH_CONFIG),
                ],
                className="map-card",
            ),
            html.Div(id="input-error", className="input-error", role="alert"),
            html.Div(id="detail"),
        ],
        className="page",
    )


def section(title: str, body, id: str | None = None) -> html.Div:
    kwargs = {"id": id} if id else {}
    return html.Div([html.H3(title), body], className="card", **kwargs)


def empty(message: str) -> html.Div:
    return html.Div(message, className="empty-state")


def figure(label: str, value: str, id: str | None = None, note: str | None = None) -> html.Div:
    """One figure of a summary strip: the number in bold, then what it counts."""
    children = [html.Strong(value), " " + label]
    if note:
        children.append(html.Span(note, className="figure-note"))
    return html.Div(children, **({"id": id} if id else {}))


def strip(figures: list) -> html.Div:
    return html.Div(figures, className="summary-strip")


def data_table(
    name: str,
    columns: list[tuple[str, str, str]],
    rows: list[dict],
    export_href: str | None = None,
    link: tuple[str, str] | None = None,
    total: int | None = None,
    page_size: int = 15,
    sort_by: list[dict] | None = None,
    page_current: int = 0,
) -> html.Div:
    """A sortable table (numbers sort as numbers) with the link to its whole list as CSV,
    shown in order `sort_by` at page `page_current` (from 0). Its id is a pattern the
    navigation callback listens to: the table's sort and page go into the URL. With `link` =
    (URL parameter, key), a click on that column's cell opens the row's page: the row's id is
    the page's key."""
    shown = [dict(r) for r in rows]
    style = dict(TABLE_STYLE)
    if link:
        for r in shown:
            r["id"] = r.get(link[1])
        style["style_data_conditional"] = [
            {
                "if": {"column_id": link[1]},
                "color": "#0b5cad",
                "textDecoration": "underline",
                "cursor": "pointer",
            }
        ]
    head = []
    if total is not None and total > len(rows):
        head.append(html.Span(f"top {len(rows):,} of {total:,}", className="table-count"))
    if export_href:
        head.append(
            html.A("Export all (CSV)", href=export_href, download=f"{name}.csv", className="export")
        )
    return html.Div(
        [
            html.Div(head, className="table-head"),
            dash_table.DataTable(
                id={"type": "table", "name": name, "param": link[0] if link else ""},
                columns=[f.column(key, label, kind) for key, label, kind in columns],
                data=shown,
                page_size=page_size,
                page_current=page_current,
                sort_action="native",
                sort_by=sort_by or [],
                cell_selectable=bool(link),
                **style,
            ),
        ],
        id=f"{name}-table",
        className="table-block",
    )


def choropleth(
    states: list[str],
    values: list,
    title: str,
    selected: str | None = None,
    kind: str = "count",
) -> go.Figure:
    """A map of the states, `selected` outlined."""
    hover = {"money": "$%{z:,.2f}", "count": "%{z:,.1f}", "decimal": "%{z:,.1f}"}[
        "money" if kind == "money" else "count"
    ]
    fig = go.Figure(
        go.Choropleth(
            locations=states,
            z=[float(v) if v is not None else None for v in values],
            locationmode="USA-states",
            colorscale="Blues",
            colorbar={"title": {"text": title}, "thickness": 12},
            hovertemplate="%{location}: " + hover + "<extra></extra>",
            marker_line_color=["#d62728" if s == selected else "white" for s in states],
            marker_line_width=[3 if s == selected else 0.5 for s in states],
        )
    )
    fig.update_layout(
        geo={"scope": "usa"}, margin={"l": 0, "r": 0, "t": 10, "b": 0}, height=400, autosize=True
    )
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
    # a pattern-matching id: the navigation callback listens to it on the pages that have it
    return html.Div(
        dcc.Graph(id={"type": "treemap", "name": "specialties"}, figure=fig, config=GRAPH_CONFIG),
        id="specialty-treemap",
    )


def percentile_bar(label: str, pctile, note: str, id: str) -> html.Div:
    """A provider's place among its peers: a bar filled to its percentile, the 90th marked,
    and a "Top 10 %" badge at or above it."""
    value = None if pctile is None else float(pctile)
    badge = []
    if value is not None and value >= 90:
        badge = [html.Span("Top 10 %", className="badge-top")]
    return html.Div(
        [
            html.Div([html.Span(label, className="pctile-label"), *badge], className="pctile-head"),
            html.Div(
                [
                    html.Div(className="pctile-fill", style={"width": f"{value or 0:.1f}%"}),
                    html.Div(className="pctile-p90"),
                ],
                className="pctile-track",
                role="img",
                **{"aria-label": f"{label}: percentile {f.decimal(value)}"},
            ),
            html.Div(
                [
                    html.Strong("–" if value is None else f"{value:.1f}", className="pctile-value"),
                    " percentile · " + note,
                ],
                className="pctile-note",
            ),
        ],
        id=id,
        className="pctile",
    )


def trend(
    series: list[dict], measures: list[tuple[str, str, str]], year: int, id: str = "trend"
) -> html.Div | None:
    """The series of a page's main figures over the loaded years, with the change of each
    from the previous loaded year at the page's year; None with a single year."""
    if len(series) < 2:
        return None
    years = [r["data_year"] for r in series]
    current = next((r for r in series if r["data_year"] == year), series[-1])
    previous = next((r for r in reversed(series) if r["data_year"] < current["data_year"]), None)
    fig = go.Figure()
    for key, label, _ in measures:
        fig.add_trace(
            go.Scatter(
                x=years,
                y=[f.number(r.get(key)) for r in series],
                name=label,
                mode="lines+markers",
                yaxis="y2" if _kind(measures, key) == "money" else "y",
            )
        )
    fig.update_layout(
        height=260,
        margin={"l": 40, "r": 50, "t": 10, "b": 30},
        xaxis={"tickmode": "array", "tickvals": years, "tickformat": "d"},
        yaxis={"title": "count", "rangemode": "tozero"},
        yaxis2={
            "title": "$",
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
            "showgrid": False,
        },
        legend={"orientation": "h", "y": -0.2},
    )
    rows = []
    for key, label, kind in measures:
        now = current.get(key)
        before = previous.get(key) if previous else None
        show = f.money if kind == "money" else (f.decimal if kind == "decimal" else f.count)
        rows.append(
            html.Tr(
                [
                    html.Td(label),
                    html.Td(show(before)),
                    html.Td(show(now)),
                    html.Td(f.change(now, before), className=f"change change-{key}"),
                ]
            )
        )
    before_year = previous["data_year"] if previous else "–"
    table = html.Table(
        [
            html.Tr(
                [
                    html.Th(""),
                    html.Th(str(before_year)),
                    html.Th(str(current["data_year"])),
                    html.Th("Change"),
                ]
            ),
            *rows,
        ],
        className="trend-table",
    )
    return section(
        "Trend over the loaded years",
        html.Div(
            [dcc.Graph(figure=fig, config=GRAPH_CONFIG, className="trend-graph"), table],
            className="trend",
        ),
        id=id,
    )


def _kind(measures, key) -> str:
    return next(kind for k, _, kind in measures if k == key)


def comparison(title: str, columns: list[str], rows: list[tuple], id: str) -> html.Div:
    """A table of figures side by side (this page, its state, the nation, the ratio)."""
    return section(
        title,
        html.Table(
            [html.Tr([html.Th(""), *[html.Th(c) for c in columns]])]
            + [html.Tr([html.Td(cell) for cell in row]) for row in rows],
            id=id,
            className="comparison",
        ),
    )
