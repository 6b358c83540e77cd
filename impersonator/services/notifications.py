"""Notifications to customers (DESIGN I7): each one is a row, `sent` or `suppressed`.

While a ghost session is open on the account, nothing reaches the customer: the row is kept as
`suppressed` with the impersonation's id. Otherwise the row is `sent` and the message goes to the
backend, `deliver`, once the caller's transaction commits (a rolled-back change sends nothing). The
backend is a structured log line for now; real mail replaces `deliver` later, through the outbox.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import event
from sqlalchemy.orm import Session

from impersonator.extensions import db
from impersonator.models import Notification, User
from impersonator.services import impersonations

log = logging.getLogger("impersonator.mail")

SUBJECT_MAX = 200  # Notification.subject
_PENDING = "impersonator.notifications.pending"


@dataclass(frozen=True)
class Outgoing:
    """What the backend needs, copied out of the row (rows expire at commit)."""

    notification_id: int
    user_id: int
    to: str
    kind: str
    subject: str
    body: str


def notify(user: User, *, kind: str, subject: str, body: str, now: datetime) -> Notification:
    """Record a notification for `user` in the caller's transaction; send it unless impersonated."""
    ghost = impersonations.active_for_user(user.id, now)
    if len(subject) > SUBJECT_MAX:
        subject = subject[: SUBJECT_MAX - 1] + "…"
    notification = Notification(
        user_id=user.id,
        kind=kind,
        subject=subject,
        body=body,
        status="suppressed" if ghost else "sent",
        impersonation_id=ghost.id if ghost else None,
        created_at=now,
    )
    db.session.add(notification)
    db.session.flush()
    if ghost is None:
        outgoing = Outgoing(notification.id, user.id, user.email, kind, subject, body)
        db.session.info.setdefault(_PENDING, []).append(outgoing)
    return notification


def deliver(message: Outgoing) -> None:
    """The backend: one structured log line, without the address or the body (no personal data)."""
    log.info(
        "notification sent id=%s user_id=%s kind=%s subject=%r",
        message.notification_id,
        message.user_id,
        message.kind,
        message.subject,
    )


@event.listens_for(Session, "after_commit")
def _deliver_committed(session: Session) -> None:
    for message in session.info.pop(_PENDING, []):
        try:
            deliver(message)
        except Exception:  # a backend failure must not turn a committed change into an error page
            log.exception("notification delivery failed id=%s", message.notification_id)


@event.listens_for(Session, "after_transaction_end")
def _forget_uncommitted(session: Session, transaction) -> None:
    # After a commit the queue is already empty; after a rollback or close, nothing was sent.
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
