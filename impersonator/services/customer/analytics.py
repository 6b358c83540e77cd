"""Product analytics of the tenant app: events of the customer's own use, never of a ghost (I7)."""

from __future__ import annotations

from datetime import datetime

from impersonator.extensions import db
from impersonator.models import AnalyticsEvent, User


def track(user: User, name: str, *, ghost: bool, now: datetime) -> AnalyticsEvent | None:
    """Record `name` for `user` in the caller's transaction; nothing at all when a ghost acts."""
    if ghost:
        return None
    event = AnalyticsEvent(user_id=user.id, name=name[:64], at=now)
    db.session.add(event)
    return event
