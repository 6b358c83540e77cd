"""The API's endpoints: thin, each one service call (services/api/), answered as JSON."""

from __future__ import annotations

from flask import g, jsonify, request

from impersonator import clock
from impersonator.console.api import bp, error, scoped
from impersonator.console.api.openapi import DESCRIPTION
from impersonator.services.api import queries, sessions
from impersonator.services.errors import DomainError
from impersonator.web import client_ip


def _refused(refused: DomainError):
    return error(refused.status, refused.reason, refused.message)


@bp.get("/openapi.json")
@scoped(None)
def openapi():
    return jsonify(DESCRIPTION)


@bp.get("/impersonations")
@scoped("impersonations:read")
def impersonations():
    try:
        return jsonify(queries.impersonations(request.args, now=clock.now()))
    except DomainError as refused:
        return _refused(refused)


@bp.get("/impersonations/<int:impersonation_id>")
@scoped("impersonations:read")
def impersonation(impersonation_id: int):
    try:
        return jsonify(queries.impersonation(impersonation_id, now=clock.now()))
    except DomainError as refused:
        return _refused(refused)


@bp.get("/sessions")
@scoped("impersonations:read")
def live_sessions():
    return jsonify(queries.sessions(now=clock.now()))


@bp.post("/sessions/<int:impersonation_id>/terminate")
@scoped("sessions:terminate")
def terminate_session(impersonation_id: int):
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        return error(
            400, "bad_json", 'Send a JSON object such as {"reason": "Ticket SEC-12: unexpected access"}.'
        )
    try:
        done = sessions.terminate(
            impersonation_id, reason=body.get("reason"), api_key=g.api_key, ip=client_ip(), now=clock.now()
        )
    except DomainError as refused:
        return _refused(refused)
    return jsonify(done)


@bp.get("/audit-events")
@scoped("audit:read")
def audit_events():
    try:
        return jsonify(queries.events_after(request.args))
    except DomainError as refused:
        return _refused(refused)
