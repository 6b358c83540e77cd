"""The audit service: every state change writes an event in the caller's transaction (DESIGN I1).

`record` adds the event and flushes, so a failing audit write raises inside the transaction that
carries the change, and the caller's commit never happens: no audit, no change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from impersonator.extensions import db
from impersonator.models import AuditEvent, Staff, User


@dataclass(frozen=True)
class Actor:
    """Who did it, as the trail shows it."""

    type: str
    id: int | None
    label: str

    @classmethod
    def staff(cls, staff: Staff) -> Actor:
        return cls("staff", staff.id, staff.email)

    @classmethod
    def customer(cls, user: User) -> Actor:
        return cls("customer", user.id, user.email)

    @classmethod
    def anonymous(cls, label: str = "anonymous") -> Actor:
        return cls("anonymous", None, label[:254])

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls("system", None, label)


def canonical_json(details: dict[str, Any]) -> str:
    """One stable encoding of the details: sorted keys, no spaces, UTF-8 text."""
    return json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def record(
    action: str,
    *,
    actor: Actor,
    at: datetime,
    outcome: str = "success",
    target_type: str | None = None,
    target_id: int | None = None,
    tenant_id: int | None = None,
    ip: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the trail inside the current transaction."""
    event = AuditEvent(
        at=at,
        actor_type=actor.type,
        actor_id=actor.id,
        actor_label=actor.label,
        action=action,
        outcome=outcome,
        target_type=target_type,
        target_id=target_id,
        tenant_id=tenant_id,
        ip=ip,
        details=canonical_json(details or {}),
    )
    db.session.add(event)
    db.session.flush()
    return event


def about_user(
    action: str,
    *,
    user_id: int,
    tenant_id: int,
    actor: Actor,
    at: datetime,
    ip: str | None = None,
    outcome: str = "success",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """An event whose subject is a customer user (impersonations, access codes)."""
    return record(
        action,
        actor=actor,
        at=at,
        ip=ip,
        outcome=outcome,
        target_type="user",
        target_id=user_id,
        tenant_id=tenant_id,
        details=details,
    )
