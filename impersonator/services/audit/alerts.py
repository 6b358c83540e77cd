"""Security alerts: a `security.alert` audit event, which the events service sends to
Slack and to webhook subscribers in the same transaction. Raised on token replay, wrong-tenant
redemption, TOTP and access-code lockouts, a staff member starting too many impersonations, and a
burst of permission refusals from one staff member."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import ColumnElement, ScalarSelect, bindparam, func, select
from sqlalchemy.orm import aliased

from impersonator.models import AuditEvent, Impersonation
from impersonator.models.types import UTCDateTime
from impersonator.services import audit, throttle
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


def started_since(staff_id: ColumnElement[int]) -> ScalarSelect[int]:
    """How many impersonations the staff member `staff_id` started (redeemed) in the last hour, as a
    SQL expression taking `started_since_params(now)`: the redemption reads it in the statement
    that loads the impersonation."""
    started = aliased(Impersonation)
    return (
        select(func.count())
        .select_from(started)
        .where(
            started.staff_id == staff_id,
            started.issued_at > bindparam("started_issued_after", type_=UTCDateTime()),
            started.redeemed_at > bindparam("started_after", type_=UTCDateTime()),
        )
        .scalar_subquery()
    )


def started_since_params(now: datetime) -> dict[str, datetime]:
    """The values `started_since` takes."""
    hour_ago = now - timedelta(hours=1)
    # A token is redeemed within TOKEN_TTL_SECONDS (at most 120) of its issue: bounding issued_at
    # too keeps the count to the last hour of the (staff_id, issued_at) index, not all history.
    return {"started_after": hour_ago, "started_issued_after": hour_ago - timedelta(seconds=120)}


# The first call locks the gate for an hour; calls while it is locked neither count nor alert.
ONCE_AN_HOUR = throttle.Limit(threshold=1, window=timedelta(hours=1), lock_for=timedelta(hours=1))


def check_impersonation_rate(
    staff_id: int, actor: Actor, *, started_last_hour: int, now: datetime, ip: str | None
) -> None:
    """Alert when a staff member has started more than ALERT_IMPERSONATIONS_PER_HOUR sessions in the
    last hour (`started_last_hour`, this one included): once, not once per session, until an hour
    has passed since that alert.

    The "once" is a per-member gate row (throttle), locked like any counter: concurrent redemptions
    of one member queue on it, so exactly one of them alerts. (The count itself is read before, with
    the impersonation: one member starts at most one impersonation per TOTP step.)"""
    limit = current_app.config["ALERT_IMPERSONATIONS_PER_HOUR"]
    if started_last_hour <= limit:
        return
    if throttle.record_failure(f"alert:impersonation_rate:{staff_id}", ONCE_AN_HOUR, now) is None:
        return  # alerted within the hour
    raise_alert(
        "impersonation_rate",
        actor=actor,
        at=now,
        ip=ip,
        details={"started_last_hour": started_last_hour, "limit": limit},
    )


# A burst of permission refusals: this many by one staff member within the window raise one alert,
# then none for `lock_for` (refusals in that quiet time are not counted). Fixed, not configured: a
# person who clicks a link they may not follow is refused a few times at most; ten in five minutes
# is a crawler or someone probing, and one alert an hour per member is what a channel can read.
AUTHZ_DENIAL_BURST = throttle.Limit(threshold=10, window=timedelta(minutes=5), lock_for=timedelta(hours=1))


def check_authz_denial_burst(staff_id: int, actor: Actor, *, now: datetime, ip: str | None) -> None:
    """Count one permission refusal of `staff_id`; the one that completes a burst raises an
    `authz_denied_burst` alert, in the caller's transaction."""
    burst = AUTHZ_DENIAL_BURST
    if throttle.record_failure(f"authz:{staff_id}", burst, now) is None:
        return
    raise_alert(
        "authz_denied_burst",
        actor=actor,
        at=now,
        ip=ip,
        details={"refusals": burst.threshold, "within_minutes": int(burst.window.total_seconds() // 60)},
    )
