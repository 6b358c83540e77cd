"""Permission refusals on the console: each is an `authz.denied` audit event (DESIGN I1),
coalesced so that a crawler cannot flood the chain, and a burst from one staff member raises a
security alert (alerts.check_authz_denial_burst).

Coalescing: at most one event per console session and permission per COALESCE_WINDOW. Refusals in
between are counted on the session's `authz_denial` row, and the next event for that session and
permission carries them as `suppressed`. Every refusal still counts toward the burst alert.

The request that is refused writes nothing else, so the refusal is recorded in a transaction of its
own, committed here. A database that fails meanwhile does not change the answer: the refusal
stands, one log line says it went unrecorded.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from impersonator.extensions import db
from impersonator.logs import database_problem
from impersonator.models import AuthzDenial, Staff
from impersonator.services import audit
from impersonator.services.audit import Actor, alerts
from impersonator.services.validation import loggable_path

log = logging.getLogger("impersonator.authz")

# Fixed rather than configured: it bounds how fast one session can grow the audit chain (five
# permissions, so at most one event a minute), and a person refused by mistake is seen at once (the
# first refusal is always written); no deployment needs a different trade-off.
COALESCE_WINDOW = timedelta(minutes=5)
# The permission recorded for a view that names none (deny by default refuses it to everyone).
UNDECLARED = "undeclared"
_PATH_CHARS = 500


def record_refusal(
    staff: Staff,
    *,
    session_id: int,
    permission: str | None,
    path: str,
    method: str,
    ip: str | None,
    now: datetime,
) -> bool:
    """Record that `staff` was refused `permission` at `method path`, coalesced, and commit.
    Returns whether it was recorded; False (and the transaction rolled back) if the database failed."""
    try:
        _record(staff, session_id, permission or UNDECLARED, path=path, method=method, ip=ip, now=now)
        db.session.commit()
    except SQLAlchemyError as error:
        log.error("permission refusal not recorded: %s", database_problem(error))
        try:
            db.session.rollback()
        except SQLAlchemyError:
            db.session.close()
        return False
    return True


def _record(
    staff: Staff, session_id: int, permission: str, *, path: str, method: str, ip: str | None, now: datetime
) -> None:
    actor = Actor.staff(staff)
    # Per-key rows (this counter, the burst's throttle row) before the audit chain's head, which is
    # always locked last: the same order on every path, so two requests never wait on each other.
    row = _counter(staff.id, session_id, permission)
    alerts.check_authz_denial_burst(staff.id, actor, now=now, ip=ip)
    if row.recorded_at is None or now - row.recorded_at >= COALESCE_WINDOW:
        audit.record(
            "authz.denied",
            actor=actor,
            at=now,
            ip=ip,
            outcome="denied",
            details={
                "permission": permission,
                "path": loggable_path(path, max_length=_PATH_CHARS),
                "method": method,
                "ip": ip,
                "session_id": session_id,
                "suppressed": row.suppressed,
            },
        )
        row.recorded_at, row.suppressed = now, 0
    else:
        row.suppressed += 1


def _counter(staff_id: int, session_id: int, permission: str) -> AuthzDenial:
    """The (session, permission) counter row, created if missing without racing a parallel insert,
    and locked (FOR UPDATE on PostgreSQL; SQLite's write lock does the same) until the commit."""
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    db.session.execute(
        dialect.insert(AuthzDenial)
        .values(staff_session_id=session_id, staff_id=staff_id, permission=permission, suppressed=0)
        .on_conflict_do_nothing(index_elements=["staff_session_id", "permission"])
    )
    return db.session.scalar(
        select(AuthzDenial)
        .where(AuthzDenial.staff_session_id == session_id, AuthzDenial.permission == permission)
        .with_for_update()
    )
