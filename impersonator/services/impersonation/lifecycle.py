"""The lifecycle of an impersonation (DESIGN §3): request → token issued → (redemption.py) →
active → ended. Every state change and every denial is audited in the transaction that makes it (I1).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from impersonator.extensions import db
from impersonator.models import Impersonation, Staff, User
from impersonator.services import audit, secret_box, throttle
from impersonator.services.approvals import closing as approval_closing
from impersonator.services.approvals import requests as approval_requests
from impersonator.services.approvals import rules as approval_rules
from impersonator.services.audit import Actor, alerts
from impersonator.services.consent import access_codes
from impersonator.services.customer import notifications
from impersonator.services.errors import DomainError, InvalidInput, Locked
from impersonator.services.impersonation import policy, request_form
from impersonator.services.staff import lockout, sign_in, totp


class UserNotFound(InvalidInput):
    status = 404

    def __init__(self) -> None:
        super().__init__("user_not_found", "There is no such user.")


@dataclass(frozen=True)
class Request:
    """What a staff member asks for on the user page (every field re-checked here, never trusted)."""

    user_id: int
    justification: str | None
    ticket: str | None
    duration_minutes: int | None
    mode: str | None
    totp_code: str | None
    access_code: str | None
    reason_code: str | None = None  # models.REASON_CODES (DESIGN §11)
    break_glass: bool = False
    approval_id: int | None = None  # set: start this approved request (the other fields are its own)


def user_for_request(user_id: int) -> User:
    """The customer user a console page is about, or UserNotFound."""
    user = db.session.get(User, user_id)
    if user is None:
        raise UserNotFound()
    return user


@dataclass(frozen=True)
class Issued:
    """A granted request: the impersonation recorded. Its one-time token is signed once, by the
    handoff page (`handoff.hand_over`), never here."""

    impersonation_id: int


@dataclass(frozen=True)
class Pending:
    """A request that someone must decide first (DESIGN §11): the approval request's id."""

    approval_id: int


def request(
    staff: Staff, ask: Request, *, ip: str | None, user_agent: str | None, now: datetime
) -> Issued | Pending:
    """Check everything (I5, I6), then record the impersonation, or the approval request it needs,
    or start an approved one; a refusal is audited and re-raised."""
    user = user_for_request(ask.user_id)
    try:
        if ask.approval_id is not None:
            return _start_approved(staff, user, ask, ip=ip, user_agent=user_agent, now=now)
        return _issue(staff, user, ask, ip=ip, user_agent=user_agent, now=now)
    except DomainError as denied:
        _record_denial(staff, user, ask, denied, ip=ip, now=now)
        raise


def _issue(
    staff: Staff, user: User, ask: Request, *, ip: str | None, user_agent: str | None, now: datetime
) -> Issued:
    """The checks in their order, then the impersonation row (its token's jti and expiry), or the
    approval request it needs, committed."""
    justification, ticket = _well_formed(ask)
    reason_code = approval_rules.check_reason_code(user.tenant, ask.reason_code)
    approval_rules.check_ticket(user.tenant, ticket)
    needs = _check_allowed(staff, user, ask, reason_code, now=now)
    _step_up(staff, user, ask, needs_code=needs.consent == "code", ip=ip, now=now)
    if needs.any:
        asked = approval_requests.Asked(
            reason_code, justification, ticket, ask.mode, ask.duration_minutes, ask.break_glass
        )
        approval = approval_requests.open_request(staff, user, asked, needs, ip=ip, now=now)
        db.session.commit()
        return Pending(approval.id)
    grant = Grant(ask.mode, ask.duration_minutes, needs.consent, reason_code, justification, ticket)
    imp = _record_request(staff, user, grant, ip=ip, user_agent=user_agent, now=now)
    db.session.commit()
    return Issued(imp.id)


def _start_approved(
    staff: Staff, user: User, ask: Request, *, ip: str | None, user_agent: str | None, now: datetime
) -> Issued:
    """Start an approved request: a fresh TOTP code, the approval used once (its granted mode and
    duration), the switches, the staff member's standing and an opt-in checked again."""
    _step_up(staff, user, ask, needs_code=False, ip=ip, now=now)
    approval = approval_closing.claim(staff, ask.approval_id, user_id=user.id, now=now)
    policy.check_staff(staff, approval.granted_mode)
    policy.check_target(user, now)
    if approval.consent == "opt_in" and policy.code_required(user, now):
        raise policy.deny("consent_needed")  # the opt-in lapsed or was withdrawn in between
    grant = Grant(
        approval.granted_mode,
        approval.granted_minutes,
        approval.consent,
        approval.reason_code,
        approval.justification,
        approval.ticket,
        break_glass=approval.break_glass,
    )
    imp = _record_request(staff, user, grant, ip=ip, user_agent=user_agent, now=now)
    approval_closing.link_impersonation(approval, imp.id)
    db.session.commit()
    return Issued(imp.id)


