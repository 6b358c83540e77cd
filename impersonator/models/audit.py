"""The audit trail: append-only, hash-chained rows written by the audit service (DESIGN I1, I9)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from impersonator.clock import now
from impersonator.extensions import db
from impersonator.models.types import BigIntId, UTCDateTime

GENESIS_HASH = "0" * 64


class AuditEvent(db.Model):
    __tablename__ = "audit_event"
    # Every filter of the audit page pairs with `seq`, so keyset pages stay one index range deep.
    __table_args__ = (
        UniqueConstraint("seq", name="uq_audit_event_seq"),
        Index("ix_audit_event_at", "at"),
        Index("ix_audit_event_action_seq", "action", "seq"),
        Index("ix_audit_event_outcome_seq", "outcome", "seq"),
        Index("ix_audit_event_actor_seq", "actor_type", "actor_id", "seq"),
        Index("ix_audit_event_tenant_seq", "tenant_id", "seq"),
        Index("ix_audit_event_target_seq", "target_type", "target_id", "seq"),
        Index("ix_audit_event_impersonation_seq", "impersonation_id", "seq"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    # The chain's order: 1, 2, 3… with no gaps, handed out under the chain head's lock.
    seq: Mapped[int] = mapped_column(BigInteger())
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    actor_type: Mapped[str] = mapped_column(String(16))  # staff | customer | system | anonymous
    actor_id: Mapped[int | None] = mapped_column()
    actor_label: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))  # success | failure | denied
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[int | None] = mapped_column()
    # Plain ids, no foreign keys: the trail outlives whatever it speaks of.
    tenant_id: Mapped[int | None] = mapped_column()
    impersonation_id: Mapped[int | None] = mapped_column()
    ip: Mapped[str | None] = mapped_column(String(45))
    details: Mapped[str] = mapped_column(Text(), default="{}")  # canonical JSON
    # HMAC-SHA256 (AUDIT_HMAC_KEY) over prev_hash and the event's canonical bytes, hex.
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(db.Model):
    """The chain's head, one row: appends lock it, so the chain stays linear under concurrency."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger(), default=0)
    hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)


class AuditCheckpoint(db.Model):
    """One run of the verifier: how far the chain verified, and the first broken event if any."""

    __tablename__ = "audit_checkpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    verified_seq: Mapped[int] = mapped_column(BigInteger())
    verified_hash: Mapped[str] = mapped_column(String(64))
    ok: Mapped[bool] = mapped_column()
    first_broken_seq: Mapped[int | None] = mapped_column(BigInteger())
    problem: Mapped[str | None] = mapped_column(String(300))
