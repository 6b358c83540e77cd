"""A time range of the audit log as a `seq` window, so a query by time reads one index range.

`seq` and `at` grow together: `at` is the caller's clock, read before the chain head is locked, so
two events can disagree in order only by as long as a transaction waits for that lock, plus whatever
the app servers' clocks disagree by. Allowing TIME_SLACK for that, the last event more than
TIME_SLACK before a range's start and the first one more than TIME_SLACK after its end (one probe of
the `at` index each) bound the range in `seq`; the exact `at` conditions then only trim the window's
edges. (Should clocks ever disagree by more, an event near the edge of a range could be left out of
it; it is never shown outside its range.)
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select

from impersonator.extensions import db
from impersonator.models import AuditEvent

TIME_SLACK = timedelta(hours=1)


def since(start: datetime) -> list[ColumnElement[bool]]:
    """A lower bound on `seq` that keeps every event at or after `start` (none if none is older)."""
    floor = db.session.scalar(
        select(AuditEvent.seq)
        .where(AuditEvent.at < start - TIME_SLACK)
        .order_by(AuditEvent.at.desc())
        .limit(1)
    )
    return [] if floor is None else [AuditEvent.seq > floor]


def before(end: datetime) -> list[ColumnElement[bool]]:
    """An upper bound on `seq` that keeps every event before `end` (none if none is newer)."""
    ceiling = db.session.scalar(
        select(AuditEvent.seq).where(AuditEvent.at >= end + TIME_SLACK).order_by(AuditEvent.at).limit(1)
    )
    return [] if ceiling is None else [AuditEvent.seq < ceiling]
