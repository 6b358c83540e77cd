"""A customer user's page on the console, and the impersonation request made from it."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from impersonator import clock
from impersonator.console.access import requires
from impersonator.console.forms import ImpersonateForm
from impersonator.services.approvals import rules as approval_rules
from impersonator.services.errors import DomainError
from impersonator.services.impersonation import lifecycle, policy, request_form
from impersonator.services.impersonation.handoff import HandoffGone, HandoffNotFound, hand_over
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
        reason_code=form.reason_code.data,
        break_glass=bool(form.break_glass.data),
    )
    try:
        issued = lifecycle.request(
            current_user, ask, ip=client_ip(), user_agent=user_agent(), now=clock.now()
        )
    except DomainError as refused:
        return _user_page(
            user_id, form, status=refused.status, headers=refusal_headers(refused), ask=(ask, refused)
        )
    if isinstance(issued, lifecycle.Pending):
        flash("Your request waits for approval: this page shows when you can start.", "info")
        return redirect(url_for("approvals.show", approval_id=issued.approval_id), 303)
    # POST-redirect-GET: a reload of the next page never asks again (issue 13).
    return redirect(url_for("users.handoff", user_id=user_id, impersonation_id=issued.impersonation_id), 303)


# The handoff page carries the token: no referrer, never cached (the back button asks again, and
# is told it was handed over), and its form may post to that tenant only.
_NOT_KEPT = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


@bp.get("/<int:user_id>/impersonate/<int:impersonation_id>")
@requires(Permission.IMPERSONATE_READ_ONLY)
def handoff(user_id: int, impersonation_id: int):
    try:
        launch = hand_over(current_user.id, user_id, impersonation_id, now=clock.now())
    except HandoffNotFound:
        abort(404)
    except HandoffGone as gone:
        return render_template("console/impersonation/launch.html", launch=None, gone=gone), 410, _NOT_KEPT
    csp = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; object-src 'none'; "
        f"base-uri 'none'; frame-ancestors 'none'; form-action 'self' {launch.origin}"
    )
    page = render_template("console/impersonation/launch.html", launch=launch, gone=None)
    return page, 200, {**_NOT_KEPT, "Content-Security-Policy": csp}


def _user_page(
    user_id: int,
    form: ImpersonateForm,
    *,
    status: int = 200,
    headers: dict | None = None,
    ask: tuple[lifecycle.Request, DomainError] | None = None,
):
    try:
        user = lifecycle.user_for_request(user_id)
    except DomainError:
        abort(404)
    now = clock.now()
    state = policy.access_state(user, now)
    problems = None
    if ask is not None:
        # Every problem at once, each at its field; the refusal that was audited among them.
        request_ask, refused = ask
        problems = request_form.problems(
            request_ask,
            refused,
            needs_code=state.needs_code,
            code_always=user.tenant.access_policy == "code_always",
        )
        for name, message in problems.fields.items():
            form[name].errors = [message]
    allowed = approval_rules.allowed_reason_codes(user.tenant)  # the company may forbid some
    form.reason_code.choices = [choice for choice in form.reason_code.choices if choice.value in allowed]
    form.totp_code.data = ""  # a code is good once: never fill it back in
    form.access_code.data = ""
    return (
        render_template(
            "console/impersonation/user.html",
            user=user,
            form=form,
            state=state,
            problems=problems,
            history=lifecycle.for_user(user.id),
            may_impersonate=allows(current_user.role, Permission.IMPERSONATE_READ_ONLY),
            may_use_full=allows(current_user.role, Permission.IMPERSONATE_FULL),
            now=now,
        ),
        status,
        headers or {},
    )
