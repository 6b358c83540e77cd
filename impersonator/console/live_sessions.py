"""Live sessions: every active impersonation, and *Terminate* (also on an impersonation's detail page:
the officer lands back where they pressed it, with the confirmation in a flash)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from impersonator import clock
from impersonator.console import impersonation_detail
from impersonator.console.access import requires
from impersonator.console.audit_forms import TerminateForm
from impersonator.services import wording
from impersonator.services.errors import DomainError
from impersonator.services.impersonation import live_sessions
from impersonator.services.staff.roles import Permission
from impersonator.web import client_ip

bp = Blueprint("live_sessions", __name__, url_prefix="/audit/live")


@bp.get("")
@requires(Permission.AUDIT)
def index():
    return _page()


@bp.post("/<int:impersonation_id>/terminate")
@requires(Permission.AUDIT)
def terminate(impersonation_id: int):
    form = TerminateForm()
    from_detail = request.form.get("back") == impersonation_detail.BACK
    if not form.validate_on_submit():
        if from_detail:
            return impersonation_detail.page(impersonation_id, form=form, status=400)
        return _page(invalid=(impersonation_id, form), status=400)
    try:
        done = live_sessions.terminate(
            impersonation_id, reason=form.reason.data, officer=current_user, ip=client_ip(), now=clock.now()
        )
    except DomainError as refused:
        if refused.status == 404:
            abort(404)
        flash(refused.message, "error")
        if from_detail:
            return impersonation_detail.page(impersonation_id, status=refused.status)
        return _page(status=refused.status)
    imp = done.impersonation
    who = f"{imp.staff.name}'s impersonation of {imp.user.name}"
    if done.ended:
        flash(f"Terminated {who}: their next request is refused.", "info")
    else:
        why = wording.end_sentence((imp.end_reason if imp.ended_at else None) or "expired")
        flash(f"{who} had already ended, so nothing was changed. {why}", "info")
    if from_detail:
        return redirect(url_for("impersonation_detail.show", impersonation_id=imp.id), code=303)
    return redirect(url_for("live_sessions.index"), code=303)


def _page(*, invalid: tuple[int, TerminateForm] | None = None, status: int = 200):
    sessions = live_sessions.active(clock.now())
    # One form per row; the row that was just refused shows its errors.
    forms = {s.impersonation.id: TerminateForm(formdata=None) for s in sessions}
    if invalid is not None and invalid[0] in forms:
        forms[invalid[0]] = invalid[1]
    elif invalid is not None:
        flash("That impersonation is no longer live.", "info")
    return render_template("console/audit/live_sessions.html", sessions=sessions, forms=forms), status
