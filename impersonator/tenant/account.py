"""The customer's account page: name, email and password.

Email and password belong to the account's owner alone: they are the app's credential endpoints
(register_tenant_app), which the kit's ghost guard refuses to the ghost whatever its mode (DESIGN
I7). The name may be changed in full mode; in read-only mode the guard refuses it, like every change.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from impersonator import clock
from impersonator.kit import current_impersonation
from impersonator.services.customer import account
from impersonator.services.customer.account import AccountRefused
from impersonator.services.errors import DomainError
from impersonator.tenant.access import start_customer_session
from impersonator.tenant.forms import EmailForm, NameForm, PasswordForm
from impersonator.web import refusal_headers

bp = Blueprint("account", __name__, url_prefix="/account")


def _forms(submitted: str | None = None) -> dict[str, FlaskForm]:
    """The page's three forms; only the `submitted` one reads the request's form data."""

    def fresh(key: str) -> dict:
        return {} if key == submitted else {"formdata": None}

    name_form = NameForm() if submitted == "name_form" else NameForm(formdata=None, name=current_user.name)
    # Prefixes keep field ids unique on the page: two forms ask for the current password.
    return {
        "name_form": name_form,
        "email_form": EmailForm(**fresh("email_form"), prefix="email"),
        "password_form": PasswordForm(**fresh("password_form"), prefix="password"),
    }


@bp.get("")
def show():
    return _page(_forms())


@bp.post("/name")
def change_name():
    forms = _forms("name_form")
    form = forms["name_form"]
    if not form.validate_on_submit():
        return _page(forms, status=400)
    try:
        account.change_name(current_user, form.name.data)
    except DomainError as refused:
        return _refused(forms, form, refused)
    flash("Your name was changed.", "info")
    return redirect(url_for("account.show"), code=303)


@bp.post("/email")
def change_email():
    forms = _forms("email_form")
    form = forms["email_form"]
    if not form.validate_on_submit():
        return _page(forms, status=400)
    try:
        account.change_email(
            current_user,
            form.email.data,
            form.current_password.data,
            ghost=current_impersonation() is not None,
            now=clock.now(),
        )
    except DomainError as refused:
        return _refused(forms, form, refused)
    flash("Your email address was changed. Use it the next time you sign in.", "info")
    return redirect(url_for("account.show"), code=303)


@bp.post("/password")
def change_password():
    forms = _forms("password_form")
    form = forms["password_form"]
    if not form.validate_on_submit():
        return _page(forms, status=400)
    now = clock.now()
    try:
        account.change_password(
            current_user,
            form.current_password.data,
            form.new_password.data,
            form.confirm_password.data,
            ghost=current_impersonation() is not None,
            now=now,
        )
    except DomainError as refused:
        return _refused(forms, form, refused)
    # New credentials, a new session; every other browser's cookie no longer matches the password.
    start_customer_session(current_user._get_current_object())
    flash("Your password was changed.", "info")
    return redirect(url_for("account.show"), code=303)


def _page(forms: dict[str, FlaskForm], *, status: int = 200, headers: dict | None = None):
    return render_template("tenant/account.html", **forms), status, headers or {}


def _refused(forms: dict[str, FlaskForm], form: FlaskForm, refused: DomainError):
    """The refusal's message next to its field when it names one, else at the top of the page."""
    name = refused.field if isinstance(refused, AccountRefused) else None
    field = getattr(form, name, None) if name else None
    if field is not None:
        field.errors.append(refused.message)
    else:
        flash(refused.message, "error")
    return _page(forms, status=refused.status, headers=refusal_headers(refused))
