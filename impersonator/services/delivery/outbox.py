"""The durable outbox (DESIGN I10): messages are rows written in the transaction of the change they
report, and a worker (`flask outbox work`) delivers them at least once.

A worker claims a due message with a conditional UPDATE that pushes its next attempt a lease into
the future, so any number of workers can run without sending a message twice at the same time.
A failed attempt is retried with exponential backoff and jitter until OUTBOX_GIVE_UP_HOURS after
the message was written; the last attempt falls on that moment, and if it fails too the message is
marked `failed` and shown to admins, who may retry it.
"""

from __future__ import annotations

import logging
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select, update

from impersonator.extensions import db
from impersonator.models import OutboxMessage
from impersonator.services.errors import InvalidInput

log = logging.getLogger("impersonator.outbox")
LAST_ERROR_MAX = 500


class DeliveryFailed(Exception):
    """One attempt did not reach the receiver; the message says why, without secrets."""


class OutboxMessageNotFound(InvalidInput):
    status = 404

    def __init__(self) -> None:
        super().__init__("outbox_message_not_found", "There is no such message.")


@dataclass(frozen=True)
class EndpointSnapshot:
    """A webhook endpoint as it was when its message was claimed."""

    url: str
    secret_encrypted: str
    active: bool


@dataclass(frozen=True)
class Outgoing:
    """A claimed message as plain values. Senders get this, not the row: the attempt waits on the
    network with no transaction open, so a slow receiver never holds a lock (SQLite's write lock
    under BEGIN IMMEDIATE, a pooled connection on PostgreSQL)."""

    message_id: str
    kind: str
    event_type: str
    destination: str
    payload: str
    attempts: int
    endpoint: EndpointSnapshot | None = None


Sender = Callable[[Outgoing, datetime], None]


@dataclass(frozen=True)
class WorkDone:
    """What one pass of the worker did."""

    delivered: int = 0
    retried: int = 0
    failed: int = 0

    @property
    def total(self) -> int:
        return self.delivered + self.retried + self.failed


def new_message_id() -> str:
    """An id that stays the same across retries (the receiver de-duplicates on it)."""
    return "msg_" + secrets.token_urlsafe(18)


def enqueue(
    kind: str,
    *,
    event_type: str,
    destination: str,
    payload: str,
    now: datetime,
    endpoint_id: int | None = None,
) -> OutboxMessage:
    """Write a message in the caller's transaction: it goes out only if that transaction commits."""
    message = OutboxMessage(
        message_id=new_message_id(),
        kind=kind,
        event_type=event_type,
        destination=destination,
        endpoint_id=endpoint_id,
        payload=payload,
        status="pending",
        attempts=0,
        created_at=now,
        next_attempt_at=now,
    )
    db.session.add(message)
    return message


def backoff(attempts: int, *, rng: Callable[[], float] = random.random) -> timedelta:
    """The wait after `attempts` failed attempts: doubling from the base, capped, with jitter
    (between half and all of it) so receivers coming back are not hit by every worker at once."""
    config = current_app.config
    doubled = config["OUTBOX_RETRY_BASE_SECONDS"] * 2 ** min(max(attempts - 1, 0), 32)
    ceiling = min(doubled, config["OUTBOX_RETRY_MAX_SECONDS"])
    return timedelta(seconds=ceiling * (0.5 + rng() / 2))


def give_up_at(message: OutboxMessage) -> datetime:
    """When retrying stops: OUTBOX_GIVE_UP_HOURS after the message was written."""
    return message.created_at + timedelta(hours=current_app.config["OUTBOX_GIVE_UP_HOURS"])


def due_ids(now: datetime, *, limit: int) -> list[int]:
    """Pending messages whose next attempt is due, oldest first. Ends its read transaction: a
    worker that finds nothing and goes to sleep must not sleep inside a transaction."""
    ids = list(
        db.session.scalars(
            select(OutboxMessage.id)
            .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
        )
    )
    db.session.rollback()
    return ids


