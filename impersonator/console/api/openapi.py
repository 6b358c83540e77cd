"""The API's OpenAPI 3.1 description, served at /api/v1/openapi.json. The tests validate every
endpoint's real responses against it (openapi-core), so it cannot drift from what the API sends."""

from __future__ import annotations

from typing import Any

from impersonator.models import API_SCOPES, REASON_CODES

_STR = {"type": "string"}
_NSTR = {"type": ["string", "null"]}
_INT = {"type": "integer"}
_NINT = {"type": ["integer", "null"]}
_TIME = {"type": "string", "format": "date-time"}
_NTIME = {"type": ["string", "null"], "format": "date-time"}


def _object(properties: dict[str, Any], *, required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _errors(*statuses: int) -> dict[str, Any]:
    return {
        str(status): {
            "description": DESCRIPTIONS[status],
            "content": {"application/json": {"schema": _ref("Error")}},
        }
        for status in statuses
    }


def _ok(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"200": {"description": description, "content": {"application/json": {"schema": schema}}}}


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or _STR,
    }


DESCRIPTIONS = {
    400: "A filter, cursor or body is wrong (`error.code` says which rule).",
    401: "No key, or a malformed, unknown or revoked one, or one whose creator is no longer an admin.",
    403: "The key lacks this endpoint's scope (`insufficient_scope`); audited.",
    404: "No such impersonation.",
    429: "Too many calls (API_RATE_LIMIT); `Retry-After` says when to try again.",
}

_PERSON = _object({"id": _INT, "email": _STR, "name": _STR})
_IMPERSONATION = _object(
    {
        "id": _INT,
        "state": {"enum": ["issued", "expired_unredeemed", "active", "ended"]},
        "staff": _PERSON,
        "user": _PERSON,
        "tenant": _object({"id": _INT, "slug": _STR, "name": _STR}),
        "reason": _STR,
        "reason_code": {"enum": [*REASON_CODES, None]},
        "break_glass": {"type": "boolean"},
        "ticket": _NSTR,
        "mode": {"enum": ["read_only", "full"]},
        "duration_minutes": _INT,
        "access_via": _STR,
        "issued_at": _TIME,
        "token_expires_at": _TIME,
        "redeemed_at": _NTIME,
        "expires_at": _NTIME,
        "ended_at": _NTIME,
        "end_reason": _NSTR,
        "end_note": _NSTR,
        "issue_ip": _NSTR,
        "redeem_ip": _NSTR,
    }
)
_EVENT = _object(
    {
        "seq": {"type": "integer", "minimum": 1},
        "at": _TIME,
        "actor": _object(
            {
                "type": {"enum": ["staff", "customer", "system", "anonymous", "api_key"]},
                "id": _NINT,
                "label": _STR,
            }
        ),
        "action": _STR,
        "outcome": {"enum": ["success", "failure", "denied"]},
        "target": {"oneOf": [{"type": "null"}, _object({"type": _STR, "id": _NINT})]},
        "tenant_id": _NINT,
        "impersonation_id": _NINT,
        "ip": _NSTR,
        "details": {"type": "object"},
        "prev_hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
    }
)
_WITH_EVENTS = {
    "allOf": [_ref("Impersonation"), _object({"events": {"type": "array", "items": _ref("AuditEvent")}})]
}
_SESSION = {"allOf": [_ref("Impersonation"), _object({"seconds_left": {"type": "integer", "minimum": 0}})]}
_ID = {
    "name": "impersonation_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}

DESCRIPTION: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Impersonator API",
        "version": "1.0.0",
        "description": (
            "For security tooling: impersonations, live sessions and their termination, and the audit "
            "log followed by `seq` cursor. Authenticate with `Authorization: Bearer imp_live_…` (an API "
            "key an admin creates on the console, with scopes: " + ", ".join(API_SCOPES) + "). Every "
            'call is audited and rate limited; every error is `{"error": {"code", "message"}}`.'
        ),
    },
    "servers": [{"url": "/api/v1"}],
    "security": [{"apiKey": []}],
    "paths": {
        "/impersonations": {
            "get": {
                "summary": "Impersonations, newest first (scope impersonations:read)",
                "parameters": [
                    _query("from", "Issued on or after this UTC day (YYYY-MM-DD)"),
                    _query("to", "Issued on or before this UTC day (YYYY-MM-DD)"),
                    _query("staff", "Staff member: id or email"),
                    _query("tenant", "Tenant: id or slug"),
                    _query("user", "Customer: id or email"),
                    _query("reason", "Reason code", {"enum": list(REASON_CODES)}),
                    _query("before", "The `next` of the previous page", {"type": "integer", "minimum": 1}),
                    _query("limit", "How many to return (1 to 200, default 50)", _INT),
                ],
                "responses": {
                    **_ok(
                        _object({"items": {"type": "array", "items": _ref("Impersonation")}, "next": _NINT}),
                        "A page; `next` is the `before` of the following one (null: the last page).",
                    ),
                    **_errors(400, 401, 403, 429),
                },
            }
        },
        "/impersonations/{impersonation_id}": {
            "get": {
                "summary": "One impersonation and its audit events (scope impersonations:read)",
                "parameters": [_ID],
                "responses": {**_ok(_WITH_EVENTS, "The impersonation."), **_errors(401, 403, 404, 429)},
            }
        },
        "/sessions": {
            "get": {
                "summary": "Live ghost sessions, soonest to end first (scope impersonations:read)",
                "responses": {
                    **_ok(_object({"items": {"type": "array", "items": _SESSION}}), "The live sessions."),
                    **_errors(401, 403, 429),
                },
            }
        },
        "/sessions/{impersonation_id}/terminate": {
            "post": {
                "summary": "End a live session now, with a reason (scope sessions:terminate)",
                "parameters": [_ID],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": _object(
                                {"reason": {"type": "string", "minLength": 1, "maxLength": 500}}
                            )
                        }
                    },
                },
                "responses": {
                    **_ok(
                        _object({"terminated": {"type": "boolean"}, "impersonation": _ref("Impersonation")}),
                        "Ended now (`terminated`: true) or had already ended (false; nothing changed). "
                        "The ghost's next request is refused.",
                    ),
                    **_errors(400, 401, 403, 404, 429),
                },
            }
        },
        "/audit-events": {
            "get": {
                "summary": "Audit events after a cursor, in chain order (scope audit:read)",
                "parameters": [
                    _query("after", "The `next` of the previous call (0 or absent: from the start)", _INT),
                    _query("limit", "How many to return (1 to 1000, default 100)", _INT),
                ],
                "responses": {
                    **_ok(
                        _object({"items": {"type": "array", "items": _ref("AuditEvent")}, "next": _INT}),
                        "Events with seq > after, gapless; pass `next` as `after` to continue.",
                    ),
                    **_errors(400, 401, 403, 429),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "summary": "This description (no key needed)",
                "security": [],
                "responses": _ok({"type": "object"}, "OpenAPI 3.1"),
            }
        },
    },
    "components": {
        "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Error": _object({"error": _object({"code": _STR, "message": _STR})}),
            "Impersonation": _IMPERSONATION,
            "AuditEvent": _EVENT,
        },
    },
}
