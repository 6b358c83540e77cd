"""How approved requests are used, and how open ones end without a decision: the sweep expires
those nobody answered (or whose start window passed), and switches and lost standing cancel them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select, update

from impersonator.extensions import db
from impersonator.models import ApprovalRequest, Staff
from impersonator.services.approvals.requests import close_request, get
from impersonator.services.audit import Actor
from impersonator.services.errors import NotAllowed

STATE_MESSAGES = {
    "pending": "This request is still waiting for approval.",
    "used": "This approval has already been used: ask again for another impersonation.",
    "denied": "This request was denied.",
    "expired": "This approval has expired: ask again.",
    "withdrawn": "This request was withdrawn.",
    "cancelled": "This request was cancelled.",
}


def claim(staff: Staff, request_id: int, *, user_id: int, now: datetime) -> ApprovalRequest:
    """Use an approval to start, at most once (a conditional UPDATE in the caller's transaction,
    which rolls it back if the start fails): approved, the requester's own, for this user, inside
    its start window."""
    request = get(request_id)
    if request.staff_id != staff.id or request.user_id != user_id:
        raise NotAllowed("not_your_request", "This approval is not for you and this user.")
    result = db.session.execute(
        update(ApprovalRequest)
        .where(
            ApprovalRequest.id == request.id,
            ApprovalRequest.state == "approved",
            ApprovalRequest.start_by > now,
        )
        .values(state="used", closed_at=now, close_reason="used")
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.refresh(request)
        state = "expired" if request.state == "approved" else request.state
        raise NotAllowed(f"approval_{state}", STATE_MESSAGES[state])
    db.session.refresh(request)
    return request


def link_impersonation(request: ApprovalRequest, impersonation_id: int) -> None:
    """Remember which impersonation the approval started (same transaction as `claim`)."""
    db.session.execute(
        update(ApprovalRequest)
        .where(ApprovalRequest.id == request.id)
        .values(impersonation_id=impersonation_id)
        .execution_options(synchronize_session=False)
    )


def expire_due(now: datetime, actor: Actor, *, limit: int) -> tuple[int, int]:
    """Expire up to `limit` pending requests past their answer time and approvals past their start
    window, in the caller's transaction, each audited once; returns (found, expired by this call).
    Run by the sweep (services/impersonation/sweep.py), batch by batch."""
    due = db.session.scalars(
        select(ApprovalRequest)
        .where(
            ApprovalRequest.state.in_(("pending", "approved")),
            or_(
                (ApprovalRequest.state == "pending") & (ApprovalRequest.answer_by <= now),
                (ApprovalRequest.state == "approved") & (ApprovalRequest.start_by <= now),
            ),
        )
        .order_by(ApprovalRequest.id)
        .limit(limit)
    ).all()
    expired = 0
    for request in due:
        reason = "unanswered" if request.state == "pending" else "not_started"
        expired += close_request(
            request, "expired", "approval.expired", reason=reason, actor=actor, ip=None, now=now
        )
    return len(due), expired


def cancel_open(
    reason: str,
    actor: Actor,
    *,
    now: datetime,
    ip: str | None = None,
    tenant_id: int | None = None,
    staff_id: int | None = None,
) -> int:
    """Cancel every open request (all, one tenant's, or one staff member's) in the caller's
    transaction: the kill switch, a tenant switched off, a staff member losing standing."""
    query = select(ApprovalRequest).where(ApprovalRequest.state.in_(("pending", "approved")))
    if tenant_id is not None:
        query = query.where(ApprovalRequest.tenant_id == tenant_id)
    if staff_id is not None:
        query = query.where(ApprovalRequest.staff_id == staff_id)
    requests = db.session.scalars(query.order_by(ApprovalRequest.id)).all()
    return sum(
        close_request(request, "cancelled", "approval.cancelled", reason=reason, actor=actor, ip=ip, now=now)
        for request in requests
    )
