"""The audit trail: every state change writes an event in the caller's transaction (DESIGN I1).

This package also holds the chain (`chain`), the log as the security team reads it (`log`, `chart`,
`export`), security alerts and permission refusals.

`record` queues the event in the session; the commit appends the queued events as the chain's next
links (I9, chain.py) before it commits, so a failing audit write fails the commit that carries the
change: no audit, no change. A rollback drops them with the change.

**Lock order (the whole product).** A transaction takes every per-key row it needs first — lockout
and failure counters, access codes, sessions, impersonations, staff — and the chain's head row last:
the commit flushes every pending change, then locks the head (FOR UPDATE on PostgreSQL; on SQLite
every transaction already holds the write lock), appends, and commits at once. No code locks the head
itself, so no two transactions can wait on each other crosswise through it, and the head is held
only for the few statements of the append. Events that subscribers care about go to the outbox in
the same step (events.py, I10). tests/postgres/test_lock_order.py runs the paths against each other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from impersonator.extensions import db
from impersonator.logs import request_id
from impersonator.models import AuditEvent, AuditHead, Staff, User
from impersonator.services.audit import chain
from impersonator.services.audit.chain import Link
from impersonator.services.delivery import events

LINK_FIELDS = tuple(field.name for field in fields(Link))
_PENDING = "impersonator.audit.pending"  # [(owning transaction, event)], in the order recorded


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
    """Add one event to the trail in the current transaction: it becomes the chain's next link when
    the transaction commits. Its `seq` and `hash` are set then; until then they are None."""
    details = details or {}
    if (rid := request_id()) and "request_id" not in details:
        details = {**details, "request_id": rid}  # so support can go from an error page to the trail
    if impersonation_id is None and isinstance(details.get("impersonation_id"), int):
        impersonation_id = details["impersonation_id"]
    event = AuditEvent(
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
    session = db.session()
    if not session.in_transaction():
        session.begin()  # so that a rollback, even before any statement, ends it and drops the event
    session.info.setdefault(_PENDING, []).append((session.get_nested_transaction(), event))
    return event


_EVENTS = AuditEvent.__table__
_HEADS = AuditHead.__table__
_MOVE_HEAD = (
    update(_HEADS).where(_HEADS.c.id == 1).values(seq=bindparam("head_seq"), hash=bindparam("head_hash"))
)
# PostgreSQL moves the head in the statement that appends the event: one round trip, not two.
_APPEND_AND_MOVE_HEAD = insert(_EVENTS).add_cte(_MOVE_HEAD.cte("moved_head"))


def _append(connection, event: AuditEvent) -> None:
    """Insert the event and move the chain head to it."""
    values = {column.key: getattr(event, column.key) for column in _EVENTS.columns if column.key != "id"}
    head = {"head_seq": event.seq, "head_hash": event.hash}
    if connection.dialect.name == "postgresql":
        connection.execute(_APPEND_AND_MOVE_HEAD, {**values, **head})
    else:
        connection.execute(insert(_EVENTS), values)
        connection.execute(_MOVE_HEAD, head)


def _lock_head(session: Session) -> tuple[int, str]:
    """The chain head, locked until the transaction ends."""
    row = session.execute(
        select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1).with_for_update()
    ).one_or_none()
    if row is None:
        # A database created without the migrations: start the chain here (ids from 1).
        session.add(AuditHead(id=1, seq=0, hash=chain.GENESIS_HASH))
        session.flush()
        return 0, chain.GENESIS_HASH
    return row.seq, row.hash


@sa_event.listens_for(Session, "before_commit")
def _append_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    session.flush()  # every row this transaction changes is locked before the head: the lock order
    head_seq, head_hash = _lock_head(session)
    key = chain.chain_key(current_app.config)
    connection = session.connection()
    for _, event in pending:
        event.seq, event.prev_hash = head_seq + 1, head_hash
        link = Link(**{name: getattr(event, name) for name in LINK_FIELDS})
        event.hash = chain.link_hash(key, head_hash, link)
        # Written with Core, not added to the session: an ORM flush cost more than the insert itself
        # on the hottest paths (redemption). The event object is what the row says, not a loaded row.
        _append(connection, event)
        head_seq, head_hash = event.seq, event.hash
        events.published(event)


@sa_event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction) -> None:
    # A rolled-back savepoint takes the events recorded inside it (or inside savepoints within it).
    pending = session.info.get(_PENDING)
    if pending and previous_transaction.parent is None:
        session.info.pop(_PENDING)
    elif pending:
        session.info[_PENDING] = [
            (owner, event) for owner, event in pending if not _within(owner, previous_transaction)
        ]


@sa_event.listens_for(Session, "after_transaction_end")
def _forget_pending(session: Session, transaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended (committed, rolled back, closed)
        session.info.pop(_PENDING, None)


def _within(owner, transaction) -> bool:
    while owner is not None:
        if owner is transaction:
            return True
        owner = owner.parent
    return False


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
