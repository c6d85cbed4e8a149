"""Every query the dashboard and the API run: parameterised SQL over `marts` and `ops`,
through a pool of connections of the read-only role.

A list (every table of the dashboard and the API) is a `ListQuery`: its columns, its source
(`from ... where ...`) and a total order. `Marts.page` reads one page of it with the list's
total, `Marts.stream` the whole list through a server-side cursor (bounded memory, for CSV).
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg.rows import dict_row, tuple_row
from psycopg_pool import ConnectionPool

from medidash.contract import MARTS
from medidash.dashboard import validation as v

MEASURES = {
    "procedure_events": "Procedure events",
    "prescription_claims": "Prescription claims",
    "clinician_count": "Clinicians",
    "avg_mips_score": "Average MIPS score",
}
# rows a streamed export fetches from the server at a time: its memory bound
STREAM_BATCH = 2000
# peer groups kept (a year's provider types, nationally and in each state, fit many times)
PEER_CACHE_SIZE = 20_000

GEO_SUMMARY_COLUMNS = (
    "clinician_count, procedure_events, prescription_claims, avg_mips_score, paid_amount, "
    "drug_cost, provider_count"
)
PROCEDURE_MEASURES = (
    "event_count, service_units, pct_of_geo, submitted_charge, allowed_amount, paid_amount, "
    "standardized_amount"
)
PRESCRIPTION_MEASURES = "claim_count, day_supply, drug_cost, pct_of_geo"
# the measures a year series gives with their change from the previous loaded year
GEO_TRENDS = (
    "clinician_count",
    "procedure_events",
    "prescription_claims",
    "paid_amount",
    "drug_cost",
    "provider_count",
    "avg_mips_score",
)
PROVIDER_TRENDS = ("procedure_events", "paid_amount", "prescription_claims", "drug_cost")
PROCEDURE_TRENDS = ("event_count", "service_units", "paid_amount", "allowed_amount")
PRESCRIPTION_TRENDS = ("claim_count", "day_supply", "drug_cost")


@dataclass(frozen=True)
class Product:
    """What a HCPCS code's page and a generic drug's page read, told apart by their marts: the
    geography counts, the per-provider mart, the key and the measures."""

    name: str  # "procedure" or "drug": the lists' names
    counts: str  # the geography mart
    per_provider: str  # the provider × product mart
    key: str  # the product's column in both
    head: str  # the columns naming it in its national row
    series_head: str  # those a year series adds before the measures
    measures: str
    trends: tuple[str, ...]
    volume: str  # what its lists are ordered by, most first
    provider_columns: str
    place_columns: str


PROCEDURE = Product(
    name="procedure",
    counts="procedure_counts",
    per_provider="provider_procedures",
    key="hcpcs_code",
    head="hcpcs_code, hcpcs_description, is_drug",
    series_head="hcpcs_description, ",
    measures=PROCEDURE_MEASURES,
    trends=PROCEDURE_TRENDS,
    volume="event_count",
    provider_columns="pp.event_count, pp.service_units, pp.paid_amount, pp.pct_of_provider, "
    "pp.events_pctile_code",
    place_columns="pc.event_count, pc.service_units, pc.allowed_amount, pc.paid_amount, "
    "pc.pct_of_geo",
)
DRUG = Product(
    name="drug",
    counts="prescription_counts",
    per_provider="provider_prescriptions",
    key="generic_name",
    head="generic_name",
    series_head="",
    measures=PRESCRIPTION_MEASURES,
    trends=PRESCRIPTION_TRENDS,
    volume="claim_count",
    provider_columns="pp.claim_count, pp.day_supply, pp.drug_cost, pp.pct_of_provider",
    place_columns="pc.claim_count, pc.day_supply, pc.drug_cost, pc.pct_of_geo",
)
# the product of a page's URL (`?hcpcs=`, `?drug=`)
PRODUCTS = {"hcpcs": PROCEDURE, "drug": DRUG}
PROVIDER_SEARCH_COLUMNS = (
    "npi, display_name, entity_type, provider_type, primary_specialty, state, zip5, "
    "procedure_events, paid_amount, prescription_claims, drug_cost, paid_pctile_nation"
)


def _like_pattern(text: str) -> str:
    return f"%{_like_escape(text.lower())}%"


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass(frozen=True)
class Key:
    """One sort key of a list: an SQL expression that is never NULL, its kind (`int`,
    `numeric`, `text`: how a cursor carries it) and its direction. A `pattern` key orders
    text byte by byte (`~<~`, the order of a `text_pattern_ops` index such as the provider
    name index, which then serves the sort as well as the prefix search)."""

    expr: str
    kind: str = "text"
    descending: bool = False
    pattern: bool = False

    def direction(self) -> str:
        if self.pattern:
            return " using ~>~" if self.descending else " using ~<~"
        return " desc" if self.descending else ""

    def beyond(self, or_equal: bool = False) -> str:
        """The operator of "after this value" (or "at or after") in the key's order."""
        op = "<" if self.descending else ">"
        op += "=" if or_equal else ""
        return f"~{op}~" if self.pattern else op


