"""The detail page's tables: one definition per table, read by the page and by its CSV
download (`/download/<name>`), so a download holds exactly the rows and columns the table shows."""

from __future__ import annotations

from decimal import Decimal

PCT = ("pct_of_geo", "% of geography")

# name -> (title, columns, rows for (marts, level, geo_id, year))
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


def cells(columns: list[tuple[str, str]], rows: list[dict]) -> list[dict]:
    """A table's rows as shown: shares rounded to 2 decimals, numerics as floats."""

    def cell(key, value):
        if key == "pct_of_geo" and value is not None:
            return round(float(value), 2)
        return float(value) if isinstance(value, Decimal) else value

    return [{key: cell(key, r[key]) for key, _ in columns} for r in rows]
