"""Slack (DESIGN I10): a message on every started impersonation and every security alert, through
an incoming-webhook URL from config, queued in the outbox like every message out."""

from __future__ import annotations

import json
from datetime import datetime

from flask import current_app

from impersonator.models import OutboxMessage
from impersonator.services.delivery import outbox, webhooks
from impersonator.services.delivery.outbox import DeliveryFailed, Outgoing


def escape(text: str) -> str:
    """Slack's mrkdwn escaping: `&`, `<` and `>` only (so no one can forge a link or a mention)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def enabled() -> bool:
    """Is a Slack incoming webhook configured?"""
    return bool(current_app.config["SLACK_WEBHOOK_URL"])


def enqueue(text: str, *, event_type: str, now: datetime) -> OutboxMessage | None:
    """Queue a message (already escaped by the caller) when Slack is configured."""
    if not enabled():
        return None
    payload = json.dumps({"text": text}, ensure_ascii=False)
    return outbox.enqueue("slack", event_type=event_type, destination="slack", payload=payload, now=now)


def send(message: Outgoing, now: datetime) -> None:
    """POST one queued message to the configured incoming webhook."""
    url = current_app.config["SLACK_WEBHOOK_URL"]
    if not url:
        raise DeliveryFailed("SLACK_WEBHOOK_URL is not configured")
    status = webhooks.post(url, message.payload, {"content-type": "application/json"}, what="Slack")
    if not 200 <= status < 300:
        raise DeliveryFailed(f"Slack answered {status}")