@dataclass(frozen=True)
class ListQuery:
    """One list: `select {columns} {source}` in the order of `keys`, whose last key makes the
    order total (unique per row). `source` is `from ... where ...` with `%(name)s`
    parameters; `count_source`, when given, is a cheaper source with the same rows, for the
    total (without a join that cannot change the count)."""

    name: str
    columns: str
    source: str
    params: dict
    keys: tuple[Key, ...]
    count_source: str | None = None


@dataclass(frozen=True)
class PageOf:
    """One page of a list: its rows, the whole list's row count, and the cursor of the next
    page (None on the last)."""

    rows: list[dict]
    total: int
    next_cursor: str | None


def _after(keys: tuple[Key, ...], values: list, params: dict) -> str:
    """The keyset condition "after the row whose sort keys are `values`", in the list's order:
    k1 at or beyond v1 and ((k1 beyond v1) or (k1 = v1 and k2 beyond v2) or ...). The first,
    implied, term is a range an index on k1 starts its scan at (the OR alone is a filter)."""
    casts = {"int": "bigint", "numeric": "numeric", "text": "text"}
    terms, equal = [], []
    for i, (key, value) in enumerate(zip(keys, values, strict=True)):
        params[f"_after{i}"] = value
        placeholder = f"%(_after{i})s::{casts[key.kind]}"
        terms.append(" and ".join([*equal, f"{key.expr} {key.beyond()} {placeholder}"]))
        equal.append(f"{key.expr} = {placeholder}")
    first = keys[0]
    start = f"{first.expr} {first.beyond(or_equal=True)} %(_after0)s::{casts[first.kind]}"
    return f"{start} and (" + " or ".join(f"({t})" for t in terms) + ")"


def _order(keys: tuple[Key, ...]) -> str:
    return ", ".join(f"{k.expr}{k.direction()}" for k in keys)


