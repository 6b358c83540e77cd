"""The outbox worker's sender (each kind of message to its channel: mail, webhook, Slack), and the
admin's *Retry* of a message that gave up."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from impersonator.extensions import db
from impersonator.models import OutboxMessage
from impersonator.services import audit
from impersonator.services.audit import Actor
from impersonator.services.delivery import mail, outbox, slack, webhooks
from impersonator.services.delivery.outbox import Outgoing

SENDERS = {"mail": mail.send, "webhook": webhooks.send, "slack": slack.send}


def send(message: Outgoing, now: datetime) -> None:
    """Deliver one message through the sender of its kind."""
    sender = SENDERS.get(message.kind)
    if sender is None:
        raise outbox.DeliveryFailed(f"no sender for messages of kind {message.kind!r}")
    sender(message, now)


def work_once(
    now: datetime, *, limit: int = 50, clock: Callable[[], datetime] | None = None
) -> outbox.WorkDone:
    """One pass of the worker over every due message."""
    return outbox.work_once(now, send, limit=limit, clock=clock)


def retry(message_pk: int, *, actor: Actor, ip: str | None, now: datetime) -> OutboxMessage:
    """An admin's *Retry*: the failed message is due again at once; audited as `outbox.retried`."""
    message = outbox.retry(message_pk, now=now)
    audit.record(
        "outbox.retried",
        actor=actor,
        at=now,
        ip=ip,
        target_type="outbox_message",
        target_id=message.id,
        details={
            "message_id": message.message_id,
            "kind": message.kind,
            "event": message.event_type,
            "attempts": message.attempts,
            "last_error": message.last_error,
        },
    )
    db.session.commit()
    return message
