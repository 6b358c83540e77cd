"""Which tenant a request is for, and who is signed in there. Unknown hosts get 404; every tenant
view needs a signed-in customer unless it is marked `@public`."""

from __future__ import annotations

from flask import abort, g, redirect, request, session, url_for
from flask_login import current_user

from impersonator import clock
from impersonator.extensions import customer_login
from impersonator.faces import hostname_of
from impersonator.models import User
from impersonator.services import tenants
from impersonator.services.customer import sign_in
from impersonator.tenant.ghost import GHOST_KEY, read_ghost_session
from impersonator.web import is_public, remember_viewer

SESSION_KEY = "customer"


def resolve_tenant():
    """Before every tenant request: the host must be a registered tenant domain.

    Static files (the stylesheet, the banner's countdown) are the same for every host and hold
    nothing of anyone's: they are served without the tenant lookup, so they need no database and
    the 503 page keeps its styles while the database is down."""
    g.tenant = None
    if request.endpoint == "static":
        return None
    hostname = hostname_of(request.host)
    # In a ghost session, the tenant comes in the same query as the impersonation that the ghost
    # guard checks next: one round trip less on every ghost request.
    tenant = read_ghost_session(hostname) if session.get(GHOST_KEY) else tenants.tenant_for_host(hostname)
    if tenant is None:
        abort(404)
    g.tenant = tenant
    g.tenant_name = tenant.name  # plain text for error pages, which never query (web.error_page)
    return None


def enforce_sign_in():
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
    if g.get("impersonation") is not None:  # the ghost sees the account as its user (subject)
        user = g.ghost_user
    else:
        user = sign_in.signed_in_user(tenant, session.get(SESSION_KEY) or {}, now=clock.now())
    if user is not None:
        remember_viewer(user.name)
    return user


def start_customer_session(user: User) -> None:
    """A new session (rotated) that speaks for `user` on this tenant."""
    session.clear()
    session[SESSION_KEY] = sign_in.session_state(user, clock.now())


@customer_login.unauthorized_handler
def send_to_sign_in():
    return redirect(url_for("customer_sign_in.form"))
