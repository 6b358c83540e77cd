"""A customer user's page on the console, and the impersonation request made from it."""

from __future__ import annotations

from flask import Blueprint, abort, flash, render_template
from flask_login import current_user

from impersonator import clock
from impersonator.console.access import requires
from impersonator.console.forms import ImpersonateForm
from impersonator.services.errors import DomainError
from impersonator.services.impersonation import lifecycle, policy
from impersonator.services.staff.roles import Permission, allows
from impersonator.web import client_ip, refusal_headers, user_agent
from impersonator.web_limits import rate_limited, signed_in_staff

bp = Blueprint("users", __name__, url_prefix="/users")


@bp.get("/<int:user_id>")
@requires(Permission.SEARCH)
@rate_limited("search", signed_in_staff)  # opening user after user by id is a search too
def show(user_id: int):
    return _user_page(user_id, ImpersonateForm())


@bp.post("/<int:user_id>/impersonate")
@requires(Permission.IMPERSONATE_READ_ONLY)
@rate_limited("impersonation_request", signed_in_staff)
def impersonate(user_id: int):
    form = ImpersonateForm()
    if not form.validate_on_submit():
        return _user_page(user_id, form, status=400)
    ask = lifecycle.Request(
        user_id=user_id,
        justification=form.justification.data,
        ticket=form.ticket.data,
        duration_minutes=form.duration.data,
        mode=form.mode.data,
        totp_code=form.totp_code.data,
        access_code=form.access_code.data,
    )
    try:
        launch = lifecycle.request(
            current_user, ask, ip=client_ip(), user_agent=user_agent(), now=clock.now()
        )
    except DomainError as refused:
        flash(refused.message, "error")
        return _user_page(user_id, form, status=refused.status, headers=refusal_headers(refused))
    response = render_template("console/impersonation/launch.html", launch=launch)
    # The handoff page carries the token: no referrer, no cache, and it may post to that tenant only.
    return (
        response,
        200,
        {
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
            "Content-Security-Policy": (
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; object-src 'none'; "
                f"base-uri 'none'; frame-ancestors 'none'; form-action 'self' {launch.origin}"
            ),
        },
    )


def _user_page(user_id: int, form: ImpersonateForm, *, status: int = 200, headers: dict | None = None):
    try:
        user = lifecycle.user_for_request(user_id)
    except DomainError:
        abort(404)
    now = clock.now()
    form.totp_code.data = ""  # a code is good once: never fill it back in
    form.access_code.data = ""
    return (
        render_template(
            "console/impersonation/user.html",
            user=user,
            form=form,
            state=policy.access_state(user, now),
            history=lifecycle.for_user(user.id),
            may_impersonate=allows(current_user.role, Permission.IMPERSONATE_READ_ONLY),
            may_use_full=allows(current_user.role, Permission.IMPERSONATE_FULL),
            now=now,
        ),
        status,
        headers or {},
    )
