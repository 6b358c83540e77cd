"""The ghost guard and the API the host app's own code uses (DESIGN I4, I7).

Before every tenant request `guard` checks the ghost session on the server; read-only sessions are
refused every change but *End*, and every session the host's `credential_endpoints`. After every
ghost request `log_request` appends to the action trail. Host code asks `current_impersonation()`
(also a template global, with `changes_off()` for drawing read-only forms disabled) and protects a
view with `@not_for_impersonators`, without touching the guard.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import current_app, g, render_template, request, session

from impersonator import clock
from impersonator.kit.host import ImpersonatorSetupError, host
from impersonator.models import Tenant
from impersonator.services.impersonation import ghost as ghost_sessions
from impersonator.services.impersonation.ghost import Ghost, ImpersonationEnded
from impersonator.services.impersonation.redemption import Redeemed
from impersonator.services.links import console_origin
from impersonator.services.validation import row_id
from impersonator.web import client_ip, content_security_policy, database_available, error_page

GHOST_KEY = "ghost"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Not changes to the customer's account: ending the ghost session, redeeming a new token, or
# revealing a masked value with a reason (it only records, audited, what support saw: DESIGN §13).
ALWAYS_ALLOWED = frozenset({"impersonation.end", "impersonation.redeem", "masking.reveal"})
OWNER_ONLY = (
    "Support staff cannot use this page while impersonating: it belongs to the account's owner alone."
)


def current_impersonation() -> Ghost | None:
    """Who is impersonating the signed-in user on this request (mode, ends at), or None."""
    return g.get("impersonation")


def changes_off() -> bool:
    """For templates: is this a read-only ghost session? Its forms that would change the account are
    then drawn disabled, with the reason; `guard` refuses their POSTs all the same."""
    ghost = current_impersonation()
    return ghost is not None and ghost.read_only


def not_for_impersonators(view: Callable) -> Callable:
    """Refuse this view to the ghost, whatever the mode (the account's own credentials, consent…)."""

    @wraps(view)
    def guarded(*args, **kwargs):
        if current_impersonation() is not None:
            return error_page(403, OWNER_ONLY)
        return view(*args, **kwargs)

    return guarded


def read_ghost_session(hostname: str) -> Tenant | None:
    """The tenant of `hostname`, read with this browser's ghost session (kept for `guard`)."""
    state = session.get(GHOST_KEY)
    impersonation_id = row_id(state.get("impersonation_id")) if isinstance(state, dict) else None
    tenant, found = ghost_sessions.find(hostname, impersonation_id)
    g.ghost_session = (impersonation_id, state.get("secret") if impersonation_id else None, found)
    return tenant


def start_ghost_session(redeemed: Redeemed) -> None:
    """A new session (rotated: privilege changes) that holds only the ghost and its secret."""
    session.clear()
    session[GHOST_KEY] = {"impersonation_id": redeemed.impersonation_id, "secret": redeemed.ghost_secret}


def guard():
    """Before every tenant request: is there a ghost session, and may it go on?"""
    g.impersonation = None
    if request.endpoint == "static":  # files, not the account's pages
        return None
    options = host()
    if unknown := options.unknown_endpoints(current_app):
        # Checked on every request (the app adds its routes after the kit starts): a misspelt
        # credential endpoint would otherwise stay open to the ghost without a word.
        raise ImpersonatorSetupError(f"ImpersonatorTenant names endpoints the app lacks: {sorted(unknown)}")
    if not session.get(GHOST_KEY):
        return None
    # Read with the tenant by tenancy.resolve_tenant, which runs first (without it: KeyError, a 500).
    impersonation_id, secret, found = g.pop("ghost_session")
    now = clock.now()
    if found.impersonation is None or not ghost_sessions.holds_the_secret(found.impersonation, secret):
        # The cookie names no session, or one it cannot prove it holds (a cookie's contents are
        # input): nobody's ghost, not even signed in.
        session.clear()
        if found.impersonation is not None:
            ghost_sessions.refuse_foreign_cookie(found.impersonation, ip=client_ip(), now=now)
        return None
    try:
        ghost, user = ghost_sessions.check(found, tenant=g.tenant, now=now)
    except ImpersonationEnded as ended:
        session.clear()
        if request.endpoint == "impersonation.redeem":
            return None  # a new handoff carries its own credential: a stale ghost cookie must not block it
        ghost_sessions.record_request(
            impersonation_id, method=request.method, path=request.path, status=ended.status, now=now
        )
        page = render_template("tenant/impersonation/impersonation_ended.html", message=ended.message)
        return page, ended.status
    # The host's own user object for the customer: what its views see as the signed-in user.
    g.impersonation, g.ghost_user = ghost, options.user_loader(user)
    if ghost.read_only and request.method not in SAFE_METHODS and request.endpoint not in ALWAYS_ALLOWED:
        return error_page(
            403,
            "This impersonation is read-only: changes are not allowed. "
            "End it and ask for full mode if a change is really needed.",
            title="Read-only impersonation",
        )
    if request.endpoint in options.credential_endpoints:  # the same refusal as @not_for_impersonators
        return error_page(403, OWNER_ONLY)
    return None


def ghost_user() -> object | None:
    """The host's user object for the impersonated customer (its `user_loader`'s), or None."""
    return g.get("ghost_user") if current_impersonation() is not None else None


def allow_end_redirect(response):
    """On ghost pages: the banner's *End* is answered by a redirect to the console, and Chromium
    applies the page's `form-action` to that redirect too, so the console's origin must be allowed."""
    if current_impersonation() is not None:
        response.headers["Content-Security-Policy"] = content_security_policy(console_origin())
    return response


def log_request(response):
    """After every ghost request: method, path, status and time, against the impersonation."""
    ghost = current_impersonation()
    if ghost is not None and database_available():
        ghost_sessions.record_request(
            ghost.impersonation_id,
            method=request.method,
            path=request.path,
            status=response.status_code,
            now=clock.now(),
        )
    return response
