"""The JSON API, `/api/v1`: the dashboard's data for other tools, with an OpenAPI description.

Every response is JSON, or CSV with `?format=csv` on a list endpoint (written by `exports`,
formula cells neutralised). Invalid input (a number that is not plain ASCII digits in range,
say) is a 400 with a message, an unknown geography, provider, code, drug or year a 404.

Every list is paginated (`validation.page`): `limit` rows (each list has its own default, at
most 1,000), from `offset`, or after a `cursor`. The body stays a JSON array, as before
pagination; the page's context is in headers: `X-Total-Count` (the whole list's rows),
`X-Next-Cursor` and a `Link: <...>; rel="next"` (absent on the last page). `format=csv` is
the whole list, streamed (the page parameters are checked, then not applied).
"""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import quote, urlencode

from flask import Blueprint, current_app, jsonify, request

from medidash.dashboard import exports
from medidash.dashboard import validation as v
from medidash.dashboard.queries import DRUG, PROCEDURE, ListQuery, Product

api = Blueprint("api_v1", __name__, url_prefix="/api/v1")
# the default page size of lists a client wants whole (a map's states, a year series)
WHOLE = v.MAX_PAGE


def _marts():
    return current_app.extensions["medidash_marts"]


def _json_value(value):
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _json_row(row: dict) -> dict:
    return {k: _json_value(val) for k, val in row.items()}


def _csv() -> bool:
    fmt = request.args.get("format")
    if fmt not in (None, "json", "csv"):
        raise v.InvalidInput("format must be json or csv")
    return fmt == "csv"


def _list(query: ListQuery, name: str, default: int = 25, must_exist: bool = False):
    """A list endpoint's response: one page as JSON, or the whole list as streamed CSV.
    `must_exist`: an empty list is a 404 (a series of something never loaded)."""
    page = v.page(request.args, default)
    csv = _csv()
    marts = _marts()
    if must_exist and marts.page(query, v.Page(1)).total == 0:
        raise NotFound(f"no {name.replace('-', ' ')} in any loaded year")
    if csv:
        return exports.csv_stream_response(marts.stream(query), name)
    result = marts.page(query, page)
    response = jsonify([_json_row(r) for r in result.rows])
    response.headers["X-Total-Count"] = str(result.total)
    if result.next_cursor is not None:
        args = {k: val for k, val in request.args.items() if k not in ("offset", "cursor")}
        args["cursor"] = result.next_cursor
        response.headers["X-Next-Cursor"] = result.next_cursor
        # the path as a URL again (a drug's name holds spaces; the header holds no raw text)
        response.headers["Link"] = f'<{quote(request.path)}?{urlencode(args)}>; rel="next"'
    return response


class NotFound(LookupError):
    pass


@api.errorhandler(v.InvalidInput)
def _invalid(error):
    return jsonify({"error": str(error)}), 400


@api.errorhandler(NotFound)
def _not_found(error):
    return jsonify({"error": str(error)}), 404


def _year() -> int:
    year = _marts().resolve_year(v.year(request.args.get("year")))
    if year is None:
        raise NotFound("no such data year loaded")
    return year


def _geo(level: str, geo_id: str) -> tuple[str, str, int, dict]:
    level, geo_id = v.geo(level, geo_id)
    year = _year()
    summary = _marts().summary(level, geo_id, year)
    if summary is None:
        raise NotFound(f"no {level} {geo_id} in {year}")
    return level, geo_id, year, summary


def _geo_arg() -> tuple[str, str]:
    """The geography of a code's or drug's series (`?level=&geo_id=`), the nation by default."""
    level = request.args.get("level", "nation")
    return v.geo(level, request.args.get("geo_id", v.NATION if level == "nation" else None))


@api.get("/years")
def years():
    return jsonify(_marts().years())


@api.get("/states")
def states():
    year = _year()
    return _list(_marts().states_list(year), f"states-{year}", WHOLE)


@api.get("/geo/<level>/<geo_id>")
def geo_summary(level, geo_id):
    *_, summary = _geo(level, geo_id)
    return jsonify(_json_row(summary))


