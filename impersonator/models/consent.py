"""Support access codes: what a customer reads out to support when not opted in (DESIGN §9)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from impersonator.clock import now
from impersonator.extensions import db
from impersonator.models.types import UTCDateTime


class AccessCode(db.Model):
    """Stored only as a keyed hash (HMAC): the code is short, a plain hash could be brute-forced."""

    __tablename__ = "access_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("tenant_user.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
