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
from impersonator.services.errors import DomainError
from impersonator.services.staff import sign_in, totp
from impersonator.web import client_ip, public, refusal_headers, safe_next, user_agent
from impersonator.web_limits import rate_limited, this_address

bp = Blueprint("sign_in", __name__)

PENDING_KEY = "console_pending_sign_in"


def start_pending(staff_id: int, next_path: str | None = None) -> None:
    """Sign-in's half-way state (password or enrolment link done, TOTP next): the token of a
    server-side sign-in step, used once. Privilege changes, so the session starts afresh, holding
    only this."""
    step = sign_in.open_step(staff_id, now=clock.now())
    session.clear()
    session[PENDING_KEY] = {"step": step, "next": next_path}


@bp.get("/sign-in")
@public
def form():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    return render_template("console/staff/sign_in.html", form=SignInForm(), next=_next_from_query())


@bp.post("/sign-in")
@public
@rate_limited("sign_in", this_address)
def submit():
    form = SignInForm()
    if not form.validate_on_submit():
        return render_template("console/staff/sign_in.html", form=form, next=_next_from_query()), 400
    try:
        staff = sign_in.check_password(form.email.data, form.password.data, ip=client_ip(), now=clock.now())
    except DomainError as refused:
        return _refused("console/staff/sign_in.html", refused, form=form, next=_next_from_query())
    start_pending(staff.id, _next_from_query())
    return redirect(url_for("sign_in.code" if staff.totp_enrolled else "sign_in.enrol"))


@bp.route("/sign-in/code", methods=["GET", "POST"])
@public
@rate_limited("sign_in", this_address, methods={"POST"})
def code():
    staff = _pending_staff()
    if staff is None:
        return redirect(url_for("sign_in.form"))
    if not staff.totp_enrolled:
        return redirect(url_for("sign_in.enrol"))
    form = TotpForm()
    if form.validate_on_submit():
        try:
            token = sign_in.complete_with_totp(
                staff, _step(), form.code.data, ip=client_ip(), user_agent=user_agent(), now=clock.now()
            )
        except sign_in.SignInStepExpired as expired:
            return _start_again(expired)
        except DomainError as refused:
            return _refused("console/staff/totp.html", refused, form=form)
        return _signed_in(token)
    return render_template("console/staff/totp.html", form=form), 400 if form.is_submitted() else 200


@bp.route("/sign-in/enrol", methods=["GET", "POST"])
@public
@rate_limited("sign_in", this_address, methods={"POST"})
def enrol():
    staff = _pending_staff()
    if staff is None:
        return redirect(url_for("sign_in.form"))
    if staff.totp_enrolled:
        return redirect(url_for("sign_in.code"))
    secret = sign_in.enrolment_secret(staff)
    uri = totp.provisioning_uri(secret, staff.email, current_app.config["TOTP_ISSUER"])
    page = {
        "secret": secret,
        "account": staff.email,
        "qr_svg": segno.make(uri, error="m").svg_inline(scale=4, dark="#111", light="#fff"),
    }
    form = TotpForm()
    if not form.validate_on_submit():
        status = 400 if form.is_submitted() else 200
        return render_template("console/staff/enrol.html", form=form, **page), status
    try:
        token = sign_in.confirm_enrolment(
            staff, _step(), form.code.data, ip=client_ip(), user_agent=user_agent(), now=clock.now()
        )
    except sign_in.SignInStepExpired as expired:
        return _start_again(expired)
    except DomainError as refused:
        return _refused("console/staff/enrol.html", refused, form=form, **page)
    return _signed_in(token)


@bp.post("/sign-out")
@public
def sign_out():
    sign_in.sign_out(session.get(SESSION_TOKEN_KEY), ip=client_ip(), now=clock.now())
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("sign_in.form"))


def _refused(template: str, refused: DomainError, **context):
    """Show the form again with the service's sentence, its status, and Retry-After on a lock."""
    flash(refused.message, "error")
    return render_template(template, **context), refused.status, refusal_headers(refused)


def _step() -> str | None:
    """The token of this browser's sign-in step (the half-way state), if it holds one."""
    pending = session.get(PENDING_KEY)
    return pending.get("step") if isinstance(pending, dict) else None


def _pending_staff():
    try:
        return sign_in.pending_staff(_step(), now=clock.now())
    except DomainError as expired:
        if session.pop(PENDING_KEY, None):
            flash(expired.message, "error")
        return None


def _start_again(expired: DomainError):
    """The sign-in step ended while this request used it: back to the first step."""
    session.pop(PENDING_KEY, None)
    flash(expired.message, "error")
    return redirect(url_for("sign_in.form"))


def _signed_in(token: str):
    """Rotate the session again: from here on the cookie carries only the server-side token."""
    pending = session.get(PENDING_KEY)
    next_path = safe_next(pending.get("next") if isinstance(pending, dict) else None)
    session.clear()
    session[SESSION_TOKEN_KEY] = token
    return redirect(next_path or url_for("home.index"))


def _next_from_query():
    return safe_next(request.args.get("next"))