def claim(message_pk: int, now: datetime) -> bool:
    """Take one due message for an attempt (at most one worker wins); commits the claim.

    The lease (three delivery timeouts) outlasts any attempt; a worker that dies mid-attempt leaves
    the message to be claimed again when the lease runs out, so nothing is lost (at least once)."""
    lease = now + timedelta(seconds=current_app.config["DELIVERY_TIMEOUT_SECONDS"] * 3)
    claimed = db.session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_pk,
            OutboxMessage.status == "pending",
            OutboxMessage.next_attempt_at <= now,
        )
        .values(next_attempt_at=lease, attempts=OutboxMessage.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return claimed.rowcount == 1


def outgoing(message_pk: int) -> Outgoing:
    """Read one message (and its endpoint) as plain values, then end the read transaction."""
    message = db.session.get(OutboxMessage, message_pk)
    endpoint = message.endpoint
    snapshot = Outgoing(
        message_id=message.message_id,
        kind=message.kind,
        event_type=message.event_type,
        destination=message.destination,
        payload=message.payload,
        attempts=message.attempts,
        endpoint=EndpointSnapshot(endpoint.url, endpoint.secret_encrypted, endpoint.active)
        if endpoint is not None
        else None,
    )
    db.session.rollback()
    return snapshot


def attempt(message_pk: int, now: datetime, send: Sender) -> str:
    """Send one claimed message and record how it went: delivered | retried | failed.

    Three steps, and only the first and last touch the database, each in a short transaction of its
    own: read the message, send it (no transaction open while the receiver is waited on), record."""
    sending = outgoing(message_pk)
    try:
        send(sending, now)
    except DeliveryFailed as failure:
        error = str(failure)
    except Exception as failure:  # a bug in one sender must not stop the worker or lose the message
        log.exception("outbox delivery raised id=%s kind=%s", sending.message_id, sending.kind)
        error = f"unexpected {type(failure).__name__} while sending"
    else:
        error = None
    db.session.rollback()  # whatever a sender may have begun: the record starts clean
    message = db.session.get(OutboxMessage, message_pk)
    if error is None:
        message.status, message.delivered_at, message.last_error = "delivered", now, None
        outcome = "delivered"
    else:
        outcome = _schedule_retry(message, error, now)
    db.session.commit()
    log.info(
        "outbox %s id=%s kind=%s event=%s attempts=%s",
        outcome,
        message.message_id,
        message.kind,
        message.event_type,
        message.attempts,
    )
    return outcome


def _schedule_retry(message: OutboxMessage, error: str, now: datetime) -> str:
    message.last_error = error[:LAST_ERROR_MAX]
    deadline = give_up_at(message)
    if now >= deadline:
        message.status, message.failed_at = "failed", now
        return "failed"
    # Never wait past the deadline: the last attempt is made right at it.
    message.next_attempt_at = min(now + backoff(message.attempts), deadline)
    return "retried"


def work_once(
    now: datetime,
    send: Sender,
    *,
    limit: int = 50,
    clock: Callable[[], datetime] | None = None,
) -> WorkDone:
    """One pass: claim and attempt every message due at `now` (up to `limit`).

    A long-running worker passes `clock`, so each claim's lease and each attempt's timestamp (the
    signed `webhook-timestamp`) is the time of that attempt, not of the start of the pass."""
    counts = {"delivered": 0, "retried": 0, "failed": 0}
    for message_pk in due_ids(now, limit=limit):
        moment = max(now, clock()) if clock else now
        if claim(message_pk, moment):
            counts[attempt(message_pk, moment, send)] += 1
    return WorkDone(**counts)


def retry(message_pk: int, *, now: datetime) -> OutboxMessage:
    """Give a failed message one more attempt, now (an admin's *Retry*), in the caller's transaction.

    The give-up clock is not restarted: a receiver still down sends the message straight back to
    `failed` with the new error, and the admin sees it at once."""
    message = db.session.get(OutboxMessage, message_pk)
    if message is None:
        raise OutboxMessageNotFound()
    if message.status != "failed":
        raise InvalidInput("outbox_message_not_failed", "Only a failed message can be retried.")
    if message.kind == "webhook" and message.endpoint_id is None:
        raise InvalidInput(
            "webhook_endpoint_deleted", "The webhook endpoint of this message was deleted; it cannot be sent."
        )
    message.status, message.failed_at, message.next_attempt_at = "pending", None, now
    return message


def failed(*, limit: int = 100) -> list[OutboxMessage]:
    """Messages that gave up, newest first (shown to admins with *Retry*)."""
    return list(
        db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.status == "failed")
            .order_by(OutboxMessage.failed_at.desc(), OutboxMessage.id.desc())
            .limit(limit)
        )
    )


def pending(*, limit: int = 100) -> list[OutboxMessage]:
    """Messages waiting for their next attempt, soonest first."""
    return list(
        db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.status == "pending")
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
        )
    )


def counts() -> dict[str, int]:
    """How many messages are pending, delivered and failed."""
    rows = db.session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))
    return {"pending": 0, "delivered": 0, "failed": 0} | {status: n for status, n in rows}
