"""One impersonation in full, for the security team."""

from __future__ import annotations

from flask import Blueprint, abort, render_template

from impersonator import clock
from impersonator.console.access import requires
from impersonator.services.impersonation import live_sessions
from impersonator.services.staff.roles import Permission

bp = Blueprint("impersonation_detail", __name__, url_prefix="/audit/impersonations")


@bp.get("/<int:impersonation_id>")
@requires(Permission.AUDIT)
def show(impersonation_id: int):
    try:
        found = live_sessions.detail(impersonation_id)
    except live_sessions.ImpersonationNotFound:
        abort(404)
    return render_template("console/audit/impersonation_detail.html", detail=found, now=clock.now())
