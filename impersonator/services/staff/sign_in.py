"""Staff sign-in: password, then TOTP (or TOTP enrolment on first sign-in), then a server-side
session. Failures are counted per account name and address, per account name and per address
(services/lockout.py: an email alone locks nobody out), and every attempt, good or bad, is
audited (DESIGN I1, I6).

The half-way state between the two steps is a server-side row too (a sign-in step): the cookie
carries a random token whose SHA-256 the row keeps, and the step ends when the sign-in completes
(a conditional UPDATE, in the transaction that opens the session), when the account locks, or when
SIGN_IN_STEP_SECONDS pass. A copy of the half-way cookie is worthless after any of these (I4).
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select, update

from impersonator.extensions import db
from impersonator.models import Staff, StaffSignInStep
from impersonator.services import audit, secret_box, throttle
from impersonator.services.audit import Actor
from impersonator.services.errors import DomainError
from impersonator.services.passwords import verify_password
from impersonator.services.secret_text import token_digest
from impersonator.services.staff import lockout, sessions, totp
from impersonator.services.validation import normalise_email


class SignInRefused(DomainError):
    """The one answer for a wrong email, a wrong password or a disabled account."""

    status = 401

    def __init__(self) -> None:
        super().__init__("bad_credentials", "Incorrect email or password.")


class SignInStepExpired(DomainError):
    status = 400

    def __init__(self) -> None:
        super().__init__("step_expired", "Your sign-in took too long. Please start again.")


def check_password(email_input: str | None, password: str, *, ip: str | None, now: datetime) -> Staff:
    """Step one: the staff member whose email and password these are, or SignInRefused / Locked."""
    email = normalise_email(email_input)
    _refuse_while_locked(email, ip=ip, now=now)
    staff = db.session.scalar(select(Staff).where(Staff.email == email))
    password_ok = verify_password(staff.password_hash if staff else None, password)
    if staff is None or not password_ok or not staff.active:
        if staff is None:
            reason = "unknown_email"
        else:
            reason = "wrong_password" if not password_ok else "staff_disabled"
        _record_failure(email, staff, reason, ip=ip, now=now, step_token=None)
        raise SignInRefused()
    if not staff.totp_enrolled and staff.totp_secret_encrypted is None:
        # First sign-in (or after a reset): the secret to enrol is made now, on this POST.
        staff.totp_secret_encrypted = secret_box.encrypt(totp.new_secret())
        db.session.commit()
    return staff


def open_step(staff_id: int, *, now: datetime) -> str:
    """Record that `staff_id` passed the first step (password or enrolment link); returns the token
    for the cookie, good for SIGN_IN_STEP_SECONDS and one completed sign-in."""
    token = secrets.token_urlsafe(32)
    # The member's steps that can no longer be used go as a new one comes: the table stays small.
    db.session.execute(
        delete(StaffSignInStep).where(StaffSignInStep.staff_id == staff_id, StaffSignInStep.expires_at <= now)
    )
    db.session.add(
        StaffSignInStep(
            staff_id=staff_id,
            token_hash=token_digest(token),
            created_at=now,
            expires_at=now + timedelta(seconds=current_app.config["SIGN_IN_STEP_SECONDS"]),
        )
    )
    db.session.commit()
    return token


def pending_staff(step_token: str | None, *, now: datetime) -> Staff:
    """The staff member half-way through sign-in, if the step behind `step_token` is still open."""
    if not isinstance(step_token, str) or not step_token or len(step_token) > 100:
        raise SignInStepExpired()
    step = db.session.scalar(
        select(StaffSignInStep).where(StaffSignInStep.token_hash == token_digest(step_token))
    )
    if step is None or step.ended_at is not None or now >= step.expires_at:
        raise SignInStepExpired()
    staff = db.session.get(Staff, step.staff_id)
    if staff is None or not staff.active:
        raise SignInStepExpired()
    return staff


def complete_with_totp(
    staff: Staff,
    step_token: str | None,
    code: str | None,
    *,
    ip: str | None,
    user_agent: str | None,
    now: datetime,
) -> str:
    """Step two: check the TOTP code once and end the sign-in step; returns the new console
    session token."""
    if not staff.totp_enrolled:
        raise SignInStepExpired()
    _check_code(staff, code, step_token, ip=ip, now=now)
    _end_step(staff, step_token, now=now)
    _forget_failures(staff, ip=ip)
    return _open_session(staff, "password+totp", ip=ip, user_agent=user_agent, now=now)


def enrolment_secret(staff: Staff) -> str:
    """The secret waiting to be confirmed (created at the password step, kept encrypted)."""
    if staff.totp_enrolled or staff.totp_secret_encrypted is None:
        raise SignInStepExpired()
    return secret_box.decrypt(staff.totp_secret_encrypted)


def confirm_enrolment(
    staff: Staff,
    step_token: str | None,
    code: str | None,
    *,
    ip: str | None,
    user_agent: str | None,
    now: datetime,
) -> str:
    """Step two on first sign-in: one good code confirms the authenticator, ends the sign-in step
    and signs in."""
    if staff.totp_enrolled or staff.totp_secret_encrypted is None:
        raise SignInStepExpired()
    _check_code(staff, code, step_token, ip=ip, now=now)
    _end_step(staff, step_token, now=now)
    _forget_failures(staff, ip=ip)
    staff.totp_enrolled_at = now
    audit.about_staff(
        "staff.totp_enrolled",
        staff_id=staff.id,
        actor=Actor.staff(staff),
        at=now,
        ip=ip,
    )
    return _open_session(staff, "password+totp_enrolment", ip=ip, user_agent=user_agent, now=now)


def sign_out(token: str | None, *, ip: str | None, now: datetime) -> None:
    """End the console session behind `token`."""
    sessions.end(token, ip=ip, now=now)


def _end_step(staff: Staff, step_token: str | None, *, now: datetime) -> None:
    """End the sign-in step as completed, in the transaction that opens the session. A conditional
    UPDATE, not read-then-write: of two code steps racing with copies of one cookie, one wins."""
    if not step_token:
        db.session.rollback()
        raise SignInStepExpired()
    ended = db.session.execute(
        update(StaffSignInStep)
        .where(
            StaffSignInStep.token_hash == token_digest(step_token),
            StaffSignInStep.staff_id == staff.id,
            StaffSignInStep.ended_at.is_(None),
            StaffSignInStep.expires_at > now,
        )
        .values(ended_at=now, end_reason="completed")
        .execution_options(synchronize_session=False)
    )
    if ended.rowcount != 1:
        db.session.rollback()  # the TOTP step this attempt used is not spent
        raise SignInStepExpired()


def _end_open_steps(staff_id: int, reason: str, *, now: datetime, step_token: str | None = None) -> None:
    """End the open sign-in steps of one staff member (only the one behind `step_token`, if given),
    in the current transaction."""
    ending = update(StaffSignInStep).where(
        StaffSignInStep.staff_id == staff_id, StaffSignInStep.ended_at.is_(None)
    )
    if step_token is not None:
        ending = ending.where(StaffSignInStep.token_hash == token_digest(step_token))
    db.session.execute(
        ending.values(ended_at=now, end_reason=reason).execution_options(synchronize_session=False)
    )


def _check_code(
    staff: Staff, code: str | None, step_token: str | None, *, ip: str | None, now: datetime
) -> None:
    _refuse_while_locked(staff.email, ip=ip, now=now)
    try:
        totp.consume(staff.id, secret_box.decrypt(staff.totp_secret_encrypted), code, now)
    except totp.TotpRejected as rejected:
        _record_failure(staff.email, staff, rejected.reason, ip=ip, now=now, step_token=step_token)
        raise


def _forget_failures(staff: Staff, *, ip: str | None) -> None:
    """After a full sign-in, this address's failures stop counting: the owner's own typos never help
    lock them out. Those from elsewhere stay, so an attacker's progress toward the account lock is
    not wiped. Called before anything is audited (counter rows before the audit chain's head)."""
    throttle.clear(throttle.pair_key(staff.email, ip))
    throttle.forget_source(throttle.email_key(staff.email), throttle.source_of(ip))


def _open_session(staff: Staff, method: str, *, ip: str | None, user_agent: str | None, now: datetime) -> str:
    staff.last_sign_in_at = now
    token = sessions.start(staff, ip=ip, user_agent=user_agent, now=now)
    audit.about_staff(
        "staff.signed_in",
        staff_id=staff.id,
        actor=Actor.staff(staff),
        at=now,
        ip=ip,
        details={"method": method},
    )
    db.session.commit()
    return token


def _refuse_while_locked(email: str, *, ip: str | None, now: datetime) -> None:
    # Throttles are not audited per attempt: their start was, and a flood must not flood the trail.
    address_lock = lockout.address_lock(ip, now)
    if address_lock:
        raise address_lock
    locked = lockout.account_lock(email, ip=ip, now=now)
    if locked is None:
        return
    if locked.reason == "account_locked":
        audit.record(
            "staff.sign_in_failed",
            actor=Actor.anonymous(email),
            at=now,
            ip=ip,
            outcome="denied",
            details={"reason": "locked", "email": email},
        )
        db.session.commit()
    raise locked


def _record_failure(
    email: str, staff: Staff | None, reason: str, *, ip: str | None, now: datetime, step_token: str | None
) -> None:
    """Count and audit one failure in a transaction of its own, then commit it."""
    db.session.rollback()  # nothing half-done by the failed step rides along with the failure
    counted = count_toward_lock(email, staff, ip=ip, now=now, step_token=step_token)
    actor = Actor.staff(staff) if staff else Actor.anonymous(email)
    audit.about_staff(
        "staff.sign_in_failed",
        staff_id=staff.id if staff else None,
        actor=actor,
        at=now,
        ip=ip,
        outcome="failure",
        details={"reason": reason, "email": email},
    )
    lockout.report(counted, now=now)
    db.session.commit()


def count_toward_lock(
    email: str, staff: Staff | None, *, ip: str | None, now: datetime, step_token: str | None = None
) -> lockout.Counted:
    """Count a wrong password or TOTP code (sign-in or step-up alike, DESIGN I6) in the caller's
    transaction, before anything is audited; the caller audits, then `lockout.report`s."""
    counted = lockout.count(email, staff, ip=ip, now=now)
    if staff is not None and counted.locked_until:
        # Failed for good: every half-way sign-in of this account ends with the lock.
        _end_open_steps(staff.id, "locked", now=now)
    elif staff is not None and counted.throttled_until and step_token:
        # Throttled from here: the half-way sign-in that failed ends; the owner's elsewhere does not.
        _end_open_steps(staff.id, "throttled", now=now, step_token=step_token)
    return counted
