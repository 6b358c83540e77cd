"""One impersonation in full, for the security team; a live one can be terminated from here too
(the form posts to live_sessions.terminate, which comes back here with its confirmation)."""

from __future__ import annotations

from flask import Blueprint, abort, render_template

from impersonator import clock
from impersonator.console.access import requires
from impersonator.console.audit_forms import TerminateForm
from impersonator.services.impersonation import live_sessions
from impersonator.services.staff.roles import Permission

bp = Blueprint("impersonation_detail", __name__, url_prefix="/audit/impersonations")

# The value of the terminate form's hidden `back` field on this page: come back here after it.
BACK = "detail"


@bp.get("/<int:impersonation_id>")
@requires(Permission.AUDIT)
def show(impersonation_id: int):
    return page(impersonation_id)


def page(impersonation_id: int, *, form: TerminateForm | None = None, status: int = 200):
    """The detail page; `form` is a terminate form sent back with its errors."""
    try:
        found = live_sessions.detail(impersonation_id)
    except live_sessions.ImpersonationNotFound:
        abort(404)
    body = render_template(
        "console/audit/impersonation_detail.html",
        detail=found,
        now=clock.now(),
        form=form or TerminateForm(formdata=None),
        back=BACK,
    )
    return body, status
