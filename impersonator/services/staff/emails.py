"""Email to staff members: composed when the change happens and queued in the
outbox in its transaction, like the customers' mail; never sent from a request."""

from __future__ import annotations

from datetime import datetime

from flask import current_app

from impersonator.models import OutboxMessage, Staff
from impersonator.services import throttle
from impersonator.services.delivery import mail


def lock_notice(staff: Staff, *, locked_at: datetime, until: datetime, now: datetime) -> OutboxMessage:
    """Tell a staff member that wrong passwords or codes from several addresses locked their
    account: when, until when, and whom to tell if it was not them."""
    limit = throttle.spread_limit()
    message = mail.compose(
        "staff_locked",
        to=staff.email,
        staff=staff,
        subject="Your Impersonator account is locked",
        locked_at=locked_at,
        until=until,
        failures=limit.threshold,
        addresses=limit.min_sources,
        window_minutes=int(limit.window.total_seconds() // 60),
        security_contact=current_app.config["SECURITY_CONTACT"],
    )
    return mail.enqueue(message, event_type="staff.lock_notice", now=now)
