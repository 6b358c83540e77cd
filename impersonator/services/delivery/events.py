"""Events out (DESIGN I10): an audit event that subscribers care about becomes outbox messages in
the same transaction: one webhook per subscribed endpoint, and a Slack message for every started
impersonation, every revealed masked value, every request awaiting a second staff member and every
security alert. The audit service calls `published` for every event, so nothing that is audited can
be forgotten here."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from impersonator.extensions import db
from impersonator.models import WEBHOOK_EVENTS, ApprovalRequest, AuditEvent, Impersonation, WebhookEndpoint
from impersonator.services import links, wording
from impersonator.services.delivery import outbox, slack

# Approvers hear of each request that waits for a second staff member in Slack (DESIGN §11); the
# security team hears of each masked value a ghost reveals, as it happens (DESIGN §13).
SLACK_EVENTS = frozenset(
    {"impersonation.started", "impersonation.revealed", "security.alert", "approval.requested"}
)


def published(event: AuditEvent) -> None:
    """Queue what `event` means for webhooks and Slack (nothing for most events)."""
    if event.action not in WEBHOOK_EVENTS:
        return
    endpoints = subscribed_endpoints(event.action)
    body = webhook_body(event) if endpoints else ""  # encoded only when someone listens (hot paths)
    for endpoint in endpoints:
        outbox.enqueue(
            "webhook",
            event_type=event.action,
            destination=endpoint.url,
            endpoint_id=endpoint.id,
            payload=body,
            now=event.at,
        )
    if event.action in SLACK_EVENTS and slack.enabled() and _for_slack(event):
        slack.enqueue(slack_text(event), event_type=event.action, now=event.at)


def _for_slack(event: AuditEvent) -> bool:
    """Approval requests reach Slack only when a second staff member must decide them."""
    return event.action != "approval.requested" or bool(json.loads(event.details).get("needs_staff"))


def subscribed_endpoints(event_type: str) -> list[WebhookEndpoint]:
    """Active endpoints that asked for `event_type`."""
    endpoints = db.session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True)))
    return [endpoint for endpoint in endpoints if event_type in endpoint.event_names]


def webhook_body(event: AuditEvent) -> str:
    """The JSON body, fixed once: `type`, `timestamp` and `data` (the audit event, by its numbers)."""
    data: dict[str, Any] = {
        "audit_seq": event.seq,
        "outcome": event.outcome,
        "actor": {"type": event.actor_type, "id": event.actor_id, "label": event.actor_label},
        "target": {"type": event.target_type, "id": event.target_id} if event.target_type else None,
        "tenant_id": event.tenant_id,
        "impersonation_id": event.impersonation_id,
        "ip": event.ip,
        "details": json.loads(event.details),
    }
    return json.dumps(
        {"type": event.action, "timestamp": event.at.isoformat(), "data": data},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )


def slack_text(event: AuditEvent) -> str:
    """One short message; every piece of text that people typed is escaped."""
    details = json.loads(event.details)
    e = slack.escape
    if event.action == "impersonation.started" and event.impersonation_id:
        imp = db.session.get(Impersonation, event.impersonation_id)
        if imp is not None:
            mode = "read-only" if imp.mode == "read_only" else "FULL ACCESS"
            # From the event, not the row: redemption sets expires_at with an UPDATE that the
            # row already loaded in this session does not see.
            ends = _clock_time(details.get("expires_at")) or _clock_time(imp.expires_at) or "?"
            return (
                f":ghost: *{e(imp.staff.name)}* ({e(imp.staff.email)}) is impersonating "
                f"*{e(imp.user.name)}* ({e(imp.user.email)}) of *{e(imp.tenant.name)}*, {mode}, "
                f"until {ends}.\nReason: {e(imp.reason)}"
                + (f"\nTicket: {e(imp.ticket)}" if imp.ticket else "")
            )
    if event.action == "impersonation.revealed" and event.impersonation_id:
        imp = db.session.get(Impersonation, event.impersonation_id)
        if imp is not None:
            kind = wording.mask_category(details.get("category"))
            what = (
                f"every {kind}"
                if details.get("scope") == "category"
                else f"one {kind} ({details.get('key')})"
            )
            return (
                f":eyes: *{e(imp.staff.name)}* ({e(imp.staff.email)}) revealed {e(what)} of "
                f"*{e(imp.user.name)}* ({e(imp.user.email)}) of *{e(imp.tenant.name)}* "
                "while impersonating them."
                f"\nReason: {e(details.get('reason', ''))}\n"
                f"{e(links.console_url('impersonation_detail.show', impersonation_id=imp.id))}"
            )
    if event.action == "approval.requested" and (
        ask := db.session.get(ApprovalRequest, details["approval_id"])
    ):
        glass = ":rotating_light: *BREAK-GLASS* " if ask.break_glass else ""
        mode = "FULL ACCESS" if ask.mode == "full" else "read-only"
        return (
            f"{glass}:raised_hand: *{e(ask.staff.name)}* asks to impersonate *{e(ask.user.name)}* "
            f"({e(ask.user.email)}) of *{e(ask.tenant.name)}*, {mode}, {ask.duration_minutes} minutes, "
            f"for {e(wording.reason_code(ask.reason_code))}. A second staff member must approve it: "
            f"{e(links.console_url('approvals.show', approval_id=ask.id))}"
        )
    if event.action == "security.alert":
        kind = str(details.get("kind", "alert")).replace("_", " ")
        rest = ", ".join(f"{key}={value}" for key, value in sorted(details.items()) if key != "kind")
        return f":rotating_light: Security alert: *{e(kind)}* by {e(event.actor_label)}" + (
            f" ({e(rest)})" if rest else ""
        )
    return e(f"{event.action} by {event.actor_label}")


def _clock_time(value: datetime | str | None) -> str | None:
    """`14:05 UTC` for a datetime or an ISO 8601 string; None when there is nothing readable."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%H:%M UTC")
