"""Impersonations, the requests made in a ghost session, and the global switch (DESIGN §3)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from impersonator.clock import now
from impersonator.extensions import db
from impersonator.models.staff import Staff
from impersonator.models.tenant import Tenant, User
from impersonator.models.types import BigIntId, UTCDateTime

MODES = ("read_only", "full")
END_REASONS = (
    "staff_ended",
    "user_revoked",
    "security_terminated",
    "expired",
    "switched_off",
    "staff_disabled",
    "totp_reset",
    "policy_changed",
    "wrong_tenant",
    "token_exposed",
    "token_expired",  # never redeemed; recorded by the sweep once the token could no longer be used
)


class Impersonation(db.Model):
    """One request to see a user's account: issued with a one-time token, redeemed at most once
    into a ghost session that ends at `expires_at` at the latest."""

    __tablename__ = "impersonation"
    __table_args__ = (
        Index("ix_impersonation_staff_issued", "staff_id", "issued_at"),
        Index("ix_impersonation_user_issued", "user_id", "issued_at"),
        # Only the impersonations not ended yet: what the sweep reads every half minute.
        Index(
            "ix_impersonation_open",
            "id",
            postgresql_where=text("ended_at IS NULL"),
            sqlite_where=text("ended_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("tenant_user.id"))
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"), index=True)
    reason: Mapped[str] = mapped_column(Text())
    ticket: Mapped[str | None] = mapped_column(String(100))
    mode: Mapped[str] = mapped_column(String(10))
    duration_minutes: Mapped[int] = mapped_column()
    access_via: Mapped[str] = mapped_column(String(10))  # opt_in | code | approval | emergency
    # Why, as a code from models.approval.REASON_CODES (None on impersonations made before codes).
    reason_code: Mapped[str | None] = mapped_column(String(32))
    break_glass: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The token's id and audience; the token itself is never stored (DESIGN I3).
    token_jti: Mapped[str] = mapped_column(String(64), unique=True)
    audience: Mapped[str] = mapped_column(String(253))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    token_expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # When the console's handoff page carried the token (once: a reload says so, issue 13).
    handed_over_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end_reason: Mapped[str | None] = mapped_column(String(32))
    # Why the security team terminated it, or who ended it, as people wrote it.
    end_note: Mapped[str | None] = mapped_column(String(500))
    issue_ip: Mapped[str | None] = mapped_column(String(45))
    issue_user_agent: Mapped[str | None] = mapped_column(String(300))
    redeem_ip: Mapped[str | None] = mapped_column(String(45))
    redeem_user_agent: Mapped[str | None] = mapped_column(String(300))
    # SHA-256 of the secret that redemption put in the ghost's cookie: the cookie names this row,
    # and only the secret proves the browser is the one that redeemed it (not a SECRET_KEY holder).
    ghost_secret_hash: Mapped[str | None] = mapped_column(String(64))

    staff: Mapped[Staff] = relationship()
    user: Mapped[User] = relationship()
    tenant: Mapped[Tenant] = relationship()

    def state(self, at: datetime) -> str:
        """issued | expired_unredeemed | active | ended (DESIGN §3)."""
        if self.redeemed_at is None and (self.ended_at is None or self.end_reason == "token_expired"):
            return "issued" if self.ended_at is None and at < self.token_expires_at else "expired_unredeemed"
        if self.ended_at is not None:
            return "ended"
        return "active" if self.expires_at is not None and at < self.expires_at else "ended"


class GhostRequest(db.Model):
    """One request made in a ghost session: the customer is the subject, the staff member the
    actor (RFC 8693 style). Kept apart from the audit chain so every ghost request stays cheap.

    `impersonation_id` has no foreign key, on purpose (migration 0017): on PostgreSQL the key would
    lock the impersonation's row for every request of the session. Rows are written only for the
    impersonation the ghost guard has just read, and impersonations are never deleted."""

    __tablename__ = "ghost_request"
    __table_args__ = (Index("ix_ghost_request_impersonation", "impersonation_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    impersonation_id: Mapped[int] = mapped_column()
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    status: Mapped[int] = mapped_column()


class Setting(db.Model):
    """Product-wide switches, such as `impersonation_enabled` (the global kill switch)."""

    __tablename__ = "setting"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
