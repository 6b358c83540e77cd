"""Who is signed in on the demo tenant app: its customers' own sign-in (Flask-Login), and, in a
ghost session, the customer the kit's guard says is impersonated. Every view needs a signed-in
customer unless it is marked `@public`."""

from __future__ import annotations

from flask import g, redirect, request, session, url_for
from flask_login import current_user

from impersonator import clock
from impersonator.extensions import customer_login
from impersonator.kit import current_impersonation, ghost_user
from impersonator.models import User
from impersonator.services.customer import sign_in
from impersonator.web import is_public, remember_viewer

SESSION_KEY = "customer"


def enforce_sign_in():
    """The host's sign-in check, which the kit runs after its own steps (kit/extension.py)."""
    if request.routing_exception is not None or is_public(request.endpoint):
        return None
    if not current_user.is_authenticated:
        return customer_login.unauthorized()
    return None


@customer_login.request_loader
def load_signed_in_customer(_request) -> User | None:
    tenant = g.get("tenant")
    if tenant is None:  # an error page drawn before (or instead of) tenant resolution
        return None
    if current_impersonation() is not None:  # the ghost sees the account as its user (subject)
        user = ghost_user()
    else:
        user = sign_in.signed_in_user(tenant, session.get(SESSION_KEY) or {}, now=clock.now())
    if user is not None:
        remember_viewer(user.name)
    return user


def customer_of(row: User) -> User:
    """The kit's user loader: this app's users are Impersonator's own rows."""
    return row


def signed_in_customer() -> User | None:
    """For the kit's Support access pages: the signed-in customer (this app's users are the rows)."""
    return current_user._get_current_object() if current_user.is_authenticated else None


def start_customer_session(user: User) -> None:
    """A new session (rotated) that speaks for `user` on this tenant."""
    session.clear()
    session[SESSION_KEY] = sign_in.session_state(user, clock.now())


@customer_login.unauthorized_handler
def send_to_sign_in():
    return redirect(url_for("customer_sign_in.form"))
