"""The page's callbacks. Every control only rewrites the URL (`_navigate`); the URL decides
the controls' values (`_years`, `_controls`, `_filters`), the map (`_map`) and the page
(`_detail`), however it was reached: a control, a link, the browser's back and forward. The
type-aheads (`_suggest*`) fill their menus from the marts as the user types.

Store `pushed` holds the URL `_navigate` wrote last: the controls that wrote it show it
already, and a second change made before it came back must not be set back. The page's script
(assets/history.js) empties it when back, forward or a link reach a URL, which every control
then follows."""

from __future__ import annotations

from collections.abc import Callable

import dash
import plotly.graph_objects as go
from dash import ALL, Dash, Input, Output, State, dcc, html

from medidash.dashboard import formatting as f
from medidash.dashboard import layout
from medidash.dashboard import validation as v
from medidash.dashboard.pages import geo, product, provider
from medidash.dashboard.queries import PRODUCTS, Marts
from medidash.dashboard.urlstate import PAGES, TableState, View, parse

SUGGESTIONS = 20
# the measures of each kind of page's map, the first its default
MAP_OPTIONS = {
    "hcpcs": {
        k: (label, "money" if "paid" in k else "count") for k, label in layout.CODE_MEASURES.items()
    },
    "drug": {
        k: (label, "money" if "cost" in k else "count") for k, label in layout.DRUG_MEASURES.items()
    },
    None: layout.MAP_MEASURES,
}
# what a page keeps of the view when another page opens: the year, the map and the filters
KEPT = ("year", "rate", "pstate", "ptype")


def _map_kind(kind: str | None) -> str | None:
    return kind if kind in ("hcpcs", "drug") else None


def default_measure(kind: str | None) -> str:
    return next(iter(MAP_OPTIONS[_map_kind(kind)]))


def clicked_state(click) -> str:
    """The state code of a map click (the browser sends the event: any shape)."""
    try:
        return click["points"][0]["location"]
    except (KeyError, IndexError, TypeError):
        return ""


def clicked_label(click) -> str:
    """The label of a treemap click (any shape, like every browser event)."""
    try:
        label = click["points"][0]["label"]
    except (KeyError, IndexError, TypeError):
        return ""
    return label if isinstance(label, str) else ""


def _year(value) -> int | None:
    try:
        return v.year(value)
    except v.InvalidInput:
        return None


def _written(search, pushed) -> bool:
    """Whether `search` is the URL `_navigate` wrote last from the page's own controls."""
    return pushed is not None and search == pushed


def _type_ahead(suggest: Callable[..., list[dict]]) -> Callable:
    """A type-ahead's callback, called (text, *filters, year, current value): the text and
    the year checked (an invalid one, or an invalid filter, changes nothing), a text shorter
    than 2 characters or no year empties the menu (unless a choice is shown in it), else
    `suggest(text, year, *filters)` fills it."""

    def callback(text, *rest):
        *filters, year, current = rest
        try:
            text = v.api_search_text(text)
            year = v.year(year)
            if len(text) < 2 or year is None:
                return dash.no_update if current else []
            return suggest(text, year, *filters)
        except v.InvalidInput:
            return dash.no_update

    return callback


def _open(view: View, kind: str, key: str) -> View:
    """The view of another page, keeping the year, the rate and the search filters."""
    kept = {name: getattr(view, name) for name in KEPT}
    return View(kind=kind, key=key, **kept)


