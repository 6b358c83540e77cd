"""The tenant app's own data (a small but real app, so the ghost has something to see), and
what it sends to its users: notifications and analytics events."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from impersonator.clock import now
from impersonator.extensions import db
from impersonator.models.types import BigIntId, UTCDateTime


class Project(db.Model):
    __tablename__ = "project"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("tenant_user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)


class BillingProfile(db.Model):
    """The demo app's billing details of a customer: values of every sensitive category, which the
    billing page marks for masking in a ghost session (DESIGN §13)."""

    __tablename__ = "billing_profile"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("tenant_user.id", ondelete="CASCADE"), unique=True)
    card_brand: Mapped[str] = mapped_column(String(20))
    card_number: Mapped[str] = mapped_column(String(32))  # demo data: a real app keeps a processor's token
    phone: Mapped[str] = mapped_column(String(40))
    tax_id: Mapped[str] = mapped_column(String(40))
    notes: Mapped[str] = mapped_column(Text(), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)


class Notification(db.Model):
    """A message for a customer: `sent`, or `suppressed` while a ghost session is active (I7)."""

    __tablename__ = "notification"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("tenant_user.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text())
    status: Mapped[str] = mapped_column(String(16))  # sent | suppressed
    impersonation_id: Mapped[int | None] = mapped_column(ForeignKey("impersonation.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)


class AnalyticsEvent(db.Model):
    """Product analytics of the tenant app; never recorded for a ghost (I7)."""

    __tablename__ = "analytics_event"

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("tenant_user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
