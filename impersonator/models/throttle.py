"""Failed attempts and the locks they cause (DESIGN I6); request counts per window."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from impersonator.extensions import db
from impersonator.models.types import BigIntId, UTCDateTime


class FailedAttempt(db.Model):
    """One failure counted against a key (a hashed email, an IP address). Rows older than the
    window are pruned as new ones arrive, so counting "the last 15 minutes" stays cheap. `source`
    is a keyed hash of the client address where a limit counts distinct addresses (a staff
    account's lock), never the address itself."""

    __tablename__ = "failed_attempt"
    __table_args__ = (Index("ix_failed_attempt_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str | None] = mapped_column(String(64))


class Lockout(db.Model):
    """One row per key that has failed: the row lock serialises counting for that key, and
    `locked_until` says until when the key is refused."""

    __tablename__ = "lockout"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RateCount(db.Model):
    """Requests counted against a key (a limit's tier and a staff member or client address) in its
    current fixed window, which ends at `window_end`. One row per key: the first request of a new
    window resets it in the same upsert, so only keys that stop coming leave a row behind, and those
    are swept (services/rate_limits.py)."""

    __tablename__ = "rate_count"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    window_end: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    count: Mapped[int] = mapped_column(Integer)
