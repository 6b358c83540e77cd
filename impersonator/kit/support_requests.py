"""Settings → Support access → Requests: the customer approves or denies each support request
about their account (DESIGN §11), and, where the tenant lets them, chooses to approve every one.

The account's owner alone: `@not_for_impersonators` refuses every view to the ghost (I7), and the
approvals service refuses a ghost's decision too."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for

from impersonator import clock
from impersonator.kit.forms import ApprovalChoiceForm, CustomerDecisionForm
from impersonator.kit.ghost import current_impersonation, not_for_impersonators
from impersonator.kit.host import host
from impersonator.models import User
from impersonator.services.approvals import decisions, requests
from impersonator.services.consent import support_access
from impersonator.services.errors import DomainError
from impersonator.services.impersonation import policy
from impersonator.web import client_ip, error_page

bp = Blueprint("support_requests", __name__, url_prefix="/settings/support-access/requests")


def _customer() -> User:
    """The signed-in customer, as the host app finds them (its `current_customer`)."""
    customer = host().current_customer()
    if customer is None:  # the host's sign-in check lets a signed-out visitor through
        abort(401)
    return customer


@bp.get("")
@not_for_impersonators
def index():
    return _page()


@bp.post("/<int:approval_id>/decide")
@not_for_impersonators
def decide(approval_id: int):
    form = CustomerDecisionForm()
    if not form.validate_on_submit():
        return _page(invalid=(approval_id, form), status=400)
    approve = form.decision.data == "approve"
    try:
        decided = decisions.decide_as_customer(
            _customer(),
            approval_id,
            approve=approve,
            note=form.note.data,
            ghost=current_impersonation() is not None,
            ip=client_ip(),
            now=clock.now(),
        )
    except requests.RequestNotFound as missing:
        return error_page(404, missing.message)
    except DomainError as refused:
        if refused.reason == "not_your_decision":
            return error_page(404, requests.RequestNotFound().message)  # another user's: not found
        flash(refused.message, "error")
        return _page(status=refused.status)
    if not approve:
        flash(
            f"You denied {decided.staff.name}'s request. Support cannot enter your account with it.", "info"
        )
    elif decided.state == "approved":
        window = current_app.config["APPROVAL_START_MINUTES"]
        flash(f"You approved {decided.staff.name}'s request: they may start within {window} minutes.", "info")
    else:
        flash("You approved it. A second member of the support team must approve it too.", "info")
    return redirect(url_for("support_requests.index"), code=303)


@bp.post("/choice")
@not_for_impersonators
def choose():
    form = ApprovalChoiceForm()
    if not form.validate_on_submit():
        return _page(status=400)
    wanted = bool(form.approve_each.data)
    try:
        support_access.set_approve_each(
            _customer(), wanted, ghost=current_impersonation() is not None, ip=client_ip(), now=clock.now()
        )
    except DomainError as refused:
        flash(refused.message, "error")
        return _page(status=refused.status)
    if wanted:
        flash("From now on, support asks you before every access, and you approve or deny it here.", "info")
    else:
        flash("Support no longer asks you each time: your opt-in or an access code lets them in.", "info")
    return redirect(url_for("support_requests.index"), code=303)


def _page(*, invalid: tuple[int, CustomerDecisionForm] | None = None, status: int = 200):
    user, now = _customer(), clock.now()
    rows = requests.for_user(user.id, limit=50)
    forms = {r.id: CustomerDecisionForm(formdata=None) for r in rows if "customer" in r.waiting_for}
    if invalid is not None and invalid[0] in forms:
        forms[invalid[0]] = invalid[1]
    tenant, choice = user.tenant, None
    if policy.users_choose_approval(tenant):
        choice = ApprovalChoiceForm(formdata=None, approve_each=user.approve_each_request)
    return (
        render_template(
            "tenant/support_access/requests.html",
            waiting=[r for r in rows if r.id in forms],
            decided=[r for r in rows if r.id not in forms],
            forms=forms,
            choice=choice,
            policy_approves=tenant.access_policy == "approve_each",
            show_reason=not tenant.hide_justification,
            now=now,
        ),
        status,
    )
