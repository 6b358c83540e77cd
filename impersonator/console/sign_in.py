"""Console sign-in: password, then TOTP (or enrolment on first sign-in), and sign-out."""

from __future__ import annotations

import segno
from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user

from impersonator import clock
from impersonator.console.access import SESSION_TOKEN_KEY
from impersonator.console.forms import SignInForm, TotpForm
from impersonator.services import staff_auth, totp
from impersonator.services.errors import DomainError
from impersonator.web import client_ip, public, safe_next, user_agent

bp = Blueprint("sign_in", __name__)

PENDING_KEY = "console_pending_sign_in"


@bp.get("/sign-in")
@public
def form():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    return render_template("console/sign_in.html", form=SignInForm(), next=_next_from_query())


@bp.post("/sign-in")
@public
def submit():
    form = SignInForm()
    if not form.validate_on_submit():
        return render_template("console/sign_in.html", form=form, next=_next_from_query()), 400
    try:
        staff = staff_auth.check_password(
            form.email.data, form.password.data, ip=client_ip(), now=clock.now()
        )
    except DomainError as refused:
        flash(refused.message, "error")
        return render_template("console/sign_in.html", form=form, next=_next_from_query()), refused.status
    # Privilege changes: a new session, holding only the half-way state.
    session.clear()
    session[PENDING_KEY] = {"staff_id": staff.id, "at": clock.now().timestamp(), "next": _next_from_query()}
    return redirect(url_for("sign_in.code" if staff.totp_enrolled else "sign_in.enrol"))


@bp.route("/sign-in/code", methods=["GET", "POST"])
@public
def code():
    staff = _pending_staff()
    if staff is None:
        return redirect(url_for("sign_in.form"))
    if not staff.totp_enrolled:
        return redirect(url_for("sign_in.enrol"))
    form = TotpForm()
    if form.validate_on_submit():
        try:
            token = staff_auth.complete_with_totp(
                staff, form.code.data, ip=client_ip(), user_agent=user_agent(), now=clock.now()
            )
        except DomainError as refused:
            flash(refused.message, "error")
            return render_template("console/totp.html", form=form), refused.status
        return _signed_in(token)
    return render_template("console/totp.html", form=form), 400 if form.is_submitted() else 200


@bp.route("/sign-in/enrol", methods=["GET", "POST"])
@public
def enrol():
    staff = _pending_staff()
    if staff is None:
        return redirect(url_for("sign_in.form"))
    if staff.totp_enrolled:
        return redirect(url_for("sign_in.code"))
    secret = staff_auth.enrolment_secret(staff)
    form = TotpForm()
    status = 200
    if form.validate_on_submit():
        try:
            token = staff_auth.confirm_enrolment(
                staff, form.code.data, ip=client_ip(), user_agent=user_agent(), now=clock.now()
            )
        except DomainError as refused:
            flash(refused.message, "error")
            status = refused.status
        else:
            return _signed_in(token)
    elif form.is_submitted():
        status = 400
    uri = totp.provisioning_uri(secret, staff.email, current_app.config["TOTP_ISSUER"])
    qr_svg = segno.make(uri, error="m").svg_inline(scale=4, dark="#111", light="#fff")
    return render_template(
        "console/enrol.html", form=form, secret=secret, qr_svg=qr_svg, account=staff.email
    ), status


@bp.post("/sign-out")
@public
def sign_out():
    staff_auth.sign_out(session.get(SESSION_TOKEN_KEY), ip=client_ip(), now=clock.now())
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("sign_in.form"))


def _pending_staff():
    pending = session.get(PENDING_KEY) or {}
    try:
        return staff_auth.pending_staff(pending.get("staff_id"), pending.get("at"), now=clock.now())
    except DomainError as expired:
        session.pop(PENDING_KEY, None)
        if pending:
            flash(expired.message, "error")
        return None


def _signed_in(token: str):
    """Rotate the session again: from here on the cookie carries only the server-side token."""
    next_path = safe_next((session.get(PENDING_KEY) or {}).get("next"))
    session.clear()
    session[SESSION_TOKEN_KEY] = token
    return redirect(next_path or url_for("home.index"))


def _next_from_query():
    return safe_next(request.args.get("next"))
