"""Security alerts (issue 5 §7): a `security.alert` audit event, which the events service sends to
Slack and to webhook subscribers in the same transaction. Raised on token replay, wrong-tenant
redemption, TOTP and access-code lockouts, and a staff member starting too many impersonations."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from impersonator.extensions import db
from impersonator.models import AuditEvent, Impersonation
from impersonator.services import audit
from impersonator.services.audit import Actor


def raise_alert(
    kind: str,
    *,
    actor: Actor,
    at: datetime,
    ip: str | None = None,
    tenant_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Record a security alert in the caller's transaction."""
    return audit.record(
        "security.alert",
        actor=actor,
        at=at,
        ip=ip,
        outcome="denied",
        tenant_id=tenant_id,
        details={"kind": kind, **(details or {})},
    )


def check_impersonation_rate(staff_id: int, actor: Actor, *, now: datetime, ip: str | None) -> None:
    """Alert when a staff member has started more than ALERT_IMPERSONATIONS_PER_HOUR sessions in the
    last hour: once, not once per session, until an hour has passed since the last such alert.

    Called after `impersonation.started` is recorded, so this transaction holds the audit chain's
    head: concurrent redemptions queue up here and see each other's alerts."""
    limit = current_app.config["ALERT_IMPERSONATIONS_PER_HOUR"]
    hour_ago = now - timedelta(hours=1)
    started = db.session.scalar(
        select(func.count())
        .select_from(Impersonation)
        .where(
            Impersonation.staff_id == staff_id,
            # A token is redeemed within TOKEN_TTL_SECONDS (at most 120) of its issue: this bound
            # keeps the count to the last hour of the (staff_id, issued_at) index, not all history.
            Impersonation.issued_at > hour_ago - timedelta(seconds=120),
            Impersonation.redeemed_at > hour_ago,
        )
    )
    if started <= limit or _alerted_recently(staff_id, "impersonation_rate", since=hour_ago):
        return
    raise_alert(
        "impersonation_rate",
        actor=actor,
        at=now,
        ip=ip,
        details={"started_last_hour": started, "limit": limit},
    )


def _alerted_recently(staff_id: int, kind: str, *, since: datetime) -> bool:
    recent = db.session.scalars(
        select(AuditEvent.details).where(
            AuditEvent.actor_type == "staff",
            AuditEvent.actor_id == staff_id,
            AuditEvent.action == "security.alert",
            AuditEvent.at > since,
        )
    )
    return any(json.loads(details).get("kind") == kind for details in recent)
