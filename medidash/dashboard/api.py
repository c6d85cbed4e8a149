"""The JSON API, `/api/v1`: the dashboard's data for other tools, with an OpenAPI description.

Every response is JSON (or CSV with `?format=csv` on the table endpoints, written by
`exports`, formula cells neutralised); invalid input (a number that is not plain ASCII digits
in range, say) is a 400 with a message, an unknown geography or year a 404.
"""

from __future__ import annotations

from decimal import Decimal

from flask import Blueprint, current_app, jsonify, request

from medidash.dashboard import exports
from medidash.dashboard import validation as v

api = Blueprint("api_v1", __name__, url_prefix="/api/v1")


def _marts():
    return current_app.extensions["medidash_marts"]


def _json_value(value):
    if isinstance(value, Decimal):
        return float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _rows(rows: list[dict], name: str):
    rows = [{k: _json_value(val) for k, val in r.items()} for r in rows]
    if request.args.get("format") == "csv":
        return exports.csv_response(rows, name)
    return jsonify(rows)


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


@api.get("/years")
def years():
    return jsonify(_marts().years())


@api.get("/states")
def states():
    year = _year()
    return _rows(_marts().states(year), f"states-{year}")


@api.get("/geo/<level>/<geo_id>")
def geo_summary(level, geo_id):
    *_, summary = _geo(level, geo_id)
    return jsonify({k: _json_value(val) for k, val in summary.items()})


@api.get("/geo/<level>/<geo_id>/procedures")
def procedures(level, geo_id):
    level, geo_id, year, _ = _geo(level, geo_id)
    drugs = request.args.get("drugs", "false")
    if drugs not in ("true", "false"):
        raise v.InvalidInput("drugs must be true or false")
    rows = _marts().procedures(level, geo_id, year, drugs == "true", limit=_limit())
    return _rows(rows, f"{'drugs' if drugs == 'true' else 'procedures'}-{level}-{geo_id}-{year}")


@api.get("/geo/<level>/<geo_id>/prescriptions")
def prescriptions(level, geo_id):
    level, geo_id, year, _ = _geo(level, geo_id)
    rows = _marts().prescriptions(level, geo_id, year, limit=_limit())
    return _rows(rows, f"prescriptions-{level}-{geo_id}-{year}")


@api.get("/geo/<level>/<geo_id>/specialties")
def specialties(level, geo_id):
    level, geo_id, year, _ = _geo(level, geo_id)
    return _rows(_marts().specialties(level, geo_id, year), f"specialties-{level}-{geo_id}-{year}")


@api.get("/geo/<level>/<geo_id>/schools")
def schools(level, geo_id):
    level, geo_id, year, _ = _geo(level, geo_id)
    rows = _marts().schools(level, geo_id, year, limit=_limit())
    return _rows(rows, f"schools-{level}-{geo_id}-{year}")


@api.get("/practices")
def practices():
    text = v.search_text(request.args.get("q"))
    if len(text) < 2:
        raise v.InvalidInput("q needs at least two characters")
    return jsonify(_marts().search_practices(text, _year()))


@api.get("/practices/<practice_id>/hospitals")
def hospitals(practice_id):
    _, practice_id, year, _ = _geo("practice", practice_id)
    return _rows(_marts().hospitals(practice_id, year), f"hospitals-{practice_id}-{year}")


def _limit() -> int:
    return v.limit(request.args.get("limit"))


@api.get("/openapi.json")
def openapi():
    return jsonify(OPENAPI)


def _param(name, where, schema, description, required=False):
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "schema": schema,
        "description": description,
    }


_YEAR = _param("year", "query", {"type": "integer"}, "Data year (default: the latest loaded).")
_LEVEL = _param("level", "path", {"type": "string", "enum": list(v.LEVELS)}, "Geography level.")
_ID = _param(
    "geo_id",
    "path",
    {"type": "string", "pattern": "^([A-Z]{2}|[0-9]{5}|[0-9]{10})$"},
    "State code, ZIP5 or practice PAC ID.",
)
_FORMAT = _param("format", "query", {"type": "string", "enum": ["json", "csv"]}, "Output format.")
_LIMIT = _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000}, "Rows.")
_ERRORS = {
    "400": {
        "description": "Invalid input",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    },
    "404": {
        "description": "Unknown geography or year",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    },
}


