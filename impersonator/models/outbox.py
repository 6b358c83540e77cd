"""Messages out (DESIGN I10): the durable outbox, and the webhook endpoints admins manage."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from impersonator.clock import now
from impersonator.extensions import db
from impersonator.models.types import BigIntId, UTCDateTime

OUTBOX_KINDS = ("mail", "webhook", "slack")
OUTBOX_STATUSES = ("pending", "delivered", "failed")
WEBHOOK_EVENTS = (
    "impersonation.requested",
    "impersonation.denied",
    "impersonation.started",
    "impersonation.ended",
    "impersonation.redeem_failed",
    "impersonation.revealed",  # a ghost saw a masked value, with its reason (DESIGN §13)
    "approval.requested",
    "approval.approved",
    "approval.denied",
    "approval.expired",
    "approval.withdrawn",
    "approval.cancelled",
    "approval.reviewed",
    "staff.locked",
    "security.alert",
)


class WebhookEndpoint(db.Model):
    """A receiver of signed events; its secret is shown once and stored encrypted."""

    __tablename__ = "webhook_endpoint"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    secret_encrypted: Mapped[str] = mapped_column(String(500))
    events: Mapped[str] = mapped_column(Text())  # space-separated names from WEBHOOK_EVENTS
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))

    @property
    def event_names(self) -> list[str]:
        return self.events.split()


class OutboxMessage(db.Model):
    """One message to deliver at least once: written in the transaction of the change it reports,
    drained by `flask outbox work` with retries, backoff and jitter, then `delivered` or `failed`."""

    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_message_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    # Stable across retries: the receiver's idempotency key (the `webhook-id` header).
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(10))  # mail | webhook | slack
    event_type: Mapped[str] = mapped_column(String(64))
    destination: Mapped[str] = mapped_column(String(2000))  # address, endpoint URL or "slack"
    endpoint_id: Mapped[int | None] = mapped_column(
        ForeignKey("webhook_endpoint.id", ondelete="SET NULL"), index=True
    )
    # What goes out, fixed at enqueue time: every retry sends the same bytes.
    payload: Mapped[str] = mapped_column(Text())
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(500))

    endpoint: Mapped[WebhookEndpoint | None] = relationship()
