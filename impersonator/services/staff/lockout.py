"""Wrong staff passwords and TOTP codes, counted toward three limits (DESIGN I6).

Sign-in's password and code steps and the step-up of an impersonation request count alike:

- an account from one address: LOCKOUT_THRESHOLD failures within the window throttle that pair for
  LOCKOUT_MINUTES (audited once, with a security alert); the owner elsewhere is unaffected;
- the account from everywhere: only ACCOUNT_LOCK_FAILURES failures from at least
  ACCOUNT_LOCK_ADDRESSES distinct addresses lock it (`staff.locked`, an alert, and an email to the
  staff member through the outbox), so an email alone no longer locks its owner out;
- an address: IP_FAILURE_LIMIT failures throttle it for every account name.

Unknown emails are counted and throttled the same way (a lock tells nothing about existence).
Counting locks the counters' rows; callers count first and audit after (`report`), so every
counter row is taken before the audit chain's head, in one order: pair, account, address.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from impersonator.models import Staff
from impersonator.services import audit, throttle
from impersonator.services.audit import Actor, alerts
from impersonator.services.errors import Locked
from impersonator.services.staff import emails


@dataclass(frozen=True)
class Counted:
    """One counted failure and the locks it started (their ends; None: not started by it)."""

    email: str
    staff: Staff | None
    ip: str | None
    throttled_until: datetime | None  # this account from this address
    locked_until: datetime | None  # this account from everywhere
    address_until: datetime | None  # this address, whatever the account

    @property
    def actor(self) -> Actor:
        return Actor.staff(self.staff) if self.staff else Actor.anonymous(self.email)


def address_lock(ip: str | None, now: datetime) -> Locked | None:
    """The throttle of this client address, if in force."""
    until = throttle.locked_until(throttle.ip_key(ip), now)
    return Locked("address_throttled", until) if until else None


def account_lock(email: str, *, ip: str | None, now: datetime) -> Locked | None:
    """What refuses `email` from `ip` now, if anything: the account's lock (from everywhere) or its
    throttle from this address. Reads only; takes no row lock."""
    locked = throttle.locked_until(throttle.email_key(email), now)
    throttled = throttle.locked_until(throttle.pair_key(email, ip), now)
    if locked:
        return Locked("account_locked", max(locked, throttled or locked))
    if throttled:
        return Locked("account_throttled", throttled)
    return None


def count(email: str, staff: Staff | None, *, ip: str | None, now: datetime) -> Counted:
    """Count one wrong password or TOTP code against the pair, the account and the address, in the
    caller's transaction (row locks only: nothing is audited here)."""
    return Counted(
        email=email,
        staff=staff,
        ip=ip,
        throttled_until=throttle.record_failure(throttle.pair_key(email, ip), throttle.account_limit(), now),
        locked_until=throttle.record_failure(
            throttle.email_key(email), throttle.spread_limit(), now, source=throttle.source_of(ip)
        ),
        address_until=throttle.record_failure(throttle.ip_key(ip), throttle.address_limit(), now),
    )


def report(counted: Counted, *, now: datetime) -> None:
    """Audit the locks that `counted` started, raise their alerts and queue the staff member's
    email, in the caller's transaction (after its own audit of the failure)."""
    email, ip, actor = counted.email, counted.ip, counted.actor
    staff_id = counted.staff.id if counted.staff else None
    if counted.throttled_until and not counted.locked_until:
        details = {"email": email, "until": counted.throttled_until.isoformat()}
        audit.about_staff(
            "staff.throttled",
            staff_id=staff_id,
            actor=actor,
            at=now,
            ip=ip,
            outcome="denied",
            details=details,
        )
        alerts.raise_alert("staff_throttled", actor=actor, at=now, ip=ip, details=details)
    if counted.locked_until:
        details = {"email": email, "until": counted.locked_until.isoformat()}
        audit.about_staff(
            "staff.locked", staff_id=staff_id, actor=actor, at=now, ip=ip, outcome="denied", details=details
        )
        alerts.raise_alert("staff_locked", actor=actor, at=now, ip=ip, details=details)
        if counted.staff is not None and counted.staff.active:
            emails.lock_notice(counted.staff, locked_at=now, until=counted.locked_until, now=now)
    if counted.address_until:
        audit.record(
            "sign_in.address_throttled",
            actor=Actor.anonymous(ip or "unknown"),
            at=now,
            ip=ip,
            outcome="denied",
            details={"until": counted.address_until.isoformat()},
        )
