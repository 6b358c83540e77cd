"""The audit trail: append-only rows written by the audit service (DESIGN I1)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from impersonator.clock import now
from impersonator.extensions import db
from impersonator.models.types import BigIntId, UTCDateTime


class AuditEvent(db.Model):
    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_at", "at"),
        Index("ix_audit_event_action", "action"),
        Index("ix_audit_event_actor", "actor_type", "actor_id"),
    )

    # The sequence number: ids only grow, so order by id is the order of the trail.
    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
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
    ip: Mapped[str | None] = mapped_column(String(45))
    details: Mapped[str] = mapped_column(Text(), default="{}")  # canonical JSON
