"""Counting failures against a key and locking it (DESIGN I6).

Keys are opaque strings: `email:<sha256>` for an account name, whether or not it exists (so a
lockout tells nothing about existence), `email_ip:<hmac>` for an account name from one client
address, `ip:<address>` for a client address. Failures are rows, so "5 within the last 15 minutes"
is a true rolling window; a limit may also ask that they come from several sources (distinct client
addresses, stored as keyed hashes). The key's `lockout` row is read FOR UPDATE (PostgreSQL;
SQLite's write lock does the same), so parallel failures are counted one after another.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from impersonator.extensions import db
from impersonator.models import FailedAttempt, Lockout
from impersonator.services.keys import derived_key


@dataclass(frozen=True)
class Limit:
    """`threshold` failures within `window`, from at least `min_sources` distinct sources, lock the
    key for `lock_for`."""

    threshold: int
    window: timedelta
    lock_for: timedelta
    min_sources: int = 1


def account_limit() -> Limit:
    """LOCKOUT_THRESHOLD wrong passwords or codes within the window lock a key: a staff account
    from one address, a customer account."""
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


def spread_limit() -> Limit:
    """ACCOUNT_LOCK_FAILURES wrong passwords or codes within the window, from at least
    ACCOUNT_LOCK_ADDRESSES addresses, lock a staff account from everywhere."""
    config = current_app.config
    return Limit(
        threshold=config["ACCOUNT_LOCK_FAILURES"],
        window=account_limit().window,
        lock_for=account_limit().lock_for,
        min_sources=config["ACCOUNT_LOCK_ADDRESSES"],
    )


def email_key(email: str) -> str:
    """The counter key for an account name, hashed so the table holds no addresses."""
    return "email:" + hashlib.sha256(email.encode()).hexdigest()


def ip_key(ip: str | None) -> str:
    return f"ip:{ip or 'unknown'}"


def pair_key(email: str, ip: str | None) -> str:
    """The counter key for an account name tried from one address (neither is readable in it)."""
    return "email_ip:" + _keyed_hash(f"pair\n{email}\n{ip or 'unknown'}")


def source_of(ip: str | None) -> str:
    """A client address as a failure's source: keyed, so the table is no list of addresses (a plain
    hash of an IPv4 address is undone by trying all four billion)."""
    return _keyed_hash(f"source\n{ip or 'unknown'}")


def _keyed_hash(text: str) -> str:
    return hmac.new(derived_key("failure-counters"), text.encode(), hashlib.sha256).hexdigest()


def locked_until(key: str, now: datetime) -> datetime | None:
    """When the lock on `key` ends, or None if it is not locked."""
    until = db.session.scalar(select(Lockout.locked_until).where(Lockout.key == key))
    return until if until is not None and until > now else None


def record_failure(key: str, limit: Limit, now: datetime, *, source: str | None = None) -> datetime | None:
    """Count one failure (from `source`, where the limit counts sources); returns the lock's end if
    this failure locked the key. Failures while the key is locked neither count nor extend the lock."""
    lock = _lock_row(key)
    if lock.locked_until is not None and lock.locked_until > now:
        return None
    db.session.add(FailedAttempt(key=key, at=now, source=source))
    db.session.execute(
        delete(FailedAttempt).where(FailedAttempt.key == key, FailedAttempt.at <= now - limit.window)
    )
    db.session.flush()
    recent = db.session.scalar(select(func.count()).where(FailedAttempt.key == key))
    if recent < limit.threshold:
        return None
    if limit.min_sources > 1:
        sources = db.session.scalar(
            select(func.count(func.distinct(FailedAttempt.source))).where(FailedAttempt.key == key)
        )
        if sources < limit.min_sources:
            return None
    lock.locked_until = now + limit.lock_for
    db.session.execute(delete(FailedAttempt).where(FailedAttempt.key == key))
    db.session.flush()
    return lock.locked_until


def clear(key: str) -> None:
    """Forget the failures and any lock of `key` (after a full success)."""
    db.session.execute(delete(FailedAttempt).where(FailedAttempt.key == key))
    db.session.execute(delete(Lockout).where(Lockout.key == key))


def forget_source(key: str, source: str) -> None:
    """Forget the failures of `key` that came from `source` (its lock, if any, stays)."""
    db.session.execute(delete(FailedAttempt).where(FailedAttempt.key == key, FailedAttempt.source == source))


def _lock_row(key: str) -> Lockout:
    """The key's lockout row, created if missing, locked: one upsert that inserts the row or locks
    the one there. (An insert-if-missing followed by SELECT … FOR UPDATE found nothing when a full
    sign-in deleted the row between the two statements.)"""
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    upsert = dialect.insert(Lockout).values(key=key)
    upsert = upsert.on_conflict_do_update(index_elements=["key"], set_={"key": upsert.excluded.key})
    return db.session.scalars(upsert.returning(Lockout), execution_options={"populate_existing": True}).one()
