"""Staff members and their console sign-in sessions, kept on the server (DESIGN I4)."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from impersonator.clock import now
from impersonator.extensions import db
from impersonator.models.types import UTCDateTime

ROLES = ("support", "impersonator", "security", "admin")


class Staff(UserMixin, db.Model):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(255))
    # Fernet token; set when enrolment starts, trusted only once totp_enrolled_at is set.
    totp_secret_encrypted: Mapped[str | None] = mapped_column(String(255))
    totp_enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The last accepted TOTP time step, so each step works once (RFC 6238 §5.2, DESIGN I6).
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger())
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # An admin's choice: this impersonator may approve other members' requests (DESIGN §7, §11).
    may_approve: Mapped[bool] = mapped_column(default=False, server_default=false())

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    @property
    def totp_enrolled(self) -> bool:
        return self.totp_enrolled_at is not None


class StaffSession(db.Model):
    """One console sign-in. The cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "staff_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end_reason: Mapped[str | None] = mapped_column(String(32))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(300))

    staff: Mapped[Staff] = relationship()


class StaffSignInStep(db.Model):
    """Sign-in's half-way state (password or enrolment link done, TOTP next), kept on the server so
    that it can end: the cookie holds a random token, only its SHA-256 is stored, and the code step
    ends the row with a conditional UPDATE, so a copy of the half-way cookie opens nothing after
    the sign-in completed, locked or timed out."""

    __tablename__ = "staff_sign_in_step"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end_reason: Mapped[str | None] = mapped_column(String(32))


class AuthzDenial(db.Model):
    """The refusals of one console session for one permission, coalesced (services/audit/authz_denials.py):
    when the last `authz.denied` event was written, and how many refusals came since without one."""

    __tablename__ = "authz_denial"
    __table_args__ = (UniqueConstraint("staff_session_id", "permission"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_session_id: Mapped[int] = mapped_column(ForeignKey("staff_session.id", ondelete="CASCADE"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    permission: Mapped[str] = mapped_column(String(32))
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # None: no event yet
    suppressed: Mapped[int] = mapped_column(default=0)


class StaffInvite(db.Model):
    """A one-time enrolment link for a new (or reset) staff member: only its SHA-256 is stored."""

    __tablename__ = "staff_invite"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
