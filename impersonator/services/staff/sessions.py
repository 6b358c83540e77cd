"""Console sign-in sessions kept on the server (DESIGN I4).

The cookie carries a random token; the table keeps its SHA-256. Every console request resolves the
token here, so sign-out, disabling a staff member, idle time and the absolute limit all take effect on
the very next request, and a copied cookie is worthless once the row has ended.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm.attributes import set_committed_value

from impersonator.extensions import db
from impersonator.models import Staff, StaffSession
from impersonator.services import audit
from impersonator.services.audit import Actor
from impersonator.services.secret_text import token_digest

# last_seen_at is written at most this often, so a busy page costs no write per request.
_TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class SessionLimits:
    idle: timedelta
    absolute: timedelta


def limits() -> SessionLimits:
    """The configured idle and absolute lifetimes of a console session."""
    config = current_app.config
    return SessionLimits(
        idle=timedelta(minutes=config["CONSOLE_IDLE_MINUTES"]),
        absolute=timedelta(hours=config["CONSOLE_ABSOLUTE_HOURS"]),
    )


def start(staff: Staff, *, ip: str | None, user_agent: str | None, now: datetime) -> str:
    """Open a session for `staff`; returns the token for the cookie (never stored in clear)."""
    token = secrets.token_urlsafe(32)
    db.session.add(
        StaffSession(
            staff_id=staff.id,
            token_hash=token_digest(token),
            created_at=now,
            last_seen_at=now,
            expires_at=now + limits().absolute,
            ip=ip,
            user_agent=(user_agent or "")[:300] or None,
        )
    )
    return token


def resolve(token: str | None, *, now: datetime) -> StaffSession | None:
    """The live session for `token`, or None. Ends (and audits) a session found past its limits."""
    if not isinstance(token, str) or not token or len(token) > 100:  # a cookie's contents are input
        return None
    # The staff member comes in the same query: this runs on every console request.
    found = db.session.execute(_RESOLVE, {"token_hash": token_digest(token)}).first()
    if found is None:
        return None
    row, staff = found
    set_committed_value(row, "staff", staff)  # read with it: `row.staff` costs no query of its own
    if row.ended_at is not None:
        return None
    if not staff.active:
        _end(row, "staff_disabled", Actor.system(), ip=None, now=now)
        db.session.commit()
        return None
    if now >= row.expires_at or now - row.last_seen_at >= limits().idle:
        reason = "absolute_timeout" if now >= row.expires_at else "idle_timeout"
        _end(row, reason, Actor.system(), ip=None, now=now)
        db.session.commit()
        return None
    if now - row.last_seen_at >= _TOUCH_EVERY:
        row.last_seen_at = now
        db.session.commit()
    return row


# Built once. The session and its staff member as two entities of one row: a quarter less CPU than
# the same join as an eager load (`joinedload`), on every console request.
_RESOLVE = (
    select(StaffSession, Staff)
    .join(Staff, Staff.id == StaffSession.staff_id)
    .where(StaffSession.token_hash == bindparam("token_hash"))
)


def end(token: str | None, *, ip: str | None, now: datetime) -> None:
    """Sign out: end the session behind `token` (if live) and audit it."""
    if not token:
        return
    row = db.session.scalar(select(StaffSession).where(StaffSession.token_hash == token_digest(token)))
    if row is None or row.ended_at is not None:
        return
    _end(row, "signed_out", Actor.staff(row.staff), ip=ip, now=now)
    db.session.commit()


def end_all_for(staff_id: int, *, reason: str, now: datetime) -> int:
    """End every live session of one staff member in the current transaction; returns the count."""
    result = db.session.execute(
        update(StaffSession)
        .where(StaffSession.staff_id == staff_id, StaffSession.ended_at.is_(None))
        .values(ended_at=now, end_reason=reason)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def live_for(staff_id: int, *, now: datetime) -> list[StaffSession]:
    """The staff member's sessions that are still usable, newest first."""
    rows = db.session.scalars(
        select(StaffSession)
        .where(
            StaffSession.staff_id == staff_id,
            StaffSession.ended_at.is_(None),
            StaffSession.expires_at > now,
            StaffSession.last_seen_at > now - limits().idle,
        )
        .order_by(StaffSession.created_at.desc())
    )
    return list(rows)


def _end(row: StaffSession, reason: str, actor: Actor, *, ip: str | None, now: datetime) -> None:
    row.ended_at, row.end_reason = now, reason
    action = "staff.signed_out" if reason == "signed_out" else "staff.session_ended"
    audit.about_staff(
        action,
        staff_id=row.staff_id,
        actor=actor,
        at=now,
        ip=ip,
        details={"reason": reason, "session_id": row.id},
    )