def register(app: Dash, marts: Marts) -> None:
    @app.callback(
        Output("year", "options"),
        Output("year", "value"),
        Output("refresh-info", "children"),
        Input("url", "search"),
        State("year", "value"),
        State("pushed", "data"),
    )
    def _years(search, shown, pushed):
        years = marts.years()
        year = parse(search).year
        refresh = marts.last_refresh()
        info = "No data loaded yet"
        if years:
            info = f"Data year {year if year in years else years[0]}"
            if len(years) > 1:
                info += f" ({len(years)} years loaded: {min(years)}–{max(years)})"
        if refresh:
            info += f" · last refresh {refresh['finished_at']:%Y-%m-%d %H:%M} UTC"
        options = [{"label": str(y), "value": y} for y in years]
        value = year if year in years else (years[0] if years else None)
        # an unchanged value is not sent: it would run every callback that listens to it;
        # nor is it on a URL `_navigate` wrote from the picker (a newer pick must stay)
        keep = value == shown or (_written(search, pushed) and shown in years)
        return options, dash.no_update if keep else value, info

    @app.callback(
        Output("measure", "options"),
        Output("measure", "value"),
        Output("rate", "value"),
        Output("practice-search", "value"),
        Output("provider-search", "value"),
        Output("code-search", "value"),
        Output("zip-input", "value"),
        Input("url", "search"),
        State("pushed", "data"),
        State("measure", "options"),
        State("measure", "value"),
        State("rate", "value"),
        State("practice-search", "value"),
        State("provider-search", "value"),
        State("code-search", "value"),
        State("zip-input", "value"),
    )
    def _controls(search, pushed, *shown):
        view = parse(search)
        options = MAP_OPTIONS[_map_kind(view.kind)]
        measure = view.measure if view.measure in options else default_measure(view.kind)
        listed = [{"label": label, "value": key} for key, (label, _) in options.items()]
        values = [listed, measure, view.rate or "total"]
        if _written(search, pushed) and listed == shown[0]:
            # the URL `_navigate` wrote from these very controls: they are right already, and
            # one changed since (a second click) must not be set back
            values = list(shown[:3])
        # the searches only open pages: empty again once one is open (the page says what it is)
        values += [None, None, None, None]
        # unchanged values are not sent: each would run the callbacks listening to it
        return tuple(
            dash.no_update if new == old else new for new, old in zip(values, shown, strict=True)
        )

    @app.callback(
        Output("provider-state", "options"),
        Output("provider-type", "options"),
        Output("provider-state", "value"),
        Output("provider-type", "value"),
        Input("year", "value"),
        Input("url", "search"),
        State("pushed", "data"),
        State("provider-state", "options"),
        State("provider-type", "options"),
        State("provider-state", "value"),
        State("provider-type", "value"),
    )
    def _filters(year, search, pushed, *shown):
        # a dropdown drops a value its options lack, and the URL would lose it: the options
        # and the values come together, the URL's filters among the options even in a year
        # without such providers
        view = parse(search)
        state_options, type_options, *values = shown
        if not view.error and not _written(search, pushed):
            values = [view.pstate, view.ptype]  # else the controls that wrote it show it
        url_only = list(dash.ctx.triggered_prop_ids) == ["url.search"] and state_options
        if url_only:
            states, types = state_options, type_options or []
        else:
            year = marts.resolve_year(_year(year))
            if year is None:
                return [], []
            states = [{"label": s["state"], "value": s["state"]} for s in marts.states(year)]
            types = [
                {
                    "label": f"{t['provider_type']} ({t['provider_count']:,})",
                    # as the URL holds it (`validation.provider_type`), so the two compare
                    "value": v.provider_type(t["provider_type"]),
                }
                for t in marts.first(marts.provider_types(year), None)
            ]
        new = []
        for options, value in zip((states, types), values, strict=True):
            if value is not None and value not in [o["value"] for o in options]:
                options = [*options, {"label": value, "value": value}]
            new.append(options)
        # unchanged values are not sent: each would run the callbacks listening to it
        return tuple(
            dash.no_update if n == old else n for n, old in zip([*new, *values], shown, strict=True)
        )

    @app.callback(
        Output("us-map", "figure"),
        Input("year", "value"),
        Input("measure", "value"),
        Input("url", "search"),
        Input("rate", "value"),
    )
    def _map(year, measure, search, rate):
        year = _year(year)
        view = parse(search)
        options = MAP_OPTIONS[_map_kind(view.kind)]
        if year is None or view.error or not isinstance(measure, str) or measure not in options:
            return go.Figure()
        rate = rate if rate in layout.RATES else "total"
        label, kind = options[measure]
        if view.kind in PRODUCTS:
            places = marts.product_places(PRODUCTS[view.kind], view.key, year, "state")
            rows = marts.first(places, None)
            states = [r["geo_id"] for r in rows]
            if view.kind == "hcpcs":
                title = f"{view.key} {label.lower()}"
            else:
                title = f"{label} of {view.key.title()}"
        else:
            rows = marts.states(year)
            states = [r["state"] for r in rows]
            title = label
        if rate != "total" and measure not in layout.NOT_RATES:
            per = layout.DENOMINATORS[rate]
            values = [f.ratio(r[measure], r[per]) for r in rows]
            title += f"<br>{layout.RATES[rate].lower()}"
        else:
            values = [r[measure] for r in rows]
        selected = view.key if view.kind == "state" else None
        return layout.choropleth(states, values, title, selected, kind)

    @app.callback(
        Output("practice-search", "options"),
        Input("practice-search", "search_value"),
        State("year", "value"),
        State("practice-search", "value"),
    )
    @_type_ahead
    def _suggest(text, year):
        return [
            {
                "label": f"{p['name']} ({p['practice_id']}, {p['state'] or '–'})",
                "value": p["practice_id"],
            }
            for p in marts.search_practices(text, year)
        ]

    @app.callback(
        Output("provider-search", "options"),
        Input("provider-search", "search_value"),
        Input("provider-state", "value"),
        Input("provider-type", "value"),
        State("year", "value"),
        State("provider-search", "value"),
    )
    @_type_ahead
    def _suggest_providers(text, year, state, provider_type):
        query = marts.provider_search(year, text, v.state(state), v.provider_type(provider_type))
        return [
            {
                "label": f"{p['display_name'] or '–'} · {p['provider_type'] or '–'} · "
                f"{p['state'] or '–'} ({p['npi']})",
                "value": p["npi"],
            }
            for p in marts.first(query, SUGGESTIONS)
        ]

    @app.callback(
        Output("code-search", "options"),
        Input("code-search", "search_value"),
        State("year", "value"),
        State("code-search", "value"),
    )
    @_type_ahead
    def _suggest_codes(text, year):
        return [
            {
                "label": f"{r['key']} · {r['label']}"
                if r["kind"] == "hcpcs"
                else f"{r['key']} · Part D drug",
                "value": f"{r['kind']}:{r['key']}",
            }
            for r in marts.code_search(text, year, SUGGESTIONS)
        ]

    @app.callback(
        Output("url", "search"),
        Output("input-error", "children"),
        Output("pushed", "data"),
        Input("us-map", "clickData"),
        Input("zip-button", "n_clicks"),
        Input("zip-input", "value"),
        Input("practice-search", "value"),
        Input("provider-search", "value"),
        Input("code-search", "value"),
        Input({"type": "table", "name": ALL, "param": ALL}, "active_cell"),
        Input({"type": "table", "name": ALL, "param": ALL}, "sort_by"),
        Input({"type": "table", "name": ALL, "param": ALL}, "page_current"),
        Input({"type": "treemap", "name": ALL}, "clickData"),
        Input("year", "value"),
        Input("measure", "value"),
        Input("rate", "value"),
        Input("provider-state", "value"),
        Input("provider-type", "value"),
        State("url", "search"),
        prevent_initial_call=True,
    )
    def _navigate(
        click,
        _n,
        zip_text,
        practice,
        npi,
        code,
        _cells,
        _sorts,
        _pages,
        _treemaps,
        year,
        measure,
        rate,
        pstate,
        ptype,
        search,
    ):
        trigger = dash.ctx.triggered_id
        value = dash.ctx.triggered[0]["value"] if dash.ctx.triggered else None
        view = parse(search)
        if view.error:
            view = View()
        try:
            # the map's and the search's choices as the controls show them (one callback,
            # `_controls`, sets them all from the URL): a second change made before the URL
            # of the first came back keeps the first
            view = _with_controls(view, measure, rate, pstate, ptype)
            new = _navigation(view, trigger, value, locals())
        except v.InvalidInput as error:
            return dash.no_update, str(error), dash.no_update
        if new is None:
            return dash.no_update, "", dash.no_update
        if new.year is None:  # a link names its year: it shows the same after a new load
            new = View(**{**new.__dict__, "year": _year(year) or marts.resolve_year(None)})
        target = new.search()
        if target == (search or ""):
            return dash.no_update, "", dash.no_update
        return target, "", target

    def _table_change(view: View, name: str) -> View | None:
        """The view with the sort and page table `name` shows now (every changed property
        of it at once: a sort may move the page too)."""
        state = view.table(name)
        for changed in dash.ctx.triggered:
            prop_id, value = changed["prop_id"], changed["value"]
            if dash.ctx.triggered_prop_ids.get(prop_id, {}).get("name") != name:
                continue
            if prop_id.endswith(".sort_by"):
                first = value[0] if isinstance(value, list) and value else {}
                column = first.get("column_id") if isinstance(first, dict) else None
                if column is not None and not isinstance(column, str):
                    return None
                descending = first.get("direction") == "desc" if column else False
                sort = None if column is None else ("-" if descending else "") + column
                state = TableState(sort, state.page)
            elif prop_id.endswith(".page_current"):
                page = value if isinstance(value, int) and not isinstance(value, bool) else 0
                state = TableState(state.sort, page + 1)
        try:
            return view.with_table(name, state)
        except v.InvalidInput:
            return None  # a table of the page before this one

    def _navigation(view: View, trigger, value, inputs: dict) -> View | None:
        """The view a control's change opens (None: nothing to do)."""
        year = v.year(inputs["year"])
        if isinstance(trigger, dict):
            if trigger.get("type") == "table" and not dash.ctx.triggered[0]["prop_id"].endswith(
                ".active_cell"
            ):
                return _table_change(view, trigger.get("name"))
            if trigger.get("type") == "table":
                param = trigger.get("param")
                row = value.get("row_id") if isinstance(value, dict) else None
                if param not in PAGES or not isinstance(row, str):
                    return None
                return _open(view, param, PAGES[param](row))
            if trigger.get("type") == "treemap" and view.is_geo:
                label = clicked_label(value)
                if not label:
                    return None
                specialty = v.name("a specialty", label)
                return View(
                    **{
                        **view.__dict__,
                        "specialty": (None if specialty == view.specialty else specialty),
                    }
                )
            return None
        if trigger == "us-map" and inputs["click"]:
            state = v.geo("state", clicked_state(inputs["click"]))[1]
            return _open(_with_year(view, year), "state", state)
        if trigger in ("zip-button", "zip-input") and inputs["zip_text"]:
            return _open(_with_year(view, year), "zip", v.geo("zip", inputs["zip_text"])[1])
        if trigger == "practice-search" and inputs["practice"]:
            return _open(
                _with_year(view, year), "practice", v.geo("practice", inputs["practice"])[1]
            )
        if trigger == "provider-search" and inputs["npi"]:
            return _open(_with_year(view, year), "npi", v.npi(inputs["npi"]))
        if trigger == "code-search" and isinstance(inputs["code"], str):
            kind, _, key = inputs["code"].partition(":")
            if kind not in ("hcpcs", "drug"):
                return None
            return _open(_with_year(view, year), kind, PAGES[kind](key))
        if trigger == "year":
            latest = marts.resolve_year(None)
            if year is None or year == (view.year or latest):
                return None
            return View(**{**view.__dict__, "year": year})
        if trigger == "measure":
            measure = inputs["measure"]
            if not isinstance(measure, str) or measure not in MAP_OPTIONS[_map_kind(view.kind)]:
                return None
            keep = None if measure == default_measure(view.kind) else measure
            return View(**{**view.__dict__, "measure": keep})
        if trigger == "rate":
            rate = inputs["rate"]
            if rate not in layout.RATES:
                return None
            return View(**{**view.__dict__, "rate": None if rate == "total" else rate})
        if trigger in ("provider-state", "provider-type"):
            return View(
                **{
                    **view.__dict__,
                    "pstate": v.state(inputs["pstate"]),
                    "ptype": v.provider_type(inputs["ptype"]),
                }
            )
        return None

    def _with_controls(view: View, measure, rate, pstate, ptype) -> View:
        options = MAP_OPTIONS[_map_kind(view.kind)]
        return View(
            **{
                **view.__dict__,
                "measure": None
                if measure not in options or measure == default_measure(view.kind)
                else measure,
                "rate": None if rate not in layout.RATES or rate == "total" else rate,
                "pstate": v.state(pstate),
                "ptype": v.provider_type(ptype),
            }
        )

    def _with_year(view: View, year: int | None) -> View:
        return View(**{**view.__dict__, "year": year or view.year})

    @app.callback(Output("detail", "children"), Input("url", "search"), Input("year", "value"))
    def _detail(search, chosen_year):
        view = parse(search)
        if view.error:
            return layout.empty(f"Invalid link: {view.error}")
        try:
            chosen_year = v.year(chosen_year)
        except v.InvalidInput as invalid:
            return layout.empty(f"Invalid input: {invalid}")
        if dash.ctx.triggered_id == "year" and view.year is not None and chosen_year != view.year:
            return dash.no_update  # the URL follows the year picker: render once, then
        with marts.consistent() as snapshot:
            year = snapshot.resolve_year(view.year or chosen_year)
            if year is None:
                if view.year is not None:
                    return layout.empty(f"Data year {view.year} is not loaded.")
                return layout.empty("No data loaded yet: run the pipeline (medidash run).")
            if view.kind is None:
                return html.Div(
                    [
                        "Click a state on the map, enter a ZIP code, search a practice, a "
                        "provider, a procedure or a drug, or open ",
                        dcc.Link("the national figures", href=f"?nation=US&year={year}"),
                        ".",
                    ],
                    className="empty-state",
                )
            if view.is_geo:
                return geo.render(snapshot, view, year)
            if view.kind == "npi":
                return provider.render(snapshot, view, year)
            if view.kind == "hcpcs":
                return product.render_code(snapshot, view, year)
            return product.render_drug(snapshot, view, year)
