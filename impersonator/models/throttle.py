"""Failure counters behind lockouts and rate limits (DESIGN I6)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from impersonator.extensions import db
from impersonator.models.types import UTCDateTime


class FailureCounter(db.Model):
    """Failures counted against a key (a hashed email, an IP address) within a window."""

    __tablename__ = "failure_counter"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