@dataclass(frozen=True)
class Grant:
    """What the impersonation is granted: as asked, or as an approval granted it."""

    mode: str
    minutes: int
    access_via: str  # models.approval.CONSENT_KINDS
    reason_code: str
    justification: str
    ticket: str | None
    break_glass: bool = False


def _well_formed(ask: Request) -> tuple[str, str | None]:
    """The cleaned justification (I6: long enough once trimmed) and ticket, the mode and duration
    checked; first, so a mistyped form never uses up a TOTP step or the customer's code. The first
    problem is the refusal audited; the page shows every one (request_form.problems)."""
    cleaned, found = request_form.well_formed(ask)
    if found:
        raise found[0]
    return cleaned


def _check_allowed(
    staff: Staff, user: User, ask: Request, reason_code: str, *, now: datetime
) -> approval_rules.Needs:
    """Who may impersonate whom (I5, I6) and who must approve it first (DESIGN §11). Before the
    step-up, so a request that cannot be allowed spends no code."""
    policy.check_staff(staff, ask.mode)
    policy.check_target(user, now)
    if ask.break_glass:
        approval_rules.check_break_glass(staff, user, reason_code, now=now)
    needs = approval_rules.needs(user, ask.mode, break_glass=ask.break_glass, now=now)
    if needs.consent == "code" and not (ask.access_code or "").strip():
        raise policy.deny("code_needed" if user.tenant.access_policy == "code_always" else "consent_needed")
    return needs


def _step_up(
    staff: Staff, user: User, ask: Request, *, needs_code: bool, ip: str | None, now: datetime
) -> None:
    """A fresh TOTP code, each step once (I6); then the customer's code, once. Each lock is checked
    before its code, so a locked account or code gets no more guesses."""
    locked = lockout.account_lock(staff.email, ip=ip, now=now)
    if locked:
        raise locked
    totp.consume(staff.id, secret_box.decrypt(staff.totp_secret_encrypted), ask.totp_code, now)
    if needs_code:
        code_lock = throttle.locked_until(access_codes.failure_key(user.id), now)
        if code_lock:
            raise Locked("access_code_locked", code_lock)
        access_codes.consume(user, ask.access_code, now=now)


def _record_request(
    staff: Staff, user: User, grant: Grant, *, ip: str | None, user_agent: str | None, now: datetime
) -> Impersonation:
    """The impersonation row and its `impersonation.requested` event, in the caller's transaction
    (I1); flushed, since the token is signed over the row's id."""
    audience = user.tenant.primary_domain
    imp = Impersonation(
        staff_id=staff.id,
        user_id=user.id,
        tenant_id=user.tenant_id,
        reason=grant.justification,
        ticket=grant.ticket,
        reason_code=grant.reason_code,
        break_glass=grant.break_glass,
        mode=grant.mode,
        duration_minutes=grant.minutes,
        access_via=grant.access_via,
        token_jti=secrets.token_urlsafe(24),
        audience=audience,
        issued_at=now,
        token_expires_at=now + timedelta(seconds=current_app.config["TOKEN_TTL_SECONDS"]),
        issue_ip=ip,
        issue_user_agent=(user_agent or "")[:300] or None,
    )
    db.session.add(imp)
    db.session.flush()
    audit.about_user(
        "impersonation.requested",
        user_id=user.id,
        tenant_id=user.tenant_id,
        actor=Actor.staff(staff),
        at=now,
        ip=ip,
        details={
            "impersonation_id": imp.id,
            "mode": imp.mode,
            "duration_minutes": imp.duration_minutes,
            "access_via": imp.access_via,
            "reason_code": grant.reason_code,
            "break_glass": grant.break_glass,
            "ticket": grant.ticket,
            "reason": grant.justification,
        },
    )
    return imp