def _table(summary: str, params: list) -> dict:
    return {
        "get": {
            "summary": summary,
            "parameters": params,
            "responses": {
                "200": {
                    "description": "Rows, largest first",
                    "content": {
                        "application/json": {
                            "schema": {"type": "array", "items": {"type": "object"}}
                        },
                        "text/csv": {"schema": {"type": "string"}},
                    },
                },
                **_ERRORS,
            },
        }
    }


OPENAPI = {
    "openapi": "3.0.3",
    "info": {
        "title": "MediDash API",
        "version": "1",
        "description": "Medicare procedures, prescriptions and clinicians by state, ZIP "
        "code and group practice, from the MediDash marts.",
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
        "/api/v1/states": _table("Every state's summary", [_YEAR, _FORMAT]),
        "/api/v1/geo/{level}/{geo_id}": {
            "get": {
                "summary": "A geography's summary",
                "parameters": [_LEVEL, _ID, _YEAR],
                "responses": {
                    "200": {
                        "description": "Summary",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/GeoSummary"}
                            }
                        },
                    },
                    **_ERRORS,
                },
            }
        },
        "/api/v1/geo/{level}/{geo_id}/procedures": _table(
            "Procedures (or Part B drugs with drugs=true) by events",
            [
                _LEVEL,
                _ID,
                _YEAR,
                _FORMAT,
                _LIMIT,
                _param(
                    "drugs",
                    "query",
                    {"type": "string", "enum": ["true", "false"]},
                    "Part B drugs instead of procedures.",
                ),
            ],
        ),
        "/api/v1/geo/{level}/{geo_id}/prescriptions": _table(
            "Part D prescriptions by claims", [_LEVEL, _ID, _YEAR, _FORMAT, _LIMIT]
        ),
        "/api/v1/geo/{level}/{geo_id}/specialties": _table(
            "Primary specialties of the clinicians", [_LEVEL, _ID, _YEAR, _FORMAT]
        ),
        "/api/v1/geo/{level}/{geo_id}/schools": _table(
            "Medical schools of the clinicians", [_LEVEL, _ID, _YEAR, _FORMAT, _LIMIT]
        ),
        "/api/v1/practices": _table(
            "Practices by name (substring, any case) or PAC ID prefix",
            [
                _param(
                    "q",
                    "query",
                    {"type": "string", "minLength": 2, "maxLength": 80},
                    "Search text.",
                    required=True,
                ),
                _YEAR,
            ],
        ),
        "/api/v1/practices/{practice_id}/hospitals": _table(
            "A practice's facility affiliations",
            [
                _param(
                    "practice_id",
                    "path",
                    {"type": "string", "pattern": "^[0-9]{10}$"},
                    "Practice PAC ID.",
                ),
                _YEAR,
                _FORMAT,
            ],
        ),
    },
    "components": {
        "schemas": {
            "Error": {
                "type": "object",
                "properties": {"error": {"type": "string"}},
                "required": ["error"],
            },
            "GeoSummary": {
                "type": "object",
                "properties": {
                    "data_year": {"type": "integer"},
                    "geo_level": {"type": "string"},
                    "geo_id": {"type": "string"},
                    "display_name": {"type": "string"},
                    "state": {"type": "string", "nullable": True},
                    "clinician_count": {"type": "integer"},
                    "procedure_events": {"type": "integer"},
                    "prescription_claims": {"type": "integer"},
                    "avg_mips_score": {"type": "number", "nullable": True},
                },
            },
        }
    },
}


@api.route("/<path:unknown>", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
def no_such_endpoint(unknown):
    """Anything else under /api/v1 is a JSON 404 (never the dashboard's page)."""
    return jsonify({"error": "no such endpoint"}), 404
