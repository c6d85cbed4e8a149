"""What every page is built from: a table of `tables.TABLES` filled from its list, with the
link to the whole list's CSV."""

from __future__ import annotations

from medidash.dashboard import layout
from medidash.dashboard import validation as v
from medidash.dashboard.queries import Marts
from medidash.dashboard.tables import PAGE_ROWS, SHOWN, TABLES, cells
from medidash.dashboard.urlstate import View


def table(marts: Marts, name: str, view: View, year: int, title: str | None = None):
    """Table `name` for the page's view and year: the top SHOWN rows of its list (the
    table pages through them) in the URL's order and page, the list's total, the export of
    all of it."""
    spec = TABLES[name]
    state = view.table(name)
    listed = marts.page(spec.query(marts, view, year), v.Page(SHOWN))
    body = layout.data_table(
        name,
        spec.columns,
        cells(spec.columns, listed.rows),
        export_href=spec.export_href(name, view, year),
        link=spec.link,
        total=listed.total,
        page_size=PAGE_ROWS,
        sort_by=state.sort_by,
        page_current=state.page - 1,
    )
    return layout.section(title or spec.title, body)


def series(marts: Marts, query) -> list[dict]:
    """A year series (oldest first): every loaded year of it."""
    return marts.first(query, None)
