"""Deciding approval requests (DESIGN §11): the customer on their Support access page, a second
staff member in the console, and the security officer's review of a break-glass.

Each decision is one conditional UPDATE of the request's row (still pending, not yet decided by
that side, not the requester's own, not past its answer time), so two deciders at once make one
decision and the other is told it was already decided. The row lock the first UPDATE takes also
orders the step that follows it: the request becomes `approved` only when every decision it needs
is in, as the last decider's transaction sees them."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, or_, update

from impersonator.extensions import db
from impersonator.models import MODES, ApprovalRequest, Staff, User
from impersonator.services import audit
from impersonator.services.approvals.requests import close_request, get, summary
from impersonator.services.approvals.rules import may_approve
from impersonator.services.audit import Actor
from impersonator.services.consent.support_access import NotForGhost
from impersonator.services.errors import DomainError, InvalidInput, NotAllowed
from impersonator.services.staff.roles import Permission, allows
from impersonator.services.validation import clean_text

NOTE_MAX = 500


class AlreadyDecided(DomainError):
    status = 409

    def __init__(self, message: str = "Someone else decided this request a moment ago.") -> None:
        super().__init__("already_decided", message)


def decide_as_customer(
    user: User,
    request_id: int,
    *,
    approve: bool,
    note: str | None,
    ghost: bool = False,
    ip: str | None,
    now: datetime,
) -> ApprovalRequest:
    """The customer approves or denies a request about their own account (never a ghost in it)."""
    if ghost:
        raise NotForGhost()
    request = get(request_id)
    if request.user_id != user.id or not request.needs_customer:
        raise NotAllowed("not_your_decision", "This request is not yours to decide.")
    note = _note(note)
    decision = "approved" if approve else "denied"
    result = db.session.execute(
        update(ApprovalRequest)
        .where(
            ApprovalRequest.id == request.id,
            ApprovalRequest.state == "pending",
            ApprovalRequest.customer_decision.is_(None),
            ApprovalRequest.answer_by > now,
        )
        .values(customer_decision=decision, customer_decided_at=now, customer_note=note)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.rollback()
        raise _why_not(request.id, now)
    return _after_decision(request, decision, "customer", Actor.customer(user), note=note, ip=ip, now=now)


def decide_as_staff(
    approver: Staff,
    request_id: int,
    *,
    approve: bool,
    note: str | None,
    mode: str | None = None,
    duration_minutes: int | None = None,
    ip: str | None,
    now: datetime,
) -> ApprovalRequest:
    """A second staff member approves (optionally narrowing mode and duration) or denies. Never
    the requester: the UPDATE itself says so, whatever raced before it."""
    if not may_approve(approver):
        raise NotAllowed("may_not_approve", "You may not approve requests.")
    request = get(request_id)
    if request.staff_id == approver.id:
        raise NotAllowed("own_request", "You cannot approve your own request: another approver must.")
    if not request.needs_staff:
        raise NotAllowed("not_your_decision", "This request does not need a staff member's approval.")
    note = _note(note)
    values = {"staff_decision": "approved" if approve else "denied", "staff_decider_id": approver.id}
    if approve:
        values |= _narrowed(request, mode, duration_minutes)
    result = db.session.execute(
        update(ApprovalRequest)
        .where(
            ApprovalRequest.id == request.id,
            ApprovalRequest.state == "pending",
            ApprovalRequest.staff_decision.is_(None),
            ApprovalRequest.staff_id != approver.id,
            ApprovalRequest.answer_by > now,
        )
        .values(**values, staff_decided_at=now, staff_note=note)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.rollback()
        raise _why_not(request.id, now)
    return _after_decision(
        request, values["staff_decision"], "staff", Actor.staff(approver), note=note, ip=ip, now=now
    )


def _narrowed(request: ApprovalRequest, mode: str | None, minutes: int | None) -> dict:
    """The granted mode and duration: the asked ones, or narrower; a wider one is refused."""
    mode = mode or request.mode
    minutes = minutes or request.duration_minutes
    if mode not in MODES:
        raise InvalidInput("bad_mode", "Choose read-only or full mode.")
    if mode == "full" and request.mode != "full":
        raise InvalidInput("cannot_widen", "An approval can narrow a request, never widen it.")
    if not 1 <= minutes <= request.duration_minutes:
        raise InvalidInput("cannot_widen", "An approval can shorten a request, never lengthen it.")
    return {"granted_mode": mode, "granted_minutes": minutes}


def _after_decision(
    request: ApprovalRequest, decision: str, side: str, actor: Actor, *, note: str | None, ip, now
) -> ApprovalRequest:
    """A denial closes the request; an approval is recorded, and the request becomes approved when
    it was the last decision needed. One commit for all of it."""
    if decision == "denied":
        close_request(
            request,
            "denied",
            "approval.denied",
            reason=f"{side}_denied",
            actor=actor,
            ip=ip,
            now=now,
            details=_said(side, note),
        )
        db.session.commit()
        return request
    window = timedelta(minutes=current_app.config["APPROVAL_START_MINUTES"])
    complete = db.session.execute(
        update(ApprovalRequest)
        .where(
            ApprovalRequest.id == request.id,
            ApprovalRequest.state == "pending",
            or_(ApprovalRequest.needs_customer.is_(False), ApprovalRequest.customer_decision == "approved"),
            or_(ApprovalRequest.needs_staff.is_(False), ApprovalRequest.staff_decision == "approved"),
        )
        .values(state="approved", approved_at=now, start_by=now + window)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(request)
    audit.about_user(
        "approval.approved",
        user_id=request.user_id,
        tenant_id=request.tenant_id,
        actor=actor,
        at=now,
        ip=ip,
        details={
            **summary(request),
            **_said(side, note),
            "complete": complete.rowcount == 1,
            "start_by": request.start_by.isoformat() if request.start_by else None,
        },
    )
    db.session.commit()
    return request


def _said(side: str, note: str | None) -> dict:
    return {"decided_by": side, **({"note": note} if note else {})}


def _why_not(request_id: int, now: datetime) -> DomainError:
    """Why a decision's UPDATE matched nothing, read after the fact for the message."""
    request = get(request_id)
    if request.state == "pending" and request.answer_by <= now:
        return NotAllowed("approval_expired", "This request waited too long and has expired.")
    if request.state != "pending":
        return AlreadyDecided(f"This request is already {request.state}.")
    return AlreadyDecided()


