"""Every query the dashboard and the API run: parameterised SQL over `marts` and `ops`,
through a pool of connections of the read-only role."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from medidash.contract import MARTS

MEASURES = {
    "procedure_events": "Procedure events",
    "prescription_claims": "Prescription claims",
    "clinician_count": "Clinicians",
    "avg_mips_score": "Average MIPS score",
}


def _like_pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class Marts:
    """Read access to the marts for one database URL."""

    def __init__(self, url: str, max_size: int = 8):
        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            kwargs={"autocommit": True, "row_factory": dict_row},
            open=True,
            name="medidash-dashboard",
        )
        self._conn: psycopg.Connection | None = None

    def close(self) -> None:
        self.pool.close()

    @contextmanager
    def consistent(self) -> Iterator[Marts]:
        """Reads that all see one published set of marts (a page is several queries): one
        transaction that first takes a share lock on every mart, so a publish that would swap
        them waits until it ends (the publish only ever waits a few milliseconds for a lock
        and retries, so the two never deadlock). Before any marts exist, plain reads."""
        with self.pool.connection() as conn, conn.transaction():
            view = copy.copy(self)
            try:
                with conn.transaction():
                    # in name order, the order the publish takes them in: no lock cycle
                    tables = ", ".join(f"marts.{name}" for name in sorted(MARTS))
                    conn.execute(f"lock table {tables} in access share mode")
            except psycopg.errors.UndefinedTable:
                pass
            view._conn = conn
            yield view

    def _all(self, sql: str, params: dict | tuple = ()) -> list[dict]:
        if self._conn is not None:
            return self._conn.execute(sql, params).fetchall()
        with self.pool.connection() as conn:
            return conn.execute(sql, params).fetchall()

    def _one(self, sql: str, params: dict | tuple = ()) -> dict | None:
        rows = self._all(sql, params)
        return rows[0] if rows else None

    def years(self) -> list[int]:
        rows = self._all("select distinct data_year from marts.geo_summary order by 1 desc")
        return [r["data_year"] for r in rows]

    def resolve_year(self, year: int | None) -> int | None:
        years = self.years()
        if year is None:
            return years[0] if years else None
        return year if year in years else None

    def last_refresh(self) -> dict | None:
        return self._one(
            "select data_year, finished_at from ops.pipeline_runs where status = 'success' "
            "order by finished_at desc limit 1"
        )

    def states(self, year: int) -> list[dict]:
        return self._all(
            "select geo_id as state, clinician_count, procedure_events, prescription_claims, "
            "avg_mips_score from marts.geo_summary where data_year = %s and geo_level = 'state' "
            "order by geo_id",
            (year,),
        )

    def summary(self, level: str, geo_id: str, year: int) -> dict | None:
        return self._one(
            "select data_year, geo_level, geo_id, display_name, state, clinician_count, "
            "procedure_events, prescription_claims, avg_mips_score from marts.geo_summary "
            "where data_year = %s and geo_level = %s and geo_id = %s",
            (year, level, geo_id),
        )

    def procedures(self, level, geo_id, year, is_drug: bool, limit: int = 25) -> list[dict]:
        return self._all(
            "select hcpcs_code, hcpcs_description, event_count, service_units, pct_of_geo "
            "from marts.procedure_counts where data_year = %s and geo_level = %s "
            "and geo_id = %s and is_drug = %s order by event_count desc, hcpcs_code limit %s",
            (year, level, geo_id, is_drug, limit),
        )

    def prescriptions(self, level, geo_id, year, limit: int = 25) -> list[dict]:
        return self._all(
            "select generic_name, claim_count, day_supply, drug_cost, pct_of_geo "
            "from marts.prescription_counts where data_year = %s and geo_level = %s "
            "and geo_id = %s order by claim_count desc, generic_name limit %s",
            (year, level, geo_id, limit),
        )

    def specialties(self, level, geo_id, year, limit: int = 200) -> list[dict]:
        return self._all(
            "select specialty, clinician_count, pct_of_geo from marts.specialty_counts "
            "where data_year = %s and geo_level = %s and geo_id = %s "
            "order by clinician_count desc, specialty limit %s",
            (year, level, geo_id, limit),
        )

    def schools(self, level, geo_id, year, limit: int = 15) -> list[dict]:
        return self._all(
            "select medical_school, clinician_count, pct_of_geo from marts.medical_school_counts "
            "where data_year = %s and geo_level = %s and geo_id = %s "
            "order by clinician_count desc, medical_school limit %s",
            (year, level, geo_id, limit),
        )

    def hospitals(self, practice_id: str, year: int, limit: int = 100) -> list[dict]:
        return self._all(
            "select facility_ccn, facility_type, facility_name, clinician_count "
            "from marts.hospital_affiliations where data_year = %s and practice_id = %s "
            "order by clinician_count desc, facility_ccn limit %s",
            (year, practice_id, limit),
        )

    def search_practices(self, text: str, year: int, limit: int = 20) -> list[dict]:
        """Practices whose PAC ID starts with, or whose name contains, the text (any case)."""
        if not text:
            return []
        return self._all(
            "select geo_id as practice_id, display_name as name, state, clinician_count "
            "from marts.geo_summary where data_year = %(year)s and geo_level = 'practice' "
            "and ((%(prefix)s::text is not null and geo_id like %(prefix)s) "
            "or lower(display_name) like %(pattern)s escape '\\') "
            "order by clinician_count desc, geo_id limit %(limit)s",
            {
                "year": year,
                "prefix": text + "%" if text.isdigit() else None,
                "pattern": _like_pattern(text),
                "limit": limit,
            },
        )
