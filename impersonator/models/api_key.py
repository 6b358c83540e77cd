"""API keys of the console's JSON API (DESIGN §12): scoped, stored only as a keyed hash, revocable."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from impersonator.clock import now
from impersonator.extensions import db
from impersonator.models.staff import Staff
from impersonator.models.types import UTCDateTime

API_SCOPES = ("impersonations:read", "sessions:terminate", "audit:read")


class ApiKey(db.Model):
    """One key an admin created. The key itself (`imp_live_<id>_<secret>`) is shown once and never
    stored: `secret_hash` is an HMAC of its secret part with a key of its own (services/api/keys.py)."""

    __tablename__ = "api_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[str] = mapped_column(String(200))  # space-separated, from API_SCOPES
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_ip: Mapped[str | None] = mapped_column(String(45))

    created_by: Mapped[Staff] = relationship(foreign_keys=[created_by_id])

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    @property
    def active(self) -> bool:
        return self.revoked_at is None
