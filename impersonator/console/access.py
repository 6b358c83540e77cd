"""Who may open which console page. Deny by default: a console view is reachable only if it is
marked `@public` or names the permission it needs with `@requires`; `enforce_access` runs before
every console request and refuses anything else, and every refusal is audited (coalesced,
services/audit/authz_denials.py)."""

from __future__ import annotations

from collections.abc import Callable

from flask import abort, current_app, flash, g, redirect, request, session, url_for
from flask_login import current_user

from impersonator import clock
from impersonator.extensions import staff_login
from impersonator.models import Staff
from impersonator.services.audit import authz_denials
from impersonator.services.staff import sessions
from impersonator.services.staff.roles import Permission, allows
from impersonator.web import client_ip, is_public, remember_viewer, safe_next

SESSION_TOKEN_KEY = "console_sid"  # noqa: S105  (a session key name)


def requires(permission: Permission) -> Callable[[Callable], Callable]:
    """The permission a console view needs (DESIGN §7)."""

    def mark(view: Callable) -> Callable:
        view.permission = permission
        return view

    return mark


def can(permission: str) -> bool:
    """For templates: does the signed-in staff member hold `permission`?"""
    return current_user.is_authenticated and allows(current_user.role, Permission(permission))


# The console's main navigation, in order: (endpoint, label, permission it needs).
NAVIGATION: tuple[tuple[str, str, Permission | None], ...] = (
    ("home.index", "Home", None),
    ("search.index", "Search", Permission.SEARCH),
    ("impersonations.mine", "My impersonations", Permission.IMPERSONATE_READ_ONLY),
    # Everyone's requests that wait, and, for approvers and the security team, theirs to decide.
    ("approvals.index", "Approvals", Permission.SEARCH),
    ("audit_log.index", "Audit log", Permission.AUDIT),
    ("live_sessions.index", "Live sessions", Permission.AUDIT),
    ("admin_switches.index", "Switches", Permission.ADMIN),
    ("staff_admin.index", "Staff", Permission.ADMIN),
    ("webhooks_admin.index", "Webhooks", Permission.ADMIN),
    ("outbox_admin.index", "Outbox", Permission.ADMIN),
    ("api_keys_admin.index", "API keys", Permission.ADMIN),
)


def navigation(role: str | None = None) -> list[tuple[str, str]]:
    """For templates: the (endpoint, label) links the signed-in staff member (or `role`) may follow."""
    if role is None:
        if not current_user.is_authenticated:
            return []
        role = current_user.role
    return [
        (endpoint, label)
        for endpoint, label, permission in NAVIGATION
        if endpoint in current_app.view_functions and (permission is None or allows(role, permission))
    ]


def enforce_access():
    """Before every console request: sign-in, then the view's declared permission."""
    if request.routing_exception is not None or is_public(request.endpoint):
        return None
    if not current_user.is_authenticated:
        return staff_login.unauthorized()
    view = current_app.view_functions.get(request.endpoint)
    permission = getattr(view, "permission", None)
    if permission is None or not allows(current_user.role, permission):
        # Recorded or not (the database may be failing), the answer is the same 403.
        authz_denials.record_refusal(
            current_user,
            session_id=g.staff_session.id,
            permission=permission,
            path=request.path,
            method=request.method,
            ip=client_ip(),
            now=clock.now(),
        )
        abort(403)
    return None


@staff_login.request_loader
def load_signed_in_staff(_request) -> Staff | None:
    """The staff member behind this request's server-side session, checked on every request."""
    row = sessions.resolve(session.get(SESSION_TOKEN_KEY), now=clock.now())
    g.staff_session = row
    if row is None:
        return None
    remember_viewer(row.staff.name, row.staff.role)
    return row.staff


@staff_login.unauthorized_handler
def send_to_sign_in():
    if session.pop(SESSION_TOKEN_KEY, None):
        flash("Your session has ended. Please sign in again.", "info")
    # Only a `next=` that sign-in will follow: one rule (safe_next), and no 100 kB query string
    # percent-encoded into a redirect that leads to a refusal anyway.
    here = request.full_path.rstrip("?")
    return redirect(url_for("sign_in.form", next=here if safe_next(here) else None))
