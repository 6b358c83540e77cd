"""Reading what the app wrote, for assertions."""

from __future__ import annotations

import json

from impersonator.extensions import db
from impersonator.models import AuditEvent, Staff, StaffSession


def audit_actions(app) -> list[tuple[str, str]]:
    """(action, outcome) of every audit event, in order."""
    with app.app_context():
        return [
            (e.action, e.outcome) for e in db.session.scalars(db.select(AuditEvent).order_by(AuditEvent.id))
        ]


def audit_events(app, action: str) -> list[dict]:
    """The events of one action, with their details decoded; the request id the audit service adds
    to the details of an event written during a request is given apart, as `request_id`."""
    with app.app_context():
        rows = db.session.scalars(
            db.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
        events = []
        for e in rows:
            details = json.loads(e.details)
            events.append(
                {
                    "actor_type": e.actor_type,
                    "actor_id": e.actor_id,
                    "actor_label": e.actor_label,
                    "outcome": e.outcome,
                    "target_id": e.target_id,
                    "ip": e.ip,
                    "request_id": details.pop("request_id", None),
                    "details": details,
                }
            )
        return events


def staff_row(app, staff_id: int) -> Staff:
    with app.app_context():
        row = db.session.get(Staff, staff_id)
        db.session.expunge(row)
        return row


def staff_sessions(app, staff_id: int) -> list[StaffSession]:
    with app.app_context():
        rows = list(
            db.session.scalars(
                db.select(StaffSession).where(StaffSession.staff_id == staff_id).order_by(StaffSession.id)
            )
        )
        for row in rows:
            db.session.expunge(row)
        return rows
