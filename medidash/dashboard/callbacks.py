"""The page's callbacks: the year and refresh line, the map, the practice type-ahead, the
navigation (every control only rewrites the URL) and the detail area the URL decides."""

from __future__ import annotations

from urllib.parse import urlencode

import dash
import plotly.graph_objects as go
from dash import Dash, Input, Output, State

from medidash.dashboard import validation as v
from medidash.dashboard.layout import empty, map_figure
from medidash.dashboard.pages import geo
from medidash.dashboard.queries import MEASURES, Marts
from medidash.dashboard.urlstate import selection


def clicked_state(click) -> str:
    """The state code of a map click (the browser sends the event: any shape)."""
    try:
        return click["points"][0]["location"]
    except (KeyError, IndexError, TypeError):
        return ""


def register(app: Dash, marts: Marts) -> None:
    @app.callback(
        Output("year", "options"),
        Output("year", "value"),
        Output("refresh-info", "children"),
        Input("url", "search"),
    )
    def _years(search):
        years = marts.years()
        _, _, year, _ = selection(search)
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
        level, geo_id, _, _ = selection(search)
        return map_figure(marts.states(year), measure, geo_id if level == "state" else None)

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
                query["state"] = v.geo("state", clicked_state(click))[1]
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
        level, geo_id, url_year, error = selection(search)
        if error:
            return empty(f"Invalid link: {error}")
        try:
            chosen_year = v.year(chosen_year)
        except v.InvalidInput as invalid:
            return empty(f"Invalid input: {invalid}")
        with marts.consistent() as view:
            year = view.resolve_year(chosen_year or url_year)
            if year is None:
                return empty("No data loaded yet: run the pipeline (medidash run).")
            if level is None:
                return empty("Click a state on the map, enter a ZIP code or search a practice.")
            return geo.render(view, level, geo_id, year)