def _trends(measures: tuple[str, ...]) -> str:
    """Each measure's change from the previous loaded year (absolute, and in percent of the
    previous value; NULL for the first year, or a previous value of 0 for the percent)."""
    out = ["lag(data_year) over w as previous_year"]
    for m in measures:
        out.append(f"{m} - lag({m}) over w as {m}_change")
        out.append(
            f"round((100.0 * ({m} - lag({m}) over w) / nullif(lag({m}) over w, 0))::numeric, 2)"
            f" as {m}_change_pct"
        )
    return ", ".join(out)


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
        # peer groups' figures per published marts.providers (see _peer_stats); shared by
        # the views `consistent` copies
        self._peer_cache: OrderedDict[tuple, dict] = OrderedDict()
        self._peer_lock = threading.Lock()

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

    # lists: one page, the first rows, or the whole list streamed

    def page(self, query: ListQuery, page: v.Page) -> PageOf:
        """One page of the list and the list's total, in one statement (one snapshot: the
        total and the rows never come from two publishes)."""
        params = {**query.params, "_limit": page.limit + 1, "_offset": page.offset}
        after = ""
        if page.cursor is not None:
            values = v.decode_cursor(page.cursor, query.name, [k.kind for k in query.keys])
            after = " and " + _after(query.keys, values, params)
        key_columns = ", ".join(f"{k.expr} as _key{i}" for i, k in enumerate(query.keys))
        outer_order = ", ".join(f"_key{i}{k.direction()}" for i, k in enumerate(query.keys))
        sql = (
            f"with total as (select count(*) as _total {query.count_source or query.source}), "
            f"page_rows as (select {query.columns}, {key_columns} {query.source}{after} "
            f"order by {_order(query.keys)} limit %(_limit)s offset %(_offset)s) "
            f"select * from total left join page_rows on true order by {outer_order}"
        )
        fetched = self._all(sql, params)
        total = fetched[0]["_total"]
        if fetched[0]["_key0"] is None:  # a sort key is never NULL: no row on this page
            fetched = []
        more = len(fetched) > page.limit
        rows = fetched[: page.limit]
        keys = [f"_key{i}" for i in range(len(query.keys))]
        next_cursor = (
            v.encode_cursor(query.name, [rows[-1][k] for k in keys]) if more and rows else None
        )
        hidden = {"_total", *keys}
        return PageOf([{k: r[k] for k in r if k not in hidden} for r in rows], total, next_cursor)

    def first(self, query: ListQuery, limit: int) -> list[dict]:
        """The list's first `limit` rows (the dashboard's tables)."""
        sql = f"select {query.columns} {query.source} order by {_order(query.keys)} limit %(_n)s"
        return self._all(sql, {**query.params, "_n": limit})

    def stream(self, query: ListQuery) -> Iterator[tuple]:
        """The whole list, column names first, then each row as a tuple, in the list's order,
        in bounded memory: a server-side cursor fetched STREAM_BATCH rows at a time. It is
        WITH HOLD, so PostgreSQL computes the list once, at the end of its declaring
        transaction, and keeps it in its own work space: no mart stays locked while a slow
        client downloads (a publish would wait on it), and the rows come from one snapshot."""
        sql = f"select {query.columns} {query.source} order by {_order(query.keys)}"
        with (
            self.pool.connection() as conn,
            conn.cursor(name="medidash_export", row_factory=tuple_row, withhold=True) as cursor,
        ):
            cursor.execute(sql, query.params)
            yield tuple(column.name for column in cursor.description)
            while rows := cursor.fetchmany(STREAM_BATCH):
                yield from rows

    # years and geographies

    def years(self) -> list[int]:
        # a loose index scan on geo_summary's (data_year, ...) index: one probe per year,
        # where `select distinct` reads every row (tens of ms at scale 0.1, on every page)
        rows = self._all(
            "with recursive y as (select max(data_year) as data_year from marts.geo_summary "
            "union all select (select max(data_year) from marts.geo_summary g "
            "where g.data_year < y.data_year) from y where y.data_year is not null) "
            "select data_year from y where data_year is not null order by 1 desc"
        )
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

    def states_list(self, year: int) -> ListQuery:
        """Every state's summary (year × state)."""
        return ListQuery(
            "states",
            f"geo_id as state, {GEO_SUMMARY_COLUMNS}",
            "from marts.geo_summary where data_year = %(year)s and geo_level = 'state'",
            {"year": year},
            (Key("geo_id"),),
        )

    def states(self, year: int) -> list[dict]:
        return self.first(self.states_list(year), 1000)

    def summary(self, level: str, geo_id: str, year: int) -> dict | None:
        return self._one(
            "select data_year, geo_level, geo_id, display_name, state, "
            f"{GEO_SUMMARY_COLUMNS} from marts.geo_summary "
            "where data_year = %s and geo_level = %s and geo_id = %s",
            (year, level, geo_id),
        )

    def geo_series(self, level: str, geo_id: str) -> ListQuery:
        """A geography's summary in every loaded year (oldest first), with each measure's
        change from the previous loaded year. The years are named in the query, so the index
        leading with data_year serves it."""
        return ListQuery(
            "geo_series",
            f"data_year, display_name, state, {GEO_SUMMARY_COLUMNS}, "
            + ", ".join(f"{m}_change, {m}_change_pct" for m in GEO_TRENDS)
            + ", previous_year",
            f"from (select *, {_trends(GEO_TRENDS)} from marts.geo_summary "
            "where data_year = any(%(years)s) and geo_level = %(level)s and geo_id = %(geo_id)s "
            "window w as (order by data_year)) series where true",
            {"level": level, "geo_id": geo_id, "years": self.years()},
            (Key("data_year", "int"),),
        )

    def procedures_list(self, level, geo_id, year, is_drug: bool) -> ListQuery:
        """A geography's procedures (or Part B drugs), most events first."""
        return ListQuery(
            "geo_procedures",
            f"hcpcs_code, hcpcs_description, {PROCEDURE_MEASURES}",
            "from marts.procedure_counts where data_year = %(year)s and geo_level = %(level)s "
            "and geo_id = %(geo_id)s and is_drug = %(is_drug)s",
            {"year": year, "level": level, "geo_id": geo_id, "is_drug": is_drug},
            (Key("event_count", "int", descending=True), Key("hcpcs_code")),
        )

    def procedures(self, level, geo_id, year, is_drug: bool, limit: int = 25) -> list[dict]:
        return self.first(self.procedures_list(level, geo_id, year, is_drug), limit)

    def prescriptions_list(self, level, geo_id, year) -> ListQuery:
        """A geography's Part D drugs, most claims first."""
        return ListQuery(
            "geo_prescriptions",
            f"generic_name, {PRESCRIPTION_MEASURES}",
            "from marts.prescription_counts where data_year = %(year)s "
            "and geo_level = %(level)s and geo_id = %(geo_id)s",
            {"year": year, "level": level, "geo_id": geo_id},
            (Key("claim_count", "int", descending=True), Key("generic_name")),
        )

    def prescriptions(self, level, geo_id, year, limit: int = 25) -> list[dict]:
        return self.first(self.prescriptions_list(level, geo_id, year), limit)

    def specialties_list(self, level, geo_id, year) -> ListQuery:
        return ListQuery(
            "geo_specialties",
            "specialty, clinician_count, pct_of_geo",
            "from marts.specialty_counts where data_year = %(year)s and geo_level = %(level)s "
            "and geo_id = %(geo_id)s",
            {"year": year, "level": level, "geo_id": geo_id},
            (Key("clinician_count", "int", descending=True), Key("specialty")),
        )

    def specialties(self, level, geo_id, year, limit: int = 200) -> list[dict]:
        return self.first(self.specialties_list(level, geo_id, year), limit)

    def schools_list(self, level, geo_id, year) -> ListQuery:
        return ListQuery(
            "geo_schools",
            "medical_school, clinician_count, pct_of_geo",
            "from marts.medical_school_counts where data_year = %(year)s "
            "and geo_level = %(level)s and geo_id = %(geo_id)s",
            {"year": year, "level": level, "geo_id": geo_id},
            (Key("clinician_count", "int", descending=True), Key("medical_school")),
        )

    def schools(self, level, geo_id, year, limit: int = 15) -> list[dict]:
        return self.first(self.schools_list(level, geo_id, year), limit)

    def hospitals_list(self, practice_id: str, year: int) -> ListQuery:
        return ListQuery(
            "hospitals",
            "facility_ccn, facility_type, facility_name, clinician_count",
            "from marts.hospital_affiliations where data_year = %(year)s "
            "and practice_id = %(practice_id)s",
            {"year": year, "practice_id": practice_id},
            (Key("clinician_count", "int", descending=True), Key("facility_ccn")),
        )

    def hospitals(self, practice_id: str, year: int, limit: int = 100) -> list[dict]:
        return self.first(self.hospitals_list(practice_id, year), limit)

    def practices_list(self, text: str, year: int) -> ListQuery:
        """Practices whose PAC ID starts with, or whose name contains, the text (any case)."""
        return ListQuery(
            "practices",
            "geo_id as practice_id, display_name as name, state, clinician_count",
            "from marts.geo_summary where data_year = %(year)s and geo_level = 'practice' "
            "and ((%(prefix)s::text is not null and geo_id like %(prefix)s) "
            "or lower(display_name) like %(pattern)s escape '\\')",
            {
                "year": year,
                "prefix": text + "%" if text.isdigit() else None,
                "pattern": _like_pattern(text),
            },
            (Key("clinician_count", "int", descending=True), Key("geo_id")),
        )

    def search_practices(self, text: str, year: int, limit: int = 20) -> list[dict]:
        if not text:
            return []
        return self.first(self.practices_list(text, year), limit)

    # providers (marts.providers, provider_procedures, provider_prescriptions)

    def provider_search(
        self,
        year: int,
        text: str = "",
        state: str | None = None,
        provider_type: str | None = None,
    ) -> ListQuery:
        """Providers of the year whose NPI starts with the text (all digits) or whose display
        name starts with it (any case), in the state and of the provider type when given; by
        name, then NPI (by NPI for an NPI search)."""
        where = ["data_year = %(year)s"]
        params: dict = {"year": year}
        # names in byte order, whatever the database's collation: the order of the name index
        keys: tuple[Key, ...] = (
            Key("coalesce(lower(display_name), '')", pattern=True),
            Key("npi"),
        )
        if text.isdigit():
            where.append("npi like %(npi)s")
            params["npi"] = text + "%"
            keys = (Key("npi"),)
        elif text:
            # the expression of marts.providers' name index: a prefix scan of it, in its order
            where.append("lower(display_name) like %(prefix)s escape '\\'")
            params["prefix"] = _like_escape(text.lower()) + "%"
            keys = (Key("lower(display_name)", pattern=True), Key("npi"))
        if state is not None:
            where.append("state = %(state)s")
            params["state"] = state
        if provider_type is not None:
            where.append("upper(provider_type) = %(provider_type)s")
            params["provider_type"] = provider_type
        return ListQuery(
            "providers",
            PROVIDER_SEARCH_COLUMNS,
            "from marts.providers where " + " and ".join(where),
            params,
            keys,
        )

    def provider_types(self, year: int) -> ListQuery:
        """The year's provider types with their number of providers (for a search filter)."""
        return ListQuery(
            "provider_types",
            "provider_type, provider_count",
            "from (select provider_type, count(*) as provider_count from marts.providers "
            "where data_year = %(year)s and provider_type is not null group by provider_type) "
            "types where true",
            {"year": year},
            (Key("provider_type"),),
        )

    def provider(self, npi: str, year: int) -> dict | None:
        """A provider's row of marts.providers in the year (every column)."""
        return self._one(
            "select * from marts.providers where data_year = %s and npi = %s", (year, npi)
        )

    def provider_years(self, npi: str) -> list[int]:
        rows = self._all(
            "select data_year from marts.providers where npi = %s order by 1 desc", (npi,)
        )
        return [r["data_year"] for r in rows]

    def provider_peers(self, provider: dict) -> dict:
        """The peer groups behind a provider's percentiles (contract section 4): providers of
        its provider type with a value above 0, in its state (paid amount) and nationally
        (paid amount, Part D claims), each with its size, median and 90th percentile (the
        line of a "top 10 %" flag). Empty without a provider type (no percentile then)."""
        if provider["provider_type"] is None:
            return {}
        version = self._one(
            "select oid::bigint as oid, pg_relation_filenode(oid) as filenode from pg_class "
            "where oid = 'marts.providers'::regclass"
        )
        version = (version["oid"], version["filenode"])
        nation = self._peer_stats(version, provider, None)
        state = self._peer_stats(version, provider, provider["state"] or "")

        def group(stats: dict, prefix: str, measure: str, pctile: str, places: int) -> dict:
            median, p90 = stats[f"{prefix}_q"] or (None, None)
            return {
                "measure": measure,
                "provider_type": provider["provider_type"],
                "state": provider["state"] if pctile == "paid_pctile_state" else None,
                "providers": stats[f"{prefix}_n"],
                "median": None if median is None else round(median, places),
                "p90": None if p90 is None else round(p90, places),
                "value": provider[measure],
                "pctile": provider[pctile],
            }

        return {
            "paid_state": group(state, "paid", "paid_amount", "paid_pctile_state", 2),
            "paid_nation": group(nation, "paid", "paid_amount", "paid_pctile_nation", 2),
            "claims_nation": group(
                nation, "claims", "prescription_claims", "claims_pctile_nation", 1
            ),
        }

    def _peer_stats(self, version: tuple, provider: dict, state: str | None) -> dict:
        """One peer group's sizes and quantiles (nationally when `state` is None; `""` for
        the providers without a state, who form a group of their own as NULL does in the
        percentile's partition). Kept per `version` of marts.providers (its OID and file:
        each publish moves in a new table): a type's national group is thousands of rows to
        read at every profile otherwise, and its figures stay the same until the next
        publish."""
        key = (*version, provider["data_year"], provider["provider_type"], state)
        with self._peer_lock:
            if key in self._peer_cache:
                self._peer_cache.move_to_end(key)
                return self._peer_cache[key]
        where = "data_year = %(year)s and provider_type = %(provider_type)s"
        if state == "":
            where += " and state is null"
        elif state is not None:
            where += " and state = %(state)s"
        stats = self._one(
            "select count(*) filter (where paid_amount > 0) as paid_n, "
            "percentile_cont(array[0.5, 0.9]) within group (order by paid_amount) "
            "filter (where paid_amount > 0) as paid_q, "
            "count(*) filter (where prescription_claims > 0) as claims_n, "
            "percentile_cont(array[0.5, 0.9]) within group (order by prescription_claims) "
            "filter (where prescription_claims > 0) as claims_q "
            f"from marts.providers where {where}",
            {
                "year": provider["data_year"],
                "provider_type": provider["provider_type"],
                "state": state,
            },
        )
        with self._peer_lock:
            self._peer_cache[key] = stats
            while len(self._peer_cache) > PEER_CACHE_SIZE:
                self._peer_cache.popitem(last=False)
        return stats

    def provider_procedures(self, npi: str, year: int, is_drug: bool | None = None) -> ListQuery:
        """A provider's HCPCS codes (with the code's national description), most events
        first; only procedures or only Part B drugs when `is_drug` is given."""
        where = "pp.data_year = %(year)s and pp.npi = %(npi)s"
        if is_drug is not None:
            where += " and pp.is_drug = %(is_drug)s"
        return ListQuery(
            "provider_procedures",
            "pp.hcpcs_code, nation.hcpcs_description, pp.is_drug, pp.event_count, "
            "pp.service_units, pp.paid_amount, pp.pct_of_provider, pp.events_pctile_code",
            "from marts.provider_procedures pp left join marts.procedure_counts nation "
            "on nation.data_year = pp.data_year and nation.geo_level = 'nation' "
            "and nation.geo_id = 'US' and nation.hcpcs_code = pp.hcpcs_code where " + where,
            {"year": year, "npi": npi, "is_drug": is_drug},
            (Key("pp.event_count", "int", descending=True), Key("pp.hcpcs_code")),
            count_source="from marts.provider_procedures pp where " + where,
        )

    def provider_prescriptions(self, npi: str, year: int) -> ListQuery:
        """A provider's Part D drugs, most claims first."""
        return ListQuery(
            "provider_prescriptions",
            "generic_name, claim_count, day_supply, drug_cost, pct_of_provider",
            "from marts.provider_prescriptions where data_year = %(year)s and npi = %(npi)s",
            {"year": year, "npi": npi},
            (Key("claim_count", "int", descending=True), Key("generic_name")),
        )

    def provider_series(self, npi: str) -> ListQuery:
        """A provider's row in every loaded year it appears in (oldest first), with the change
        of its main measures from its previous year."""
        return ListQuery(
            "provider_series",
            "data_year, display_name, provider_type, state, procedure_events, service_units, "
            "paid_amount, allowed_amount, prescription_claims, drug_cost, mips_score, "
            "paid_pctile_state, paid_pctile_nation, claims_pctile_nation, "
            + ", ".join(f"{m}_change, {m}_change_pct" for m in PROVIDER_TRENDS)
            + ", previous_year",
            f"from (select *, {_trends(PROVIDER_TRENDS)} from marts.providers "
            "where npi = %(npi)s window w as (order by data_year)) series where true",
            {"npi": npi},
            (Key("data_year", "int"),),
        )

    # one HCPCS code, one generic drug

    def product(self, kind: Product, key: str, year: int) -> dict | None:
        """A HCPCS code's or a generic drug's national figure in the year (its `nation`
        row)."""
        return self._one(
            f"select data_year, {kind.head}, {kind.measures} from marts.{kind.counts} "
            f"where data_year = %s and geo_level = 'nation' and geo_id = 'US' and {kind.key} = %s",
            (year, key),
        )

    def product_states(self, kind: Product, key: str, year: int) -> ListQuery:
        """A HCPCS code or a generic drug in every state that bills or prescribes it (a map),
        by state."""
        return ListQuery(
            f"{kind.name}_states",
            f"geo_id as state, {kind.measures}",
            f"from marts.{kind.counts} where data_year = %(year)s and geo_level = 'state' "
            f"and {kind.key} = %(key)s",
            {"year": year, "key": key},
            (Key("geo_id"),),
        )

    def product_providers(
        self, kind: Product, key: str, year: int, state: str | None = None
    ) -> ListQuery:
        """The providers billing a HCPCS code or prescribing a generic drug, most events or
        claims first (in a state when given)."""
        where = f"pp.data_year = %(year)s and pp.{kind.key} = %(key)s"
        if state is not None:
            where += " and p.state = %(state)s"
        return ListQuery(
            f"{kind.name}_providers",
            "pp.npi, p.display_name, p.provider_type, p.state, " + kind.provider_columns,
            f"from marts.{kind.per_provider} pp join marts.providers p "
            "on p.data_year = pp.data_year and p.npi = pp.npi where " + where,
            {"year": year, "key": key, "state": state},
            (Key(f"pp.{kind.volume}", "int", descending=True), Key("pp.npi")),
            # every NPI of the per-provider mart has its marts.providers row (contract section 4)
            count_source=None if state else f"from marts.{kind.per_provider} pp where " + where,
        )

    def product_series(self, kind: Product, key: str, level: str, geo_id: str) -> ListQuery:
        """A HCPCS code or a generic drug in one geography in every loaded year (oldest
        first)."""
        return ListQuery(
            f"{kind.name}_series",
            f"data_year, {kind.series_head}{kind.measures}, "
            + ", ".join(f"{m}_change, {m}_change_pct" for m in kind.trends)
            + ", previous_year",
            f"from (select *, {_trends(kind.trends)} from marts.{kind.counts} "
            "where data_year = any(%(years)s) and geo_level = %(level)s "
            f"and geo_id = %(geo_id)s and {kind.key} = %(key)s "
            "window w as (order by data_year)) series where true",
            {"level": level, "geo_id": geo_id, "key": key, "years": self.years()},
            (Key("data_year", "int"),),
        )

    # the dashboard's own lists (appended by the dashboard's engineer): a geography's
    # providers, the code and drug search, and a code's or a drug's places at any level

    def geo_providers(self, level, geo_id, year, specialty: str | None = None) -> ListQuery:
        """The providers located in a geography (the state, ZIP5 or practices of their
        marts.providers row; every provider for the nation), most paid first, then by claims;
        only those of one primary specialty when given."""
        where = {
            "nation": "true",
            "state": "state = %(geo_id)s",
            "zip": "zip5 = %(geo_id)s",
            # containment, which the GIN index on practice_ids serves (`= any()` is a scan)
            "practice": "practice_ids @> array[%(geo_id)s]::text[]",
        }[level]
        if specialty is not None:
            where += " and primary_specialty = %(specialty)s"
        return ListQuery(
            "geo_providers",
            "npi, display_name, provider_type, primary_specialty, state, procedure_events, "
            "paid_amount, allowed_amount, prescription_claims, drug_cost, paid_pctile_state, "
            "paid_pctile_nation",
            f"from marts.providers where data_year = %(year)s and {where}",
            {"year": year, "geo_id": geo_id, "specialty": specialty},
            (
                Key("coalesce(paid_amount, 0)", "numeric", descending=True),
                Key("prescription_claims", "int", descending=True),
                Key("npi"),
            ),
        )

    def code_search(self, text: str, year: int, limit: int = 20) -> list[dict]:
        """HCPCS codes starting with the text, or whose description holds every word of it
        (any case), and generic drugs whose name holds every word: national volume first."""
        words = text.lower().split()
        if not words:
            return []
        params: dict = {"year": year, "prefix": _like_escape(text.strip().upper()) + "%"}
        described, named = [], []
        for i, word in enumerate(words):
            params[f"w{i}"] = _like_pattern(word)
            described.append(f"lower(hcpcs_description) like %(w{i})s escape '\\'")
            named.append(f"lower(generic_name) like %(w{i})s escape '\\'")
        params["limit"] = limit
        return self._all(
            "(select 'hcpcs' as kind, hcpcs_code as key, hcpcs_description as label, is_drug, "
            "event_count as volume from marts.procedure_counts where data_year = %(year)s "
            "and geo_level = 'nation' and (hcpcs_code like %(prefix)s escape '\\' or ("
            + " and ".join(described)
            + ")) order by event_count desc, hcpcs_code limit %(limit)s) union all "
            "(select 'drug', generic_name, null, null, claim_count from marts.prescription_counts "
            "where data_year = %(year)s and geo_level = 'nation' and "
            + " and ".join(named)
            + " order by claim_count desc, generic_name limit %(limit)s) "
            "order by volume desc, key limit %(limit)s",
            params,
        )

    def product_places(self, kind: Product, key: str, year: int, level: str) -> ListQuery:
        """A HCPCS code or a generic drug in every state, ZIP or practice that bills or
        prescribes it, most events or claims first, with the geography's name and clinician
        and provider counts (for per-clinician rates)."""
        return ListQuery(
            f"{kind.name}_places",
            "pc.geo_id, g.display_name, g.state, "
            + kind.place_columns
            + ", g.clinician_count, g.provider_count",
            f"from marts.{kind.counts} pc join marts.geo_summary g on g.data_year = "
            "pc.data_year and g.geo_level = pc.geo_level and g.geo_id = pc.geo_id "
            "where pc.data_year = %(year)s and pc.geo_level = %(level)s "
            f"and pc.{kind.key} = %(key)s",
            {"year": year, "level": level, "key": key},
            (Key(f"pc.{kind.volume}", "int", descending=True), Key("pc.geo_id")),
            # every geography of the counts has its geo_summary row (dbt's
            # assert_geo_summary_agrees_with_details): counted from the counts' index alone
            count_source=f"from marts.{kind.counts} pc where pc.data_year = %(year)s "
            f"and pc.geo_level = %(level)s and pc.{kind.key} = %(key)s",
        )