def _record_denial(
    staff: Staff, user: User, ask: Request, denied: DomainError, *, ip: str | None, now: datetime
) -> None:
    """Count wrong codes toward their locks, then audit the refusal and any lock it started, in a
    transaction of its own (counter rows are locked before the audit chain's head)."""
    db.session.rollback()
    counted = None
    if isinstance(denied, totp.TotpRejected):
        counted = sign_in.count_toward_lock(staff.email, staff, ip=ip, now=now)
    code_lock = None
    if isinstance(denied, access_codes.AccessCodeRejected):
        code_lock = throttle.record_failure(
            access_codes.failure_key(user.id), access_codes.failure_limit(), now
        )
        if code_lock:
            access_codes.revoke_all(user.id, now=now)
    audit.about_user(
        "impersonation.denied",
        user_id=user.id,
        tenant_id=user.tenant_id,
        actor=Actor.staff(staff),
        at=now,
        ip=ip,
        outcome="denied",
        details={"reason": denied.reason, "mode": ask.mode, "ticket": (ask.ticket or "")[:100]},
    )
    if counted is not None:
        lockout.report(counted, now=now)
    if code_lock:
        audit.about_user(
            "access_code.locked",
            user_id=user.id,
            tenant_id=user.tenant_id,
            actor=Actor.staff(staff),
            at=now,
            ip=ip,
            outcome="denied",
            details={"until": code_lock.isoformat()},
        )
        alerts.raise_alert(
            "access_code_locked",
            actor=Actor.staff(staff),
            at=now,
            ip=ip,
            tenant_id=user.tenant_id,
            details={"user_id": user.id, "until": code_lock.isoformat()},
        )
        notifications.code_lockout_notice(user, until=code_lock, now=now)
    db.session.commit()


def end(
    impersonation_id: int,
    *,
    reason: str,
    actor: Actor,
    ip: str | None,
    now: datetime,
    note: str | None = None,
) -> bool:
    """End an impersonation (at most once, audited once); returns whether this call ended it."""
    imp = db.session.get(Impersonation, impersonation_id)
    if imp is None:
        return False
    ended = end_in_transaction(imp, reason, actor, ip=ip, now=now, note=note)
    db.session.commit()
    return ended


def end_in_transaction(
    imp: Impersonation,
    reason: str,
    actor: Actor,
    *,
    ip: str | None,
    now: datetime,
    note: str | None = None,
) -> bool:
    """End it in the caller's transaction, at most once; the end is audited once. `note` keeps
    what a person wrote about why (a security officer's reason to terminate)."""
    result = db.session.execute(
        update(Impersonation)
        .where(Impersonation.id == imp.id, Impersonation.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason, end_note=note)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    details = {"impersonation_id": imp.id, "reason": reason}
    if note:
        details["note"] = note
    audit.about_user(
        "impersonation.ended",
        user_id=imp.user_id,
        tenant_id=imp.tenant_id,
        actor=actor,
        at=now,
        ip=ip,
        details=details,
    )
    return True


def open_ones(
    now: datetime,
    *,
    staff_id: int | None = None,
    tenant_id: int | None = None,
    include_unredeemed: bool = False,
) -> list[Impersonation]:
    """Live ghost sessions (redeemed, not ended, not expired), optionally of one staff member or
    one tenant; with `include_unredeemed`, also tokens that could still be redeemed. (A token left
    alone is refused at redemption anyway: redemption re-checks the switches and the staff member.)"""
    live = Impersonation.redeemed_at.is_not(None) & (Impersonation.expires_at > now)
    if include_unredeemed:
        live = live | (Impersonation.redeemed_at.is_(None) & (Impersonation.token_expires_at > now))
    query = select(Impersonation).where(Impersonation.ended_at.is_(None), live)
    if staff_id is not None:
        query = query.where(Impersonation.staff_id == staff_id)
    if tenant_id is not None:
        query = query.where(Impersonation.tenant_id == tenant_id)
    return list(db.session.scalars(query.order_by(Impersonation.id)))


def end_all_in_transaction(
    imps: list[Impersonation], reason: str, actor: Actor, *, ip: str | None, now: datetime
) -> int:
    """End each of `imps` (kill switch, staff disabled, tenant switched off); each end audited."""
    return sum(end_in_transaction(imp, reason, actor, ip=ip, now=now) for imp in imps)


def for_staff(staff_id: int, *, limit: int = 50) -> list[Impersonation]:
    """The staff member's impersonations, newest first."""
    return list(
        db.session.scalars(
            select(Impersonation)
            .where(Impersonation.staff_id == staff_id)
            .order_by(Impersonation.issued_at.desc(), Impersonation.id.desc())
            .limit(limit)
        )
    )


def for_user(user_id: int, *, limit: int = 10) -> list[Impersonation]:
    """Impersonations of one customer user, newest first."""
    return list(
        db.session.scalars(
            select(Impersonation)
            .where(Impersonation.user_id == user_id)
            .order_by(Impersonation.issued_at.desc(), Impersonation.id.desc())
            .limit(limit)
        )
    )


def belongs_to(impersonation_id: int, staff_id: int) -> bool:
    """Is this impersonation the staff member's own?"""
    imp = db.session.get(Impersonation, impersonation_id)
    return imp is not None and imp.staff_id == staff_id
