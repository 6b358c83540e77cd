"""Counting failures against a key and locking it (DESIGN I6).

Keys are opaque strings: `email:<sha256>` for an account name, whether or not it exists (so a
lockout tells nothing about existence), `ip:<address>` for a client address. The counter row is read
with FOR UPDATE (PostgreSQL) or under SQLite's write lock, so parallel failures are all counted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select

from impersonator.extensions import db
from impersonator.models import FailureCounter


@dataclass(frozen=True)
class Limit:
    """`threshold` failures within `window` lock the key for `lock_for`."""

    threshold: int
    window: timedelta
    lock_for: timedelta


def account_limit() -> Limit:
    """LOCKOUT_THRESHOLD wrong passwords or codes within the window lock an account."""
    config = current_app.config
    return Limit(
        threshold=config["LOCKOUT_THRESHOLD"],
        window=timedelta(minutes=config["LOCKOUT_WINDOW_MINUTES"]),
        lock_for=timedelta(minutes=config["LOCKOUT_MINUTES"]),
    )


def address_limit() -> Limit:
    """IP_FAILURE_LIMIT failures from one address within the window refuse it for a while."""
    return Limit(
        threshold=current_app.config["IP_FAILURE_LIMIT"],
        window=account_limit().window,
        lock_for=account_limit().lock_for,
    )


def email_key(email: str) -> str:
    """The counter key for an account name, hashed so the table holds no addresses."""
    return "email:" + hashlib.sha256(email.encode()).hexdigest()


def ip_key(ip: str | None) -> str:
    return f"ip:{ip or 'unknown'}"


def locked_until(key: str, now: datetime) -> datetime | None:
    """When the lock on `key` ends, or None if it is not locked."""
    until = db.session.scalar(select(FailureCounter.locked_until).where(FailureCounter.key == key))
    return until if until is not None and until > now else None


def record_failure(key: str, limit: Limit, now: datetime) -> datetime | None:
    """Count one failure; returns the lock's end if this failure locked the key."""
    counter = db.session.scalar(select(FailureCounter).where(FailureCounter.key == key).with_for_update())
    if counter is None:
        counter = FailureCounter(key=key, failures=0, window_started_at=now)
        db.session.add(counter)
    if now - counter.window_started_at > limit.window:
        counter.failures, counter.window_started_at, counter.locked_until = 0, now, None
    counter.failures += 1
    if counter.failures >= limit.threshold and (counter.locked_until is None or counter.locked_until <= now):
        counter.locked_until = now + limit.lock_for
        counter.failures, counter.window_started_at = 0, now
        db.session.flush()
        return counter.locked_until
    db.session.flush()
    return None


def clear(key: str) -> None:
    """Forget the failures of `key` (after a full success)."""
    db.session.execute(delete(FailureCounter).where(FailureCounter.key == key))
