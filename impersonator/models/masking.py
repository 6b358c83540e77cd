"""Least privilege inside the ghost (DESIGN §13): the categories of sensitive values a host app marks,
and each reveal a ghost made, with its reason."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from impersonator.clock import now
from impersonator.extensions import db
from impersonator.models.types import UTCDateTime

# What a host app may mark sensitive (kit/masking.py); each has a mask (services/masking.py) and words.
MASK_CATEGORIES = ("payment", "government_id", "contact", "private_notes")
# A reveal shows one value, or every value of its category for the rest of the session.
REVEAL_SCOPES = ("one", "category")


class MaskedReveal(db.Model):
    """A ghost revealed one masked value (`key`) or a whole `category` for the rest of its session.
    The value itself is never stored here: only which one, and why."""

    __tablename__ = "masked_reveal"
    __table_args__ = (Index("ix_masked_reveal_impersonation", "impersonation_id", "category"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    impersonation_id: Mapped[int] = mapped_column(ForeignKey("impersonation.id"))
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id"), index=True)
    category: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(10))  # REVEAL_SCOPES
    reason: Mapped[str] = mapped_column(Text())
    revealed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
