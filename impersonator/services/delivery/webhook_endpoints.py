"""Webhook endpoints, as admins manage them (DESIGN I10): create (the URL checked against SSRF, the
secret made here, shown once and stored encrypted), enable, disable, delete, a test event; and
how delivery to each is going, from the outbox. Every change is audited; the secret never is."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update

from impersonator.extensions import db
from impersonator.models import WEBHOOK_EVENTS, OutboxMessage, WebhookEndpoint
from impersonator.services import audit, secret_box
from impersonator.services.audit import Actor
from impersonator.services.delivery import outbox, webhooks
from impersonator.services.errors import InvalidInput
from impersonator.services.validation import clean_text

TEST_EVENT = "webhook.test"


class EndpointNotFound(InvalidInput):
    status = 404

    def __init__(self) -> None:
        super().__init__("webhook_endpoint_not_found", "There is no such webhook endpoint.")


@dataclass(frozen=True)
class Created:
    """A new endpoint and its signing secret, which is shown this once."""

    endpoint: WebhookEndpoint
    secret: str


@dataclass(frozen=True)
class Delivery:
    """How messages to one endpoint are doing."""

    last_delivered_at: datetime | None
    retrying: int  # pending, after at least one failed attempt
    failed: int  # gave up

    @property
    def failing(self) -> bool:
        return self.retrying > 0 or self.failed > 0


@dataclass(frozen=True)
class EndpointRow:
    endpoint: WebhookEndpoint
    delivery: Delivery


def create(
    *, url: str, description: str | None, events: list[str], actor: Actor, ip: str | None, now: datetime
) -> Created:
    """Save a new active endpoint; returns it with its secret (never shown again)."""
    url = webhooks.check_url(url)
    description = clean_text(description, "Description", max_length=200, required=False)
    chosen = [event for event in WEBHOOK_EVENTS if event in set(events)]
    if not chosen or len(chosen) != len(set(events)):
        raise InvalidInput("bad_events", "Choose at least one of the events offered.")
    secret = webhooks.new_secret()
    endpoint = WebhookEndpoint(
        url=url,
        description=description,
        secret_encrypted=secret_box.encrypt(secret),
        events=" ".join(chosen),
        active=True,
        created_at=now,
        created_by_id=actor.id if actor.type == "staff" else None,
    )
    db.session.add(endpoint)
    db.session.flush()
    _audit("webhook.created", endpoint, actor=actor, ip=ip, now=now, details={"events": chosen})
    db.session.commit()
    return Created(endpoint, secret)


def set_active(endpoint_id: int, active: bool, *, actor: Actor, ip: str | None, now: datetime) -> bool:
    """Enable or disable an endpoint; returns whether anything changed. A disabled endpoint gets no
    new events; messages already queued wait (retrying) until it is enabled again or they give up."""
    endpoint = get(endpoint_id)
    if endpoint.active == active:
        return False
    endpoint.active = active
    _audit(
        "webhook.enabled" if active else "webhook.disabled",
        endpoint,
        actor=actor,
        ip=ip,
        now=now,
        details={"active": {"old": not active, "new": active}},
    )
    db.session.commit()
    return True


def delete(endpoint_id: int, *, actor: Actor, ip: str | None, now: datetime) -> int:
    """Delete an endpoint; its undelivered messages are marked failed (nowhere to send them).
    Returns how many were."""
    endpoint = get(endpoint_id)
    dropped = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.endpoint_id == endpoint.id, OutboxMessage.status == "pending")
        .values(status="failed", failed_at=now, last_error="the endpoint was deleted")
        .execution_options(synchronize_session=False)
    ).rowcount
    # Explicit, whatever the database does with the foreign key: the history stays, unlinked.
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.endpoint_id == endpoint.id)
        .values(endpoint_id=None)
        .execution_options(synchronize_session=False)
    )
    _audit(
        "webhook.deleted",
        endpoint,
        actor=actor,
        ip=ip,
        now=now,
        details={"events": endpoint.event_names, "undelivered_dropped": dropped},
    )
    db.session.delete(endpoint)
    db.session.commit()
    return dropped


def send_test(endpoint_id: int, *, actor: Actor, ip: str | None, now: datetime) -> OutboxMessage:
    """Queue a `webhook.test` event for this endpoint alone (signed like every other)."""
    endpoint = get(endpoint_id)
    if not endpoint.active:
        raise InvalidInput("webhook_endpoint_disabled", "Enable the endpoint before sending it a test event.")
    body = json.dumps(
        {"type": TEST_EVENT, "timestamp": now.isoformat(), "data": {"endpoint_id": endpoint.id}},
        sort_keys=True,
        separators=(",", ":"),
    )
    message = outbox.enqueue(
        "webhook",
        event_type=TEST_EVENT,
        destination=endpoint.url,
        endpoint_id=endpoint.id,
        payload=body,
        now=now,
    )
    db.session.flush()
    _audit(
        "webhook.test_queued",
        endpoint,
        actor=actor,
        ip=ip,
        now=now,
        details={"message_id": message.message_id},
    )
    db.session.commit()
    return message


def get(endpoint_id: int) -> WebhookEndpoint:
    """The endpoint with this id, or EndpointNotFound."""
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None:
        raise EndpointNotFound()
    return endpoint


def listing() -> list[EndpointRow]:
    """Every endpoint, newest first, with how delivery to it is going."""
    endpoints = list(db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id.desc())))
    stats = db.session.execute(
        select(
            OutboxMessage.endpoint_id,
            func.max(OutboxMessage.delivered_at),
            func.count().filter((OutboxMessage.status == "pending") & OutboxMessage.last_error.is_not(None)),
            func.count().filter(OutboxMessage.status == "failed"),
        )
        .where(OutboxMessage.endpoint_id.is_not(None))
        .group_by(OutboxMessage.endpoint_id)
    )
    by_endpoint = {row[0]: Delivery(row[1], row[2], row[3]) for row in stats}
    empty = Delivery(None, 0, 0)
    return [EndpointRow(endpoint, by_endpoint.get(endpoint.id, empty)) for endpoint in endpoints]


def _audit(
    action: str, endpoint: WebhookEndpoint, *, actor: Actor, ip: str | None, now: datetime, details: dict
) -> None:
    audit.record(
        action,
        actor=actor,
        at=now,
        ip=ip,
        target_type="webhook_endpoint",
        target_id=endpoint.id,
        details={"url": endpoint.url, "description": endpoint.description, **details},
    )
