"""Opening and withdrawing approval requests, and reading them (DESIGN §11).

The lifecycle (services/impersonation/lifecycle.py) decides that a request needs approval and calls
`open_request` in its transaction, after the staff member's step-up; the customer's consent of the
ordinary kind (opt-in, a code) was checked there too, so an approval never stands in for it unless
the customer approves or the glass is broken."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from impersonator.extensions import db
from impersonator.models import ApprovalRequest, Staff, User
from impersonator.services import audit
from impersonator.services.approvals import rules
from impersonator.services.approvals.rules import Needs
from impersonator.services.audit import Actor, alerts
from impersonator.services.customer import notifications
from impersonator.services.errors import InvalidInput, NotAllowed
from impersonator.services.staff.roles import Permission, allows


class RequestNotFound(InvalidInput):
    status = 404

    def __init__(self) -> None:
        super().__init__("approval_not_found", "There is no such request.")


@dataclass(frozen=True)
class Asked:
    """A well-formed request, as lifecycle checked it."""

    reason_code: str
    justification: str
    ticket: str | None
    mode: str
    duration_minutes: int
    break_glass: bool


def open_request(
    staff: Staff, user: User, asked: Asked, needs: Needs, *, ip: str | None, now: datetime
) -> ApprovalRequest:
    """The pending request and its `approval.requested` event, in the caller's transaction; the
    customer is emailed when they must decide (or at once, for a break-glass), approvers through
    Slack and webhooks (events.py), and a break-glass raises a security alert."""
    config = current_app.config
    request = ApprovalRequest(
        staff_id=staff.id,
        user_id=user.id,
        tenant_id=user.tenant_id,
        reason_code=asked.reason_code,
        justification=asked.justification,
        ticket=asked.ticket,
        mode=asked.mode,
        duration_minutes=asked.duration_minutes,
        granted_mode=asked.mode,
        granted_minutes=asked.duration_minutes,
        consent=needs.consent,
        needs_customer=needs.customer,
        needs_staff=needs.staff,
        break_glass=asked.break_glass,
        state="pending",
        requested_at=now,
        answer_by=now + timedelta(hours=config["APPROVAL_ANSWER_HOURS"]),
        request_ip=ip,
    )
    db.session.add(request)
    db.session.flush()
    actor = Actor.staff(staff)
    audit.about_user(
        "approval.requested",
        user_id=user.id,
        tenant_id=user.tenant_id,
        actor=actor,
        at=now,
        ip=ip,
        details={**summary(request), "reason": asked.justification},
    )
    if request.break_glass:
        alerts.raise_alert(
            "break_glass",
            actor=actor,
            at=now,
            ip=ip,
            tenant_id=user.tenant_id,
            details={"approval_id": request.id, "user_id": user.id, "mode": request.mode},
        )
    if request.break_glass or request.needs_customer:
        notifications.approval_notice(request, now=now)
    return request


def summary(request: ApprovalRequest) -> dict:
    """What every approval event carries, so the trail reads without the row."""
    return {
        "approval_id": request.id,
        "reason_code": request.reason_code,
        "ticket": request.ticket,
        "mode": request.granted_mode,
        "duration_minutes": request.granted_minutes,
        "needs_customer": request.needs_customer,
        "needs_staff": request.needs_staff,
        "break_glass": request.break_glass,
    }


def withdraw(staff: Staff, request_id: int, *, ip: str | None, now: datetime) -> ApprovalRequest:
    """The requester takes back a request still pending or approved and unused."""
    request = get(request_id)
    if request.staff_id != staff.id:
        raise NotAllowed("not_your_request", "Only the staff member who asked can withdraw a request.")
    if not close_request(
        request,
        "withdrawn",
        "approval.withdrawn",
        reason="withdrawn",
        actor=Actor.staff(staff),
        ip=ip,
        now=now,
    ):
        raise NotAllowed("approval_closed", "This request is no longer open.")
    db.session.commit()
    return request


def close_request(
    request: ApprovalRequest,
    state: str,
    action: str,
    *,
    reason: str,
    actor: Actor,
    ip: str | None,
    now: datetime,
    details: dict | None = None,
) -> bool:
    """Close an open request (pending, or approved and unused) at most once, audited once as
    `action`, in the caller's transaction; returns whether this call closed it."""
    result = db.session.execute(
        update(ApprovalRequest)
        .where(ApprovalRequest.id == request.id, ApprovalRequest.state.in_(("pending", "approved")))
        .values(state=state, closed_at=now, close_reason=reason)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    db.session.refresh(request)
    audit.about_user(
        action,
        user_id=request.user_id,
        tenant_id=request.tenant_id,
        actor=actor,
        at=now,
        ip=ip,
        outcome="success" if state != "denied" else "denied",
        details={**summary(request), "close_reason": reason, **(details or {})},
    )
    return True


def get(request_id: int) -> ApprovalRequest:
    """One request by id, or RequestNotFound."""
    request = db.session.get(ApprovalRequest, request_id)
    if request is None:
        raise RequestNotFound()
    return request


def visible_to(staff: Staff, request: ApprovalRequest) -> bool:
    """Who may read a request in the console: its requester, approvers and the security team."""
    return request.staff_id == staff.id or rules.may_approve(staff) or allows(staff.role, Permission.AUDIT)


def awaiting_review(*, limit: int | None = None) -> list[ApprovalRequest]:
    """Break-glass accesses used and not yet reviewed by the security team, oldest first (at most
    `limit`)."""
    return list(
        db.session.scalars(
            select(ApprovalRequest)
            .where(
                ApprovalRequest.break_glass.is_(True),
                ApprovalRequest.state == "used",
                ApprovalRequest.reviewed_at.is_(None),
            )
            .order_by(ApprovalRequest.closed_at, ApprovalRequest.id)
            .limit(limit)
        )
    )


def for_staff(staff_id: int, *, limit: int = 50) -> list[ApprovalRequest]:
    """A staff member's own requests, newest first."""
    return list(
        db.session.scalars(
            select(ApprovalRequest)
            .where(ApprovalRequest.staff_id == staff_id)
            .order_by(ApprovalRequest.requested_at.desc(), ApprovalRequest.id.desc())
            .limit(limit)
        )
    )


def for_user(user_id: int, *, limit: int = 50) -> list[ApprovalRequest]:
    """Requests about one customer user, newest first (their Support access page)."""
    return list(
        db.session.scalars(
            select(ApprovalRequest)
            .where(ApprovalRequest.user_id == user_id)
            .order_by(ApprovalRequest.requested_at.desc(), ApprovalRequest.id.desc())
            .limit(limit)
        )
    )


def waiting_for_staff(approver: Staff, *, now: datetime, limit: int | None = None) -> list[ApprovalRequest]:
    """Pending requests a second staff member must decide, oldest first (at most `limit`), the
    approver's own left out (they can never decide them)."""
    return list(
        db.session.scalars(
            select(ApprovalRequest)
            .where(
                ApprovalRequest.state == "pending",
                ApprovalRequest.needs_staff.is_(True),
                ApprovalRequest.staff_decision.is_(None),
                ApprovalRequest.answer_by > now,
                ApprovalRequest.staff_id != approver.id,
            )
            .order_by(ApprovalRequest.requested_at, ApprovalRequest.id)
            .limit(limit)
        )
    )
