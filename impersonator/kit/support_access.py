"""The customer's Settings → Support access, and the access history with *Revoke now*.

All of it belongs to the account's owner alone: `@not_for_impersonators` refuses every view and
action to the ghost, whatever the mode (DESIGN I7); the consent service refuses the changes too.
A new support access code is shown once, on the page the POST that made it redirects to (no-store):
it waits for that GET encrypted in the session (impersonator/web_once.py), never in a flash, an
address or a log, and a reload finds it gone and says so.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, flash, redirect, render_template, url_for

from impersonator import clock, web_once
from impersonator.kit.forms import AccessNoticeForm, OptInForm
from impersonator.kit.ghost import current_impersonation, not_for_impersonators
from impersonator.kit.host import host
from impersonator.models import User
from impersonator.services.consent import access_history, support_access
from impersonator.services.errors import DomainError
from impersonator.web import client_ip, error_page, refusal_headers

bp = Blueprint("support_access", __name__, url_prefix="/settings/support-access")
CODE_SLOT = "access_code"


def _customer() -> User:
    """The signed-in customer, as the host app finds them (its `current_customer`)."""
    customer = host().current_customer()
    if customer is None:  # the host's sign-in check lets a signed-out visitor through
        abort(401)
    return customer


def _ghost() -> bool:
    return current_impersonation() is not None


@bp.get("")
@not_for_impersonators
def show():
    return _page(generated=_code_to_show())


@bp.post("/opt-in")
@not_for_impersonators
def opt_in():
    form = OptInForm()
    form.period.choices = list(support_access.periods().items())
    if not form.validate_on_submit():
        return _page(opt_in_form=form, status=400)
    try:
        until = support_access.opt_in(
            _customer(), form.period.data, ghost=_ghost(), ip=client_ip(), now=clock.now()
        )
    except DomainError as refused:
        return _refused(refused, opt_in_form=form)
    flash(f"Support may access your account without a code until {until:%Y-%m-%d %H:%M UTC}.", "info")
    return redirect(url_for("support_access.show"), code=303)


@bp.post("/opt-out")
@not_for_impersonators
def opt_out():
    try:
        was_on = support_access.opt_out(_customer(), ghost=_ghost(), ip=client_ip(), now=clock.now())
    except DomainError as refused:
        return _refused(refused)
    if was_on:
        flash("Support access without a code is turned off, starting now.", "info")
    else:
        flash("Support access without a code was already off.", "info")
    return redirect(url_for("support_access.show"), code=303)


@bp.post("/code")
@not_for_impersonators
def generate_code():
    try:
        generated = support_access.generate_code(_customer(), ghost=_ghost(), ip=client_ip(), now=clock.now())
    except support_access.CodeEntryLocked as locked:
        # The page says so where the code would be; a flash on top would say it twice.
        return _page(status=locked.status, headers=refusal_headers(locked))
    except DomainError as refused:
        return _refused(refused)
    # Shown once, by the GET this redirects to: a reload then neither makes a new code nor shows it again.
    web_once.keep(
        CODE_SLOT, _customer().id, {"code": generated.code, "expires_at": generated.expires_at.isoformat()}
    )
    return redirect(url_for("support_access.show"), code=303)


@bp.post("/code/revoke")
@not_for_impersonators
def revoke_code():
    try:
        revoked = support_access.revoke_codes(_customer(), ghost=_ghost(), ip=client_ip(), now=clock.now())
    except DomainError as refused:
        return _refused(refused)
    if revoked:
        flash("Your support access code is revoked: it no longer works.", "info")
    else:
        flash("You had no active code.", "info")
    return redirect(url_for("support_access.show"), code=303)


@bp.post("/notifications")
@not_for_impersonators
def notifications():
    form = AccessNoticeForm()
    if not form.validate_on_submit():
        return _page(notice_form=form, status=400)
    wanted = bool(form.notify_on_access.data)
    try:
        support_access.set_access_notice(_customer(), wanted, ghost=_ghost(), ip=client_ip(), now=clock.now())
    except DomainError as refused:
        return _refused(refused)
    if wanted:
        flash("You will get an email whenever support accesses your account.", "info")
    else:
        flash("You will no longer get an email when support accesses your account.", "info")
    return redirect(url_for("support_access.show"), code=303)


@bp.get("/history")
@not_for_impersonators
def history():
    now = clock.now()
    return render_template(
        "tenant/support_access/access_history.html",
        entries=access_history.for_user(_customer(), now),
        now=now,
    )


@bp.post("/history/<int:impersonation_id>/revoke")
@not_for_impersonators
def revoke(impersonation_id: int):
    try:
        ended = access_history.revoke(_customer(), impersonation_id, ip=client_ip(), now=clock.now())
    except access_history.SessionNotFound as missing:
        return error_page(404, missing.message)
    if ended:
        flash("Support's session in your account is ended: their next click is refused.", "info")
    else:
        flash("This support session had already ended.", "info")
    return redirect(url_for("support_access.history"), code=303)


def _code_to_show() -> support_access.GeneratedCode | None:
    """The code the last POST made, once: on the first GET after it, while it is still the active one."""
    kept = web_once.take(CODE_SLOT, _customer().id)
    if kept is None:
        return None
    try:
        code, expires_at = str(kept["code"]), datetime.fromisoformat(kept["expires_at"])
    except (KeyError, TypeError, ValueError):
        return None
    generated = support_access.GeneratedCode(code, expires_at)
    current = support_access.current_code_expiry(_customer(), clock.now())
    # Revoked, replaced or lapsed in between: nothing to read out any more.
    if current is None or abs((current - generated.expires_at).total_seconds()) >= 1:
        return None
    return generated


def _page(
    *,
    generated: support_access.GeneratedCode | None = None,
    opt_in_form: OptInForm | None = None,
    notice_form: AccessNoticeForm | None = None,
    status: int = 200,
    headers: dict | None = None,
):
    user, now = _customer(), clock.now()
    summary = support_access.summary(user, now)
    periods = support_access.periods()
    if opt_in_form is None:
        opt_in_form = OptInForm(formdata=None, period=next(iter(periods)))
    opt_in_form.period.choices = list(periods.items())
    if notice_form is None:
        notice_form = AccessNoticeForm(formdata=None, notify_on_access=summary.access_notice)
    if generated is not None:  # the code on this page: no cache and no back button may keep a copy
        headers = {**(headers or {}), "Cache-Control": "no-store"}
    page = render_template(
        "tenant/support_access/support_access.html",
        summary=summary,
        generated=generated,
        opt_in_form=opt_in_form,
        notice_form=notice_form,
        now=now,
    )
    return page, status, headers or {}


def _refused(refused: DomainError, **forms):
    flash(refused.message, "error")
    return _page(status=refused.status, headers=refusal_headers(refused), **forms)
