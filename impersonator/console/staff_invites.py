"""A staff member's one-time enrolment link (public: the link is the credential). The invitee sets
a password here, then goes on to the sign-in's authenticator step, exactly where a first sign-in
with a password would have led."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user

from impersonator import clock
from impersonator.console.admin_forms import EnrolPasswordForm
from impersonator.console.sign_in import start_pending
from impersonator.services import staff_invites
from impersonator.services.errors import DomainError
from impersonator.services.staff_invites import PasswordRefused
from impersonator.web import client_ip, error_page, public

bp = Blueprint("staff_invites", __name__, url_prefix="/enrol")

# The address carries the token: nothing may keep a copy of the page. (The console's referrer
# policy, same-origin, already keeps the address from other sites, and Flask-WTF's referrer check
# on HTTPS needs the referrer on the POST, so it stays.)
HEADERS = {"Cache-Control": "no-store"}


@bp.get("/<token>")
@public
def form(token: str):
    try:
        invite = staff_invites.find(token, now=clock.now())
    except DomainError as refused:
        return _refused(refused)
    return _page(token, invite, EnrolPasswordForm())


@bp.post("/<token>")
@public
def submit(token: str):
    form = EnrolPasswordForm()
    if current_user.is_authenticated or not form.validate_on_submit():
        return _form_again(token, form, status=409 if current_user.is_authenticated else 400)
    try:
        staff = staff_invites.accept(
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


def _form_again(token: str, form: EnrolPasswordForm, *, status: int):
    try:
        invite = staff_invites.find(token, now=clock.now())
    except DomainError as refused:
        return _refused(refused)
    return _page(token, invite, form, status=status)


def _page(token: str, invite, form: EnrolPasswordForm, *, status: int = 200):
    form.password.data = form.confirmation.data = ""
    page = render_template(
        "console/enrol_password.html",
        token=token,
        member=staff_invites.invitee(invite),
        form=form,
        signed_in=current_user.is_authenticated,
    )
    return page, status, HEADERS


def _refused(refused: DomainError):
    body, status = error_page(refused.status, refused.message, title="Enrolment link")
    return body, status, HEADERS
