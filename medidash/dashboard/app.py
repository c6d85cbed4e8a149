"""The Dash application: layout, callbacks and the Flask server it runs on.

One page, three lookups, every view addressable by URL (`?state=CA`, `?zip=94110`,
`?practice=0840459889`, optionally `&year=2023`): a click on the map, a ZIP or a practice
chosen in the search box only rewrites the URL, and the URL alone decides what is shown.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlencode

import dash
import plotly.graph_objects as go
from dash import Dash, Input, Output, State, dash_table, dcc, html
from flask import abort, request, send_file

from medidash import settings
from medidash.dashboard import exports, security
from medidash.dashboard import validation as v
from medidash.dashboard.api import api
from medidash.dashboard.queries import MEASURES, Marts

ASSETS = Path(__file__).resolve().parent / "assets"
GRAPH_CONFIG = {"topojsonURL": "/assets/topojson/", "displaylogo": False}


def _fmt(value, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{float(value):,.{digits}f}"


PCT = ("pct_of_geo", "% of geography")
# The detail page's tables: name -> (title, columns, rows for (marts, level, geo_id, year)).
# The page and its CSV downloads (`/download/<name>`) both read them from here, so a download
# holds exactly the rows and columns the table shows.
TABLES = {
    "procedures": (
        "Procedures",
        [
            ("hcpcs_code", "HCPCS"),
            ("hcpcs_description", "Description"),
            ("event_count", "Events"),
            PCT,
        ],
        lambda marts, level, geo_id, year: marts.procedures(level, geo_id, year, False),
    ),
    "drugs": (
        "Part B drugs",
        [
            ("hcpcs_code", "HCPCS"),
            ("hcpcs_description", "Description"),
            ("event_count", "Events"),
            PCT,
        ],
        lambda marts, level, geo_id, year: marts.procedures(level, geo_id, year, True),
    ),
    "prescriptions": (
        "Part D prescriptions",
        [("generic_name", "Generic name"), ("claim_count", "Claims"), PCT],
        lambda marts, level, geo_id, year: marts.prescriptions(level, geo_id, year),
    ),
    "schools": (
        "Top medical schools",
        [("medical_school", "Medical school"), ("clinician_count", "Clinicians"), PCT],
        lambda marts, level, geo_id, year: marts.schools(level, geo_id, year),
    ),
    "hospitals": (  # practices only
        "Hospital affiliations",
        [
            ("facility_ccn", "CCN"),
            ("facility_type", "Type"),
            ("facility_name", "Name"),
            ("clinician_count", "Clinicians"),
        ],
        lambda marts, level, geo_id, year: marts.hospitals(geo_id, year),
    ),
}


def _cells(columns: list[tuple[str, str]], rows: list[dict]) -> list[dict]:
    """A table's rows as shown: shares rounded to 2 decimals, numerics as floats."""

    def cell(key, value):
        if key == "pct_of_geo" and value is not None:
            return round(float(value), 2)
        return float(value) if isinstance(value, Decimal) else value

    return [{key: cell(key, r[key]) for key, _ in columns} for r in rows]


def _table(name: str, level: str, geo_id: str, year: int, marts: Marts) -> html.Div:
    """Table `name` of TABLES for one geography and year, with its CSV download link (the
    server writes the file, formula cells neutralised, never the browser)."""
    _, columns, fetch = TABLES[name]
    data = _cells(columns, fetch(marts, level, geo_id, year))
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


def _section(title: str, body) -> html.Div:
    return html.Div([html.H3(title), body], className="card")


def _empty(message: str) -> html.Div:
    return html.Div(message, className="empty-state")


def _map_figure(rows: list[dict], measure: str, selected: str | None) -> go.Figure:
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


def _treemap(rows: list[dict]) -> dcc.Graph:
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


def _selection(search: str) -> tuple[str | None, str | None, int | None, str | None]:
    """(level, id, year, error) from the URL's query string (the browser sends it: any value)."""
    if search is not None and not isinstance(search, str):
        return None, None, None, "not a query string"
    query = parse_qs((search or "").lstrip("?"))
    try:
        year = v.year((query.get("year") or [None])[0])
        for level in ("practice", "zip", "state"):
            if level in query:
                return (*v.geo(level, query[level][0]), year, None)
        return None, None, year, None
    except v.InvalidInput as error:
        return None, None, None, str(error)


