"""Health probes for load balancers and orchestrators, on the console host only, without sign-in:
`/healthz` (the process answers; no database) and `/readyz` (it can serve: services/health.py).
Answers are tiny and name a failing check by one word, nothing more."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from impersonator import clock
from impersonator.services import health
from impersonator.web import public

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@public
def healthz() -> Response:
    """The process answers. Touches no database, so a database outage never restarts web processes."""
    return Response("ok\n", mimetype="text/plain")


@bp.get("/readyz")
@public
def readyz() -> tuple[Response, int]:
    """200 when ready; 503 with the failing checks' names when this process should get no traffic."""
    failing = health.failing_checks(now=clock.now())
    if failing:
        return jsonify(ok=False, failing=failing), 503
    return jsonify(ok=True), 200