def _note(note: str | None) -> str | None:
    return clean_text(note, "Note", max_length=NOTE_MAX, required=False, allow_newlines=True) or None


def review_break_glass(
    officer: Staff, request_id: int, *, note: str | None, ip: str | None, now: datetime
) -> ApprovalRequest:
    """A security officer's post-incident review of a used break-glass; until one is written, that
    staff member cannot break glass again. Written once."""
    if not officer.active or not allows(officer.role, Permission.AUDIT):
        raise NotAllowed("may_not_review", "Only the security team reviews break-glass access.")
    request = get(request_id)
    if not request.break_glass or request.state != "used":
        raise InvalidInput("nothing_to_review", "Only a break-glass access that was used is reviewed.")
    if request.staff_id == officer.id:
        raise NotAllowed("own_request", "Someone else must review your own break-glass access.")
    text = clean_text(note, "Review", max_length=5000, allow_newlines=True)
    if len(text) < 20:
        raise InvalidInput(
            "review_too_short", "Write what happened and why it was needed (20 characters or more)."
        )
    result = db.session.execute(
        update(ApprovalRequest)
        .where(and_(ApprovalRequest.id == request.id, ApprovalRequest.reviewed_at.is_(None)))
        .values(review_note=text, reviewed_by_id=officer.id, reviewed_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.rollback()
        raise AlreadyDecided("This break-glass access has already been reviewed.")
    db.session.refresh(request)
    audit.about_user(
        "approval.reviewed",
        user_id=request.user_id,
        tenant_id=request.tenant_id,
        actor=Actor.staff(officer),
        at=now,
        ip=ip,
        details={**summary(request), "impersonation_id": request.impersonation_id, "review": text},
    )
    db.session.commit()
    return request
