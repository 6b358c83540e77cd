"""A staff member's one-time enrolment link (public: the link is the credential). The invitee sets
a password here, then goes on to the sign-in's authenticator step, exactly where a first sign-in
with a password would have led.

The link is `/enrol#<token>`: a fragment never leaves the browser, so the token reaches no access
log, proxy or Referer. The page's script moves it into a form that POSTs it (`/enrol/open`); without
script, the invitee pastes the part after `#` into that form. From there the token travels in form
bodies only.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user

from impersonator import clock
from impersonator.console.admin_forms import EnrolOpenForm, EnrolPasswordForm
from impersonator.console.sign_in import start_pending
from impersonator.services.errors import DomainError
from impersonator.services.staff import invites
from impersonator.services.staff.invites import PasswordRefused
from impersonator.web import client_ip, error_page, public

bp = Blueprint("staff_invites", __name__, url_prefix="/enrol")

# The pages carry the token: nothing may keep a copy of them. (The console's referrer policy,
# same-origin, keeps the address from other sites; the token is never in the address anyway.)
HEADERS = {"Cache-Control": "no-store"}


@bp.get("")
@public
def opener():
    """Where the link lands: its script posts the fragment's token; or the invitee pastes it."""
    return render_template("console/staff/enrol_open.html", form=EnrolOpenForm()), 200, HEADERS


@bp.post("/open")
@public
def open_link():
    form = EnrolOpenForm()
    form.validate_on_submit()  # text only: a file where the code belongs is a 400 already
    token = _token(form.token.data)
    try:
        invite = invites.find(token, now=clock.now())
    except DomainError as refused:
        return _refused(refused)
    return _page(token, invite, EnrolPasswordForm())


@bp.post("")
@public
def submit():
    form = EnrolPasswordForm()
    valid = form.validate_on_submit()  # text only: a file where the code belongs is a 400 already
    token = _token(form.token.data)
    if current_user.is_authenticated or not valid:
        return _form_again(token, form, status=409 if current_user.is_authenticated else 400)
    try:
        staff = invites.accept(
            token, form.password.data, form.confirmation.data, ip=client_ip(), now=clock.now()
        )
    except PasswordRefused as problem:
        getattr(form, problem.field).errors.append(problem.message)
        return _form_again(token, form, status=400)
    except DomainError as refused:
        return _refused(refused)
    # The same half-way state the password step of sign-in leaves: /sign-in/enrol follows.
    start_pending(staff.id)
    if staff.totp_enrolled:
        flash("Your password is set. Enter the code from your authenticator app to sign in.", "info")
        return redirect(url_for("sign_in.code"), code=303)
    flash("Your password is set. Now set up your authenticator app.", "info")
    return redirect(url_for("sign_in.enrol"), code=303)


@bp.get("/<path:token>")
@public
def token_in_address(token: str):
    """A link of the old kind, `/enrol/<token>`: its token is in access logs by now, so a real one
    is cancelled rather than used (the admin makes a new link), and a made-up one is just invalid."""
    try:
        invites.cancel_exposed(token, ip=client_ip(), now=clock.now())
    except DomainError as refused:
        return _refused(refused)
    return _refused(invites.InviteInAddress())


def _token(typed: str | None) -> str | None:
    """The code as typed or moved from the link: pasted with its `#` or spaces, it still works."""
    return typed.strip().removeprefix("#") if typed else None


def _form_again(token: str | None, form: EnrolPasswordForm, *, status: int):
    try:
        invite = invites.find(token, now=clock.now())
    except DomainError as refused:
        return _refused(refused)
    return _page(token, invite, form, status=status)


def _page(token: str, invite, form: EnrolPasswordForm, *, status: int = 200):
    form.password.data = form.confirmation.data = ""
    page = render_template(
        "console/staff/enrol_password.html",
        token=token,
        member=invites.invitee(invite),
        form=form,
        signed_in=current_user.is_authenticated,
    )
    return page, status, HEADERS


def _refused(refused: DomainError):
    body, code = error_page(refused.status, refused.message, title="Enrolment link")
    return body, code, HEADERS
