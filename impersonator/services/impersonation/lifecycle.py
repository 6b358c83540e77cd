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


def request(staff: Staff, ask: Request, *, ip: str | None, user_agent: str | None, now: datetime) -> Issued:
    """Check everything (I5, I6), then record the impersonation; a refusal is audited and re-raised."""
    user = user_for_request(ask.user_id)
    try:
        return _issue(staff, user, ask, ip=ip, user_agent=user_agent, now=now)
    except DomainError as denied:
        _record_denial(staff, user, ask, denied, ip=ip, now=now)
        raise


def _issue(
    staff: Staff, user: User, ask: Request, *, ip: str | None, user_agent: str | None, now: datetime
) -> Issued:
    """The checks in their order, then the impersonation row (its token's jti and expiry), committed."""
    justification, ticket = _well_formed(ask)
    needs_code = _check_allowed(staff, user, ask, now=now)
    _step_up(staff, user, ask, needs_code=needs_code, ip=ip, now=now)
    audience = user.tenant.primary_domain
    imp = _record_request(
        staff,
        user,
        ask,
        justification=justification,
        ticket=ticket,
        needs_code=needs_code,
        audience=audience,
        ip=ip,
        user_agent=user_agent,
        now=now,
    )
    db.session.commit()
    return Issued(imp.id)


def _well_formed(ask: Request) -> tuple[str, str | None]:
    """The cleaned justification (I6: long enough once trimmed) and ticket, the mode and duration
    checked; first, so a mistyped form never uses up a TOTP step or the customer's code. The first
    problem is the refusal audited; the page shows every one (request_form.problems)."""
    cleaned, found = request_form.well_formed(ask)
    if found:
        raise found[0]
    return cleaned


def _check_allowed(staff: Staff, user: User, ask: Request, *, now: datetime) -> bool:
    """Who may impersonate whom (I5, I6); returns whether the customer's access code is needed.
    Before the step-up, so a request that cannot be allowed spends no code."""
    policy.check_staff(staff, ask.mode)
    policy.check_target(user, now)
    needs_code = policy.code_required(user, now)
    if needs_code and not (ask.access_code or "").strip():
        raise policy.deny("code_needed" if user.tenant.access_policy == "code_always" else "consent_needed")
    return needs_code


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
    staff: Staff,
    user: User,
    ask: Request,
    *,
    justification: str,
    ticket: str | None,
    needs_code: bool,
    audience: str,
    ip: str | None,
    user_agent: str | None,
    now: datetime,
) -> Impersonation:
    """The impersonation row and its `impersonation.requested` event, in the caller's transaction
    (I1); flushed, since the token is signed over the row's id."""
    imp = Impersonation(
        staff_id=staff.id,
        user_id=user.id,
        tenant_id=user.tenant_id,
        reason=justification,
        ticket=ticket,
        mode=ask.mode,
        duration_minutes=ask.duration_minutes,
        access_via="code" if needs_code else "opt_in",
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
            "ticket": ticket,
            "reason": justification,
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
