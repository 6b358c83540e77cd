"""Helpers for tests of messages out: a webhook receiver's view of what arrived, the Standard Webhooks
signature computed independently of the app's code, and running the outbox worker."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass

from sqlalchemy import select

from impersonator.extensions import db
from impersonator.models import WEBHOOK_EVENTS, OutboxMessage
from impersonator.services.audit import Actor
from impersonator.services.delivery import senders, webhook_endpoints


@dataclass(frozen=True)
class Arrival:
    """One request a receiver got, and what it answered."""

    path: str
    headers: dict[str, str]
    body: str
    status: int

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


def arrivals(server, path: str | None = None) -> list[Arrival]:
    """What the pytest-httpserver receiver got, in order (optionally on one path)."""
    return [
        Arrival(
            request.path,
            {name.lower(): value for name, value in request.headers.items()},
            request.get_data(as_text=True),
            response.status_code,
        )
        for request, response in server.log
        if path is None or request.path == path
    ]


def standard_webhooks_signature(secret: str, message_id: str, timestamp: str, body: str) -> str:
    """The scheme as the Standard Webhooks spec and the README describe it, written out afresh:
    key = base64-decode(secret without `whsec_`); sig = base64(HMAC-SHA256(key, id.timestamp.body))."""
    key = base64.b64decode(secret.split("_", 1)[1])
    content = f"{message_id}.{timestamp}.".encode() + body.encode("utf-8")
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def signature_verifies(secret: str, arrival: Arrival) -> bool:
    expected = standard_webhooks_signature(
        secret, arrival.headers["webhook-id"], arrival.headers["webhook-timestamp"], arrival.body
    )
    return any(hmac.compare_digest(expected, given) for given in arrival.headers["webhook-signature"].split())


def subscribe(app, url: str, now, events=WEBHOOK_EVENTS) -> tuple[int, str]:
    """A webhook endpoint for `events`; returns (id, secret)."""
    with app.app_context():
        created = webhook_endpoints.create(
            url=url,
            description="test receiver",
            events=list(events),
            actor=Actor.system("test"),
            ip=None,
            now=now,
        )
        return created.endpoint.id, created.secret


def work(app, now):
    """One pass of the outbox worker."""
    with app.app_context():
        return senders.work_once(now)


def messages(app, kind: str | None = None) -> list[OutboxMessage]:
    """Every outbox message (of one kind), oldest first, detached."""
    with app.app_context():
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if kind:
            query = query.where(OutboxMessage.kind == kind)
        rows = list(db.session.scalars(query))
        for row in rows:
            db.session.expunge(row)
        return rows
