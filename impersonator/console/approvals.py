"""Approvals in the console (DESIGN §11): the queue of requests waiting for a second staff member,
one request's page (decide, withdraw, start once approved, review a break-glass), and its state as
JSON for the page's live update."""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, url_for
from flask_login import current_user

from impersonator import clock
from impersonator.console.access import requires
from impersonator.console.approval_forms import DecideForm, ReviewForm, StartForm
from impersonator.console.forms import ConfirmForm
from impersonator.services import wording
from impersonator.services.approvals import decisions, requests, rules
from impersonator.services.errors import DomainError
from impersonator.services.impersonation import lifecycle
from impersonator.services.staff.roles import Permission, allows
from impersonator.web import client_ip, refusal_headers, user_agent
from impersonator.web_limits import rate_limited, signed_in_staff

bp = Blueprint("approvals", __name__, url_prefix="/approvals")

# The queues show their oldest requests: those are decided (or reviewed) first.
QUEUE_SHOWN = 50


@bp.get("")
@requires(Permission.SEARCH)
def index():
    now = clock.now()
    approver = rules.may_approve(current_user)
    # One more than shown tells the page that more are waiting behind the oldest.
    fetch = QUEUE_SHOWN + 1
    auditor = allows(current_user.role, Permission.AUDIT)
    return render_template(
        "console/approvals/index.html",
        waiting=requests.waiting_for_staff(current_user, now=now, limit=fetch) if approver else [],
        approver=approver,
        mine=requests.for_staff(current_user.id, limit=20),
        to_review=requests.awaiting_review(limit=fetch) if auditor else [],
        shown=QUEUE_SHOWN,
        now=now,
    )


@bp.get("/<int:approval_id>")
@requires(Permission.SEARCH)
def show(approval_id: int):
    return _page(approval_id)


@bp.get("/<int:approval_id>/state")
@requires(Permission.SEARCH)
def state(approval_id: int):
    """What the page's script polls while a request waits: its state and who must still decide."""
    request = _visible(approval_id)
    return jsonify(
        state=request.state,
        label=wording.approval_state(request.state),
        waiting_for=request.waiting_for,
    ), {"Cache-Control": "no-store"}


@bp.post("/<int:approval_id>/decide")
@requires(Permission.APPROVE)
def decide(approval_id: int):
    request = _visible(approval_id)
    form = DecideForm().offer(request.mode, request.duration_minutes)
    if not form.validate_on_submit():
        return _page(approval_id, decide_form=form, status=400)
    approve = form.decision.data == "approve"
    try:
        decided = decisions.decide_as_staff(
            current_user,
            approval_id,
            approve=approve,
            note=form.note.data,
            mode=form.mode.data if approve else None,
            duration_minutes=form.duration.data if approve else None,
            ip=client_ip(),
            now=clock.now(),
        )
    except DomainError as refused:
        flash(refused.message, "error")
        return _page(approval_id, decide_form=form, status=refused.status)
    if not approve:
        flash(f"You denied {decided.staff.name}'s request.", "info")
    elif decided.state == "approved":
        flash(f"You approved {decided.staff.name}'s request: they can start it now.", "info")
    else:
        flash("You approved it. The customer's decision is still needed.", "info")
    return redirect(url_for("approvals.show", approval_id=approval_id), code=303)


@bp.post("/<int:approval_id>/withdraw")
@requires(Permission.IMPERSONATE_READ_ONLY)
def withdraw(approval_id: int):
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        requests.withdraw(current_user, approval_id, ip=client_ip(), now=clock.now())
    except DomainError as refused:
        if refused.status == 404:
            abort(404)
        flash(refused.message, "error")
        return _page(approval_id, status=refused.status)
    flash("You withdrew the request.", "info")
    return redirect(url_for("approvals.show", approval_id=approval_id), code=303)


@bp.post("/<int:approval_id>/start")
@requires(Permission.IMPERSONATE_READ_ONLY)
@rate_limited("impersonation_request", signed_in_staff)
def start(approval_id: int):
    """Start an approved request: a fresh TOTP code, then the handoff page, like any impersonation."""
    request = _visible(approval_id)
    form = StartForm()
    if not form.validate_on_submit():
        return _page(approval_id, status=400)
    ask = lifecycle.Request(
        user_id=request.user_id,
        justification=None,
        ticket=None,
        duration_minutes=None,
        mode=None,
        totp_code=form.totp_code.data,
        access_code=None,
        approval_id=approval_id,
    )
    try:
        outcome = lifecycle.request(
            current_user, ask, ip=client_ip(), user_agent=user_agent(), now=clock.now()
        )
    except DomainError as refused:
        flash(refused.message, "error")
        return _page(approval_id, status=refused.status, headers=refusal_headers(refused))
    handoff = url_for("users.handoff", user_id=request.user_id, impersonation_id=outcome.impersonation_id)
    return redirect(handoff, code=303)


@bp.post("/<int:approval_id>/review")
@requires(Permission.AUDIT)
def review(approval_id: int):
    form = ReviewForm()
    if not form.validate_on_submit():
        return _page(approval_id, review_form=form, status=400)
    try:
        decisions.review_break_glass(
            current_user, approval_id, note=form.note.data, ip=client_ip(), now=clock.now()
        )
    except DomainError as refused:
        flash(refused.message, "error")
        return _page(approval_id, review_form=form, status=refused.status)
    flash("Review recorded: this staff member may break glass again.", "info")
    return redirect(url_for("approvals.show", approval_id=approval_id), code=303)


def _visible(approval_id: int):
    try:
        request = requests.get(approval_id)
    except requests.RequestNotFound:
        abort(404)
    if not requests.visible_to(current_user, request):
        abort(404)  # not 403: whether a request exists is not for everyone to learn
    return request


def _page(
    approval_id: int,
    *,
    decide_form: DecideForm | None = None,
    review_form: ReviewForm | None = None,
    status: int = 200,
    headers: dict | None = None,
):
    request = _visible(approval_id)
    now = clock.now()
    mine = request.staff_id == current_user.id
    return (
        render_template(
            "console/approvals/show.html",
            request=request,
            now=now,
            mine=mine,
            may_decide=(not mine and "staff" in request.waiting_for and rules.may_approve(current_user)),
            may_start=mine and request.usable(now),
            may_review=(
                request.break_glass
                and request.state == "used"
                and request.reviewed_at is None
                and not mine
                and allows(current_user.role, Permission.AUDIT)
            ),
            decide_form=decide_form
            or DecideForm(formdata=None).offer(request.mode, request.duration_minutes),
            start_form=StartForm(formdata=None),
            review_form=review_form or ReviewForm(formdata=None),
            confirm_form=ConfirmForm(formdata=None),
        ),
        status,
        headers or {},
    )