@api.get("/geo/<level>/<geo_id>/series")
def geo_series(level, geo_id):
    level, geo_id = v.geo(level, geo_id)
    query = _marts().geo_series(level, geo_id)
    return _list(query, f"series-{level}-{geo_id}", WHOLE, must_exist=True)


@api.get("/geo/<level>/<geo_id>/procedures")
def procedures(level, geo_id):
    level, geo_id, year, _ = _geo(level, geo_id)
    drugs = v.flag("drugs", request.args.get("drugs"))
    query = _marts().procedures_list(level, geo_id, year, drugs)
    return _list(query, f"{'drugs' if drugs else 'procedures'}-{level}-{geo_id}-{year}")


@api.get("/geo/<level>/<geo_id>/prescriptions")
def prescriptions(level, geo_id):
    level, geo_id, year, _ = _geo(level, geo_id)
    query = _marts().prescriptions_list(level, geo_id, year)
    return _list(query, f"prescriptions-{level}-{geo_id}-{year}")


@api.get("/geo/<level>/<geo_id>/specialties")
def specialties(level, geo_id):
    level, geo_id, year, _ = _geo(level, geo_id)
    query = _marts().specialties_list(level, geo_id, year)
    return _list(query, f"specialties-{level}-{geo_id}-{year}", 200)


@api.get("/geo/<level>/<geo_id>/schools")
def schools(level, geo_id):
    level, geo_id, year, _ = _geo(level, geo_id)
    query = _marts().schools_list(level, geo_id, year)
    return _list(query, f"schools-{level}-{geo_id}-{year}", 15)


@api.get("/practices")
def practices():
    text = v.api_search_text(request.args.get("q"))
    if len(text) < 2:
        raise v.InvalidInput("q needs at least two characters")
    year = _year()
    return _list(_marts().practices_list(text, year), f"practices-{year}", 20)


@api.get("/practices/<practice_id>/hospitals")
def hospitals(practice_id):
    _, practice_id, year, _ = _geo("practice", practice_id)
    query = _marts().hospitals_list(practice_id, year)
    return _list(query, f"hospitals-{practice_id}-{year}", 100)


@api.get("/providers")
def providers():
    text = v.api_search_text(request.args.get("q"))
    state = v.state(request.args.get("state"))
    provider_type = v.provider_type(request.args.get("provider_type"))
    year = _year()
    query = _marts().provider_search(year, text, state, provider_type)
    return _list(query, f"providers-{year}")


@api.get("/provider-types")
def provider_types():
    year = _year()
    return _list(_marts().provider_types(year), f"provider-types-{year}", WHOLE)


def _provider(npi: str) -> tuple[str, int, dict]:
    npi = v.npi(npi)
    year = _year()
    row = _marts().provider(npi, year)
    if row is None:
        raise NotFound(f"no provider {npi} in {year}")
    return npi, year, row


@api.get("/providers/<npi>")
def provider(npi):
    npi = v.npi(npi)
    year = _year()
    with _marts().consistent() as marts:
        row = marts.provider(npi, year)
        if row is None:
            raise NotFound(f"no provider {npi} in {year}")
        peers = marts.provider_peers(row)
        loaded = marts.provider_years(npi)
    return jsonify(
        {
            "provider": _json_row(row),
            "peers": {name: _json_row(group) for name, group in peers.items()},
            "years": loaded,
        }
    )


@api.get("/providers/<npi>/procedures")
def provider_procedures(npi):
    npi, year, _ = _provider(npi)
    drugs = v.flag("drugs", request.args.get("drugs"), default=None)
    query = _marts().provider_procedures(npi, year, drugs)
    return _list(query, f"procedures-{npi}-{year}")


@api.get("/providers/<npi>/prescriptions")
def provider_prescriptions(npi):
    npi, year, _ = _provider(npi)
    return _list(_marts().provider_prescriptions(npi, year), f"prescriptions-{npi}-{year}")


