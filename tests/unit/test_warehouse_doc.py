"""docs/warehouse.md is the warehouse's reference: the marts dbt builds must have exactly the
columns it names (a column added in contract v2 may still be missing while it is not built)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from medidash.contract import MARTS

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "warehouse.md"
MARTS_YML = ROOT / "dbt_project" / "models" / "marts" / "_marts.yml"


def documented_marts() -> dict[str, tuple[set[str], set[str]]]:
    """mart → (columns of contract v1, columns added in v2), from section 4's table."""
    marts = {}
    for row in DOC.read_text().splitlines():
        match = re.match(r"\|\s*(?:\*\(v2\)\*\s*)?`marts\.(\w+)`\s*\|[^|]*\|(.*)\|\s*$", row)
        if not match:
            continue
        name, cells = match.groups()
        before, _, after = cells.partition("*(v2)*")
        v1 = {c.strip() for chunk in re.findall(r"`([^`]*)`", before) for c in chunk.split(",")}
        v2 = {c.strip() for chunk in re.findall(r"`([^`]*)`", after) for c in chunk.split(",")}
        if row.lstrip("| ").startswith("*(v2)*"):
            v1, v2 = set(), v1 | v2
        marts[name] = (v1, v2)
    return marts


def test_the_document_names_every_contract_mart():
    assert set(documented_marts()) == set(MARTS)


def test_every_dbt_mart_has_the_documented_columns():
    models = {m["name"]: m for m in yaml.safe_load(MARTS_YML.read_text())["models"]}
    documented = documented_marts()
    for name, model in models.items():
        assert name in documented, f"{name} is a mart but docs/warehouse.md does not name it"
        v1, v2 = documented[name]
        columns = {c["name"] for c in model.get("columns", [])}
        assert columns <= v1 | v2, f"{name}: columns not in docs/warehouse.md: {columns - v1 - v2}"
        assert v1 <= columns, f"{name}: documented columns missing in dbt: {v1 - columns}"
        assert model.get("description", "").strip().startswith("One row per"), name
