"""The audit trail: every state change writes an event in the caller's transaction (DESIGN I1).

This package also holds the chain (`chain`), the log as the security team reads it (`log`, `chart`,
`export`), security alerts and permission refusals.

`record` inserts the event at once, so a failing audit write raises inside the transaction that
carries the change, and the caller's commit never happens: no audit, no change.

Each event is the next link of the hash chain (I9, chain.py). The first event of a transaction
locks the chain head row (FOR UPDATE on PostgreSQL; on SQLite every transaction already holds the
write lock), so concurrent appends queue up and the chain stays linear; the head is remembered for
the rest of the transaction and written with every event. Events that subscribers care about go to
the outbox in the same transaction (events.py, I10).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from impersonator.extensions import db
from impersonator.models import AuditEvent, AuditHead, Staff, User
from impersonator.services.audit import chain
from impersonator.services.audit.chain import Link
from impersonator.services.delivery import events

_HEAD = "impersonator.audit.head"  # (seq, hash) of the chain head this transaction holds


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
    impersonation_id: int | None = None,
) -> AuditEvent:
    """Append one event to the trail (the chain's next link) inside the current transaction."""
    details = details or {}
    if impersonation_id is None and isinstance(details.get("impersonation_id"), int):
        impersonation_id = details["impersonation_id"]
    head_seq, head_hash = _lock_head()
    link = Link(
        seq=head_seq + 1,
        at=at,
        actor_type=actor.type,
        actor_id=actor.id,
        actor_label=actor.label[:254],
        action=action,
        outcome=outcome,
        target_type=target_type,
        target_id=target_id,
        tenant_id=tenant_id,
        impersonation_id=impersonation_id,
        ip=ip,
        details=canonical_json(details),
    )
    digest = chain.link_hash(chain.chain_key(current_app.config), head_hash, link)
    # Written with Core, not added to the session: an ORM flush cost more than the insert itself on
    # the hottest paths (redemption). The object returned is what the event says, not a loaded row.
    event = AuditEvent(**vars(link), prev_hash=head_hash, hash=digest)
    _append(event)
    db.session.info[_HEAD] = (link.seq, digest)
    events.published(event)
    return event


_EVENTS = AuditEvent.__table__
_HEADS = AuditHead.__table__
_MOVE_HEAD = (
    update(_HEADS).where(_HEADS.c.id == 1).values(seq=bindparam("head_seq"), hash=bindparam("head_hash"))
)
# PostgreSQL moves the head in the statement that appends the event: one round trip, not two.
_APPEND_AND_MOVE_HEAD = insert(_EVENTS).add_cte(_MOVE_HEAD.cte("moved_head"))


def _append(event: AuditEvent) -> None:
    """Insert the event and move the chain head to it, in the current transaction."""
    values = {column.key: getattr(event, column.key) for column in _EVENTS.columns if column.key != "id"}
    head = {"head_seq": event.seq, "head_hash": event.hash}
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(_APPEND_AND_MOVE_HEAD, {**values, **head})
    else:
        connection.execute(insert(_EVENTS), values)
        connection.execute(_MOVE_HEAD, head)


def _lock_head() -> tuple[int, str]:
    """The chain head, locked until this transaction ends (read once per transaction)."""
    held = db.session.info.get(_HEAD)
    if held is not None:
        return held
    row = db.session.execute(
        select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1).with_for_update()
    ).one_or_none()
    if row is None:
        # A database created without the migrations: start the chain here (ids from 1).
        db.session.add(AuditHead(id=1, seq=0, hash=chain.GENESIS_HASH))
        db.session.flush()
        return 0, chain.GENESIS_HASH
    return row.seq, row.hash


@sa_event.listens_for(Session, "after_transaction_end")
def _release_head(session: Session, transaction) -> None:
    # Any end, savepoints included: a rolled-back savepoint takes its events and the head with it,
    # so the next event re-reads the head (still locked by the outer transaction: no wait).
    session.info.pop(_HEAD, None)


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


def about_staff(
    action: str,
    *,
    staff_id: int | None,
    actor: Actor,
    at: datetime,
    ip: str | None = None,
    outcome: str = "success",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """An event whose subject is a staff member (accounts, sign-ins, console sessions, enrolment)."""
    return record(
        action,
        actor=actor,
        at=at,
        ip=ip,
        outcome=outcome,
        target_type="staff",
        target_id=staff_id,
        details=details,
    )