@api.get("/providers/<npi>/series")
def provider_series(npi):
    npi = v.npi(npi)
    return _list(_marts().provider_series(npi), f"provider-{npi}", WHOLE, must_exist=True)


def _product_routes(kind: Product, rule: str, param: str, valid, what: str) -> None:
    """The four routes of one product kind under `rule` (its path, naming the product by
    `param`): the national figure, every state's (a map), its providers, its year series."""

    def subject(key: str) -> tuple[str, int, dict]:
        key = valid(key)
        year = _year()
        row = _marts().product(kind, key, year)
        if row is None:
            raise NotFound(f"no {what} {key} in {year}")
        return key, year, row

    def national(**path):
        *_, row = subject(path[param])
        return jsonify(_json_row(row))

    def states(**path):
        key, year, _ = subject(path[param])
        return _list(_marts().product_states(kind, key, year), f"states-{key}-{year}", WHOLE)

    def providers(**path):
        key, year, _ = subject(path[param])
        state = v.state(request.args.get("state"))
        query = _marts().product_providers(kind, key, year, state)
        return _list(query, f"providers-{key}-{year}")

    def series(**path):
        key = valid(path[param])
        level, geo_id = _geo_arg()
        query = _marts().product_series(kind, key, level, geo_id)
        return _list(query, f"series-{key}-{level}-{geo_id}", WHOLE, must_exist=True)

    for suffix, view in (("", national), ("/states", states), ("/providers", providers),
                         ("/series", series)):  # fmt: skip
        api.add_url_rule(rule + suffix, f"{kind.name}{suffix.replace('/', '_')}", view)


_product_routes(PROCEDURE, "/procedures/<code>", "code", v.hcpcs, "HCPCS code")
_product_routes(DRUG, "/drugs/<path:generic_name>", "generic_name", v.drug, "generic drug")


@api.get("/openapi.json")
def openapi():
    return jsonify(OPENAPI)


@api.route("/<path:unknown>", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
def no_such_endpoint(unknown):
    """Anything else under /api/v1 is a JSON 404 (never the dashboard's page)."""
    return jsonify({"error": "no such endpoint"}), 404


# The OpenAPI document: every route above, its parameters and its responses.


def _param(name, where, schema, description, required=False):
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "schema": schema,
        "description": description,
    }


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


_YEAR = _param("year", "query", {"type": "integer"}, "Data year (default: the latest loaded).")
_LEVEL = _param("level", "path", {"type": "string", "enum": list(v.LEVELS)}, "Geography level.")
_ID = _param(
    "geo_id",
    "path",
    {"type": "string", "pattern": "^(US|[A-Z]{2}|[0-9]{5}|[0-9]{10})$"},
    "US (nation), state code, ZIP5 or practice PAC ID.",
)
_FORMAT = _param(
    "format",
    "query",
    {"type": "string", "enum": ["json", "csv"]},
    "json: one page; csv: the whole list, streamed.",
)
_OFFSET = _param(
    "offset",
    "query",
    {"type": "integer", "minimum": 0, "maximum": v.MAX_OFFSET, "default": 0},
    "Rows to skip (not with cursor).",
)
_CURSOR = _param(
    "cursor",
    "query",
    {"type": "string", "maxLength": v.MAX_CURSOR},
    "Start after the row this cursor names: a previous page's X-Next-Cursor (not with offset).",
)
_NPI = _param("npi", "path", {"type": "string", "pattern": "^[0-9]{10}$"}, "Provider NPI.")
_CODE = _param("code", "path", {"type": "string", "pattern": "^[0-9A-Za-z]{5}$"}, "HCPCS code.")
_DRUG = _param(
    "generic_name",
    "path",
    {"type": "string", "maxLength": v.MAX_NAME},
    "Generic drug name, any case (as in the marts once upper-cased; may contain /).",
)
_STATE = _param(
    "state", "query", {"type": "string", "pattern": "^[A-Za-z]{2}$"}, "Only this state."
)
_SERIES_GEO = [
    _param(
        "level",
        "query",
        {"type": "string", "enum": list(v.LEVELS), "default": "nation"},
        "Geography level of the series.",
    ),
    _param(
        "geo_id",
        "query",
        {"type": "string"},
        "Geography of the series (default US for the nation).",
    ),
]