def _clicked_state(click) -> str:
    """The state code of a map click (the browser sends the event: any shape)."""
    try:
        return click["points"][0]["location"]
    except (KeyError, IndexError, TypeError):
        return ""


def _inline_script_hashes(page: bytes) -> list[str]:
    """The CSP source of every inline script of an HTML page, quoted: 'sha256-…'."""
    import base64
    import hashlib
    import re

    bodies = re.findall(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", page, re.S)
    return [f"'sha256-{base64.b64encode(hashlib.sha256(b).digest()).decode()}'" for b in bodies]


def create_app(database_url: str, rate_limit: tuple[float, int] | None = (20.0, 60)) -> Dash:
    marts = Marts(database_url)
    app = Dash(
        __name__,
        title="MediDash",
        assets_folder=str(ASSETS),
        serve_locally=True,
        suppress_callback_exceptions=True,
        update_title=None,
    )
    server = app.server
    server.extensions["medidash_marts"] = marts
    server.register_blueprint(api)

    @server.get("/docs")
    @server.get("/docs/")
    def docs():
        page = settings.DBT_PROJECT_DIR / "target" / "static_index.html"
        if page.exists():
            response = send_file(page, mimetype="text/html")
            # dbt's page is one JS app in an inline script: allow exactly that script's hash
            # (the dashboard's policy would block it and leave the page blank)
            response.headers["Content-Security-Policy"] = security.content_security_policy(
                _inline_script_hashes(page.read_bytes())
            )
            return response
        return (
            "<!doctype html><title>dbt docs</title><h1>dbt docs are not generated yet</h1>"
            "<p>They are generated by every pipeline run (or <code>medidash docs</code>).</p>",
            404,
        )

    known = ("/_dash", "/_favicon", "/assets/", "/api/", "/docs", "/download/", "/healthz")

    @server.before_request
    def _only_known_paths():
        # Dash would answer every path with its page; this app has one page and query strings
        if request.path != "/" and not request.path.startswith(known):
            abort(404)

    @server.get("/download/<name>")
    def download(name):
        """Table `name` of the view the query string names (`?zip=94110&year=2023`), as the
        CSV file a spreadsheet opens."""
        if name not in TABLES:
            abort(404)
        level, geo_id, year, error = _selection("?" + request.query_string.decode("latin-1"))
        if error or level is None:
            message = f"Invalid link: {error or 'no state, zip or practice given'}"
            return message, 400, {"Content-Type": "text/plain; charset=utf-8"}
        if name == "hospitals" and level != "practice":
            abort(404)
        with marts.consistent() as view:
            year = view.resolve_year(year)
            if year is None or view.summary(level, geo_id, year) is None:
                abort(404)
            _, columns, fetch = TABLES[name]
            rows = _cells(columns, fetch(view, level, geo_id, year))
        filename = f"{name}-{level}-{geo_id}-{year}"
        return exports.csv_response(rows, filename, columns, spreadsheet=True)

    @server.get("/healthz")
    def healthz():
        marts.years()
        return {"status": "ok"}

    app.layout = html.Div(
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

    @app.callback(
        Output("year", "options"),
        Output("year", "value"),
        Output("refresh-info", "children"),
        Input("url", "search"),
    )
    def _years(search):
        years = marts.years()
        _, _, year, _ = _selection(search)
        refresh = marts.last_refresh()
        info = "No data loaded yet"
        if years:
            info = f"Data year {year if year in years else years[0]}"
        if refresh:
            info += f" · last refresh {refresh['finished_at']:%Y-%m-%d %H:%M} UTC"
        options = [{"label": str(y), "value": y} for y in years]
        return options, (year if year in years else (years[0] if years else None)), info

    @app.callback(
        Output("us-map", "figure"),
        Input("year", "value"),
        Input("measure", "value"),
        Input("url", "search"),
    )
    def _map(year, measure, search):
        try:
            year = v.year(year)
        except v.InvalidInput:
            year = None
        if year is None or not isinstance(measure, str) or measure not in MEASURES:
            return go.Figure()
        level, geo_id, _, _ = _selection(search)
        return _map_figure(marts.states(year), measure, geo_id if level == "state" else None)

    @app.callback(
        Output("practice-search", "options"),
        Input("practice-search", "search_value"),
        State("year", "value"),
        State("practice-search", "value"),
    )
    def _suggest(text, year, current):
        try:
            text = v.search_text(text)
            year = v.year(year)
        except v.InvalidInput:
            return dash.no_update
        if len(text) < 2 or year is None:
            return dash.no_update if current else []
        return [
            {
                "label": f"{p['name']} ({p['practice_id']}, {p['state'] or '–'})",
                "value": p["practice_id"],
            }
            for p in marts.search_practices(text, year)
        ]

    @app.callback(
        Output("url", "search"),
        Output("input-error", "children"),
        Input("us-map", "clickData"),
        Input("zip-button", "n_clicks"),
        Input("zip-input", "value"),
        Input("practice-search", "value"),
        State("year", "value"),
        prevent_initial_call=True,
    )
    def _navigate(click, _n, zip_text, practice, year):
        trigger = dash.ctx.triggered_id
        query = {}
        try:
            if trigger == "us-map" and click:
                query["state"] = v.geo("state", _clicked_state(click))[1]
            elif trigger in ("zip-button", "zip-input") and zip_text:
                query["zip"] = v.geo("zip", zip_text)[1]
            elif trigger == "practice-search" and practice:
                query["practice"] = v.geo("practice", practice)[1]
            else:
                return dash.no_update, ""
            year = v.year(year)
        except v.InvalidInput as error:
            return dash.no_update, str(error)
        if year:
            query["year"] = year
        return "?" + urlencode(query), ""

    @app.callback(Output("detail", "children"), Input("url", "search"), Input("year", "value"))
    def _detail(search, chosen_year):
        level, geo_id, url_year, error = _selection(search)
        if error:
            return _empty(f"Invalid link: {error}")
        try:
            chosen_year = v.year(chosen_year)
        except v.InvalidInput as invalid:
            return _empty(f"Invalid input: {invalid}")
        with marts.consistent() as view:
            year = view.resolve_year(chosen_year or url_year)
            if year is None:
                return _empty("No data loaded yet: run the pipeline (medidash run).")
            if level is None:
                return _empty("Click a state on the map, enter a ZIP code or search a practice.")
            return render_detail(view, level, geo_id, year)

    csp = security.content_security_policy(app.csp_hashes())
    security.install(server, csp, security.RateLimiter(*rate_limit) if rate_limit else None)
    return app


def render_detail(marts: Marts, level: str, geo_id: str, year: int):
    summary = marts.summary(level, geo_id, year)
    noun = {"state": "state", "zip": "ZIP code", "practice": "practice"}[level]
    if summary is None:
        return _empty(f"No data for {noun} {geo_id} in {year}.")
    title = summary["display_name"] if level == "practice" else geo_id
    strip = html.Div(
        [
            html.Div(
                [html.Strong(_fmt(summary["clinician_count"])), " clinicians"],
                id="summary-clinicians",
            ),
            html.Div(
                [html.Strong(_fmt(summary["procedure_events"])), " procedure events"],
                id="summary-events",
            ),
            html.Div(
                [html.Strong(_fmt(summary["prescription_claims"])), " prescription claims"],
                id="summary-claims",
            ),
            html.Div(
                [html.Strong(_fmt(summary["avg_mips_score"], 1)), " average MIPS"],
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

    def table(name):
        return _section(TABLES[name][0], _table(name, level, geo_id, year, marts))

    sections += [
        table("procedures"),
        table("drugs"),
        table("prescriptions"),
        _section(
            "Specialties",
            _treemap(specialties) if specialties else _empty("No clinicians listed here."),
        ),
        table("schools"),
    ]
    if level == "practice":
        sections.append(table("hospitals"))
    return html.Div(sections)


def _comparison(marts: Marts, practice: dict, year: int):
    state = marts.summary("state", practice["state"], year) if practice["state"] else None

    def per_clinician(row, key):
        if not row or not row["clinician_count"]:
            return "–"
        return _fmt(row[key] / row["clinician_count"], 1)

    rows = [
        (
            "Clinicians",
            _fmt(practice["clinician_count"]),
            _fmt(state["clinician_count"]) if state else "–",
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
            _fmt(practice["avg_mips_score"], 1),
            _fmt(state["avg_mips_score"], 1) if state else "–",
        ),
    ]
    return _section(
        f"Compared with {practice['state'] or 'its state'}",
        html.Table(
            [html.Tr([html.Th(""), html.Th("Practice"), html.Th(practice["state"] or "State")])]
            + [html.Tr([html.Td(a), html.Td(b), html.Td(c)]) for a, b, c in rows],
            id="comparison-table",
        ),
    )
