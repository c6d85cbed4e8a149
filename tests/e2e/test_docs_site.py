"""The dbt docs site documents the contract's marts (issue 17 item 5): after the stack's run
(tests/e2e/conftest.py's `ui_run`), `target/catalog.json` holds every mart, in schema `marts`,
with its columns and their types, and the page the dashboard serves under /docs shows each mart
with those columns and types in a real browser (dbt's page is a JS app: its search box finds
the model, its model page lists the columns)."""

from __future__ import annotations

import json

import pytest

from medidash import settings
from medidash.orchestration.constants import MARTS

pytestmark = pytest.mark.slow

TARGET = settings.DBT_PROJECT_DIR / "target"


def contract_marts() -> dict[str, list[str]]:
    """Each mart model (configured into marts_build, as the publish macro finds them) and the
    columns its schema file documents, from dbt's manifest."""
    manifest = json.loads((TARGET / "manifest.json").read_text())
    marts = {
        node["name"]: list(node["columns"])
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["config"]["schema"] == "marts_build"
    }
    assert sorted(marts) == sorted(MARTS)
    return marts


def catalog_columns() -> dict[str, dict[str, str]]:
    """mart → {column: type} from the catalog the docs page inlines, for the marts in `marts`."""
    catalog = json.loads((TARGET / "catalog.json").read_text())
    return {
        node["metadata"]["name"]: {c.lower(): v["type"] for c, v in node["columns"].items()}
        for node in catalog["nodes"].values()
        if node["metadata"]["schema"] == "marts"
    }


@pytest.fixture(scope="module")
def docs_run(ui_run):
    assert ui_run["state"] == "success", "the stack's run failed: no docs to check"
    return ui_run


def test_the_catalog_holds_every_mart_with_its_columns_and_types(docs_run):
    documented = contract_marts()
    catalog = catalog_columns()
    assert sorted(catalog) == sorted(MARTS), f"marts in the catalog: {sorted(catalog)}"
    for mart, columns in documented.items():
        assert sorted(catalog[mart]) == sorted(columns), mart
        assert all(catalog[mart].values()), f"{mart}: a column without a type"


def test_the_docs_page_shows_each_mart_and_its_columns(docs_run, stack, chromium, artifacts_dir):
    catalog = catalog_columns()
    dashboard = stack["state"]["urls"]["dashboard"]
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    try:
        page.goto(dashboard + "/docs")
        search = page.locator("input#search")
        search.wait_for(timeout=30000)
        for mart in MARTS:
            # as a reader finds a mart: type its name, open the model from the results
            search.fill(mart)
            page.get_by_text(f"{mart} model", exact=False).first.click()
            page.wait_for_url(f"**#!/model/model.medidash.{mart}")
            page.locator("table tbody tr").first.wait_for()
            page.wait_for_function(
                "name => document.body.innerText.includes(name)", arg=f"marts.{mart}"
            )
            rows = page.evaluate(
                """() => [...document.querySelectorAll('table tbody tr')]
                    .map(tr => [...tr.querySelectorAll('td')].map(td => td.innerText.trim()))
                    .filter(cells => cells.length > 1)"""
            )
            shown = {cells[0].lower(): cells[1].lower() for cells in rows}
            expected = {c: t.lower() for c, t in catalog[mart].items()}
            assert shown == expected, mart
            page.screenshot(path=artifacts_dir / f"docs-{mart}.png", full_page=True)
    finally:
        context.close()