def _product_paths(path: str, key: dict, what: str, providers: str, schema: str) -> dict:
    """The OpenAPI entries of `_product_routes`' four routes of one product kind under
    `path`, naming the product by path parameter `key`."""
    return {
        path: _object_op(f"{what}'s national figure", [key, _YEAR], schema),
        f"{path}/states": _list_op(f"{what} in every state (for a map)", [key, _YEAR], WHOLE),
        f"{path}/providers": _list_op(providers, [key, _YEAR, _STATE], 25),
        f"{path}/series": _list_op(
            f"{what} in every loaded year (nationally, or in one geography)",
            [key, *_SERIES_GEO],
            WHOLE,
        ),
    }


_DRUGS_FLAG = _param(
    "drugs",
    "query",
    {"type": "string", "enum": ["true", "false"]},
    "Part B drugs (true) or procedures (false).",
)
_ERROR = {"content": {"application/json": {"schema": _ref("Error")}}}
_ERRORS = {
    "400": {"description": "Invalid input", **_ERROR},
    "404": {"description": "Unknown geography, provider, code, drug or year", **_ERROR},
}
_PAGE_HEADERS = {
    "X-Total-Count": {
        "description": "Rows in the whole list",
        "schema": {"type": "integer"},
    },
    "X-Next-Cursor": {
        "description": "The next page's cursor (absent on the last page)",
        "schema": {"type": "string"},
    },
    "Link": {
        "description": 'The next page\'s URL, rel="next" (absent on the last page)',
        "schema": {"type": "string"},
    },
}


def _list_op(summary: str, params: list, default: int, item: str | None = None) -> dict:
    """A list endpoint: its own parameters, then the page's (limit with this list's default,
    offset, cursor, format)."""
    limit = _param(
        "limit",
        "query",
        {"type": "integer", "minimum": 1, "maximum": v.MAX_PAGE, "default": default},
        "Rows per page.",
    )
    items = _ref(item) if item else {"type": "object"}
    return {
        "get": {
            "summary": summary,
            "parameters": [*params, limit, _OFFSET, _CURSOR, _FORMAT],
            "responses": {
                "200": {
                    "description": "One page of rows as JSON, or the whole list as CSV",
                    "headers": _PAGE_HEADERS,
                    "content": {
                        "application/json": {"schema": {"type": "array", "items": items}},
                        "text/csv": {"schema": {"type": "string"}},
                    },
                },
                **_ERRORS,
            },
        }
    }


def _object_op(summary: str, params: list, schema: str) -> dict:
    return {
        "get": {
            "summary": summary,
            "parameters": params,
            "responses": {
                "200": {
                    "description": summary,
                    "content": {"application/json": {"schema": _ref(schema)}},
                },
                **_ERRORS,
            },
        }
    }


def _properties(types: dict[str, str], nullable: tuple[str, ...] = ()) -> dict:
    return {
        "type": "object",
        "properties": {
            name: {"type": kind, **({"nullable": True} if name in nullable else {})}
            for name, kind in types.items()
        },
    }


_MONEY = ("submitted_charge", "allowed_amount", "paid_amount", "standardized_amount")
_PROCEDURE = {
    "data_year": "integer",
    "hcpcs_code": "string",
    "hcpcs_description": "string",
    "is_drug": "boolean",
    "event_count": "integer",
    "service_units": "number",
    "pct_of_geo": "number",
    **dict.fromkeys(_MONEY, "number"),
}
_PROVIDER = {
    "data_year": "integer",
    "npi": "string",
    "display_name": "string",
    "entity_type": "string",
    "provider_type": "string",
    "primary_specialty": "string",
    "state": "string",
    "zip5": "string",
    "procedure_events": "integer",
    "service_units": "number",
    "paid_amount": "number",
    "allowed_amount": "number",
    "prescription_claims": "integer",
    "drug_cost": "number",
    "mips_score": "number",
    "paid_pctile_state": "number",
    "paid_pctile_nation": "number",
    "claims_pctile_nation": "number",
}
_PROVIDER_SCHEMA = _properties(
    _PROVIDER,
    nullable=(
        "display_name",
        "entity_type",
        "provider_type",
        "primary_specialty",
        "state",
        "zip5",
        "allowed_amount",
        "paid_amount",
        "mips_score",
        "paid_pctile_state",
        "paid_pctile_nation",
        "claims_pctile_nation",
    ),
)
_PROVIDER_SCHEMA["properties"]["practice_ids"] = {"type": "array", "items": {"type": "string"}}

OPENAPI = {
    "openapi": "3.0.3",
    "info": {
        "title": "MediDash API",
        "version": "1",
        "description": "Medicare procedures, payments, prescriptions and clinicians by "
        "nation, state, ZIP code, group practice and provider, from the MediDash marts. "
        "Every list is paginated: limit (each list's default, at most 1000), offset or "
        "cursor; the whole list's row count is in X-Total-Count, the next page in "
        "X-Next-Cursor and Link. format=csv streams the whole list.",
    },
    "paths": {
        "/api/v1/years": {
            "get": {
                "summary": "Loaded data years, newest first",
                "responses": {
                    "200": {
                        "description": "Years",
                        "content": {
                            "application/json": {
                                "schema": {"type": "array", "items": {"type": "integer"}}
                            }
                        },
                    }
                },
            }
        },
        "/api/v1/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {
                    "200": {
                        "description": "The OpenAPI document",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        },
        "/api/v1/states": _list_op("Every state's summary", [_YEAR], WHOLE),
        "/api/v1/geo/{level}/{geo_id}": _object_op(
            "A geography's summary", [_LEVEL, _ID, _YEAR], "GeoSummary"
        ),
        "/api/v1/geo/{level}/{geo_id}/series": _list_op(
            "A geography's summary in every loaded year, with the change from the previous one",
            [_LEVEL, _ID],
            WHOLE,
        ),
        "/api/v1/geo/{level}/{geo_id}/procedures": _list_op(
            "Procedures (or Part B drugs with drugs=true) by events",
            [_LEVEL, _ID, _YEAR, _DRUGS_FLAG],
            25,
        ),
        "/api/v1/geo/{level}/{geo_id}/prescriptions": _list_op(
            "Part D prescriptions by claims", [_LEVEL, _ID, _YEAR], 25
        ),
        "/api/v1/geo/{level}/{geo_id}/specialties": _list_op(
            "Primary specialties of the clinicians", [_LEVEL, _ID, _YEAR], 200
        ),
        "/api/v1/geo/{level}/{geo_id}/schools": _list_op(
            "Medical schools of the clinicians", [_LEVEL, _ID, _YEAR], 15
        ),
        "/api/v1/practices": _list_op(
            "Practices by name (substring, any case) or PAC ID prefix",
            [
                _param(
                    "q",
                    "query",
                    {"type": "string", "minLength": 2, "maxLength": v.MAX_SEARCH},
                    "Search text.",
                    required=True,
                ),
                _YEAR,
            ],
            20,
        ),
        "/api/v1/practices/{practice_id}/hospitals": _list_op(
            "A practice's facility affiliations",
            [
                _param(
                    "practice_id",
                    "path",
                    {"type": "string", "pattern": "^[0-9]{10}$"},
                    "Practice PAC ID.",
                ),
                _YEAR,
            ],
            100,
        ),
        "/api/v1/providers": _list_op(
            "Provider search: display name prefix (any case) or NPI prefix (digits), by name",
            [
                _param(
                    "q",
                    "query",
                    {"type": "string", "maxLength": v.MAX_SEARCH},
                    "Name prefix, or NPI prefix when all digits (absent: every provider).",
                ),
                _STATE,
                _param(
                    "provider_type",
                    "query",
                    {"type": "string", "maxLength": v.MAX_NAME},
                    "Only this provider type (any case), as listed by /provider-types.",
                ),
                _YEAR,
            ],
            25,
            "ProviderHit",
        ),
        "/api/v1/provider-types": _list_op(
            "The year's provider types and their number of providers", [_YEAR], WHOLE
        ),
        "/api/v1/providers/{npi}": _object_op(
            "A provider's profile: its mart row, its peer groups, its loaded years",
            [_NPI, _YEAR],
            "ProviderProfile",
        ),
        "/api/v1/providers/{npi}/procedures": _list_op(
            "A provider's HCPCS codes by events",
            [
                _NPI,
                _YEAR,
                _param(
                    "drugs",
                    "query",
                    {"type": "string", "enum": ["true", "false"]},
                    "Only Part B drugs (true) or only procedures (false); absent: both.",
                ),
            ],
            25,
        ),
        "/api/v1/providers/{npi}/prescriptions": _list_op(
            "A provider's Part D drugs by claims", [_NPI, _YEAR], 25
        ),
        "/api/v1/providers/{npi}/series": _list_op(
            "A provider in every loaded year, with the change from its previous year",
            [_NPI],
            WHOLE,
        ),
        **_product_paths(
            "/api/v1/procedures/{code}",
            _CODE,
            "A HCPCS code",
            "The providers billing a HCPCS code, by events",
            "Procedure",
        ),
        **_product_paths(
            "/api/v1/drugs/{generic_name}",
            _DRUG,
            "A generic drug",
            "The prescribers of a generic drug, by claims",
            "Drug",
        ),
    },
    "components": {
        "schemas": {
            "Error": {
                "type": "object",
                "properties": {"error": {"type": "string"}},
                "required": ["error"],
            },
            "GeoSummary": _properties(
                {
                    "data_year": "integer",
                    "geo_level": "string",
                    "geo_id": "string",
                    "display_name": "string",
                    "state": "string",
                    "clinician_count": "integer",
                    "procedure_events": "integer",
                    "prescription_claims": "integer",
                    "avg_mips_score": "number",
                    "paid_amount": "number",
                    "drug_cost": "number",
                    "provider_count": "integer",
                },
                nullable=("state", "avg_mips_score"),
            ),
            "Procedure": _properties(_PROCEDURE, nullable=("hcpcs_description", *_MONEY)),
            "Drug": _properties(
                {
                    "data_year": "integer",
                    "generic_name": "string",
                    "claim_count": "integer",
                    "day_supply": "integer",
                    "drug_cost": "number",
                    "pct_of_geo": "number",
                }
            ),
            "ProviderHit": _properties(
                {
                    k: _PROVIDER[k]
                    for k in (
                        "npi",
                        "display_name",
                        "entity_type",
                        "provider_type",
                        "primary_specialty",
                        "state",
                        "zip5",
                        "procedure_events",
                        "paid_amount",
                        "prescription_claims",
                        "drug_cost",
                        "paid_pctile_nation",
                    )
                },
                nullable=("display_name", "entity_type", "provider_type", "primary_specialty"),
            ),
            "Provider": _PROVIDER_SCHEMA,
            "PeerGroup": _properties(
                {
                    "measure": "string",
                    "provider_type": "string",
                    "state": "string",
                    "providers": "integer",
                    "median": "number",
                    "p90": "number",
                    "value": "number",
                    "pctile": "number",
                },
                nullable=("state", "median", "p90", "pctile"),
            ),
            "ProviderProfile": {
                "type": "object",
                "properties": {
                    "provider": _ref("Provider"),
                    "peers": {
                        "type": "object",
                        "description": "Peer groups of the percentiles: providers of the "
                        "same provider type with a value above 0 (empty without a type)",
                        "properties": {
                            "paid_state": _ref("PeerGroup"),
                            "paid_nation": _ref("PeerGroup"),
                            "claims_nation": _ref("PeerGroup"),
                        },
                    },
                    "years": {"type": "array", "items": {"type": "integer"}},
                },
            },
        }
    },
}
