"""Rows for service tests: customers by email, and impersonation sessions written straight to the
database (inside an app context), with their request trail and held-back notifications."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select

from impersonator.extensions import db
from impersonator.models import GhostRequest, Impersonation, Notification, User


def user_by_email(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))


def ghost_session(staff_id: int, user: User, now: datetime, **changes) -> Impersonation:
    """An impersonation of `user`, redeemed a minute ago and active for 29 more minutes, unless told."""
    fields = {
        "staff_id": staff_id,
        "user_id": user.id,
        "tenant_id": user.tenant_id,
        "reason": "Looking into the customer's report of a missing project",
        "mode": "full",
        "duration_minutes": 30,
        "access_via": "opt_in",
        "token_jti": secrets.token_urlsafe(16),
        "audience": user.tenant.primary_domain,
        "issued_at": now - timedelta(minutes=1, seconds=10),
        "token_expires_at": now - timedelta(seconds=10),
        "redeemed_at": now - timedelta(minutes=1),
        "expires_at": now + timedelta(minutes=29),
        **changes,
    }
    imp = Impersonation(**fields)
    db.session.add(imp)
    db.session.commit()
    return imp


def trail(imp: Impersonation, *steps: tuple[str, str, int], at: datetime) -> None:
    """Append (method, path, status) requests to the session's trail, one second apart from `at`."""
    for offset, (method, path, status) in enumerate(steps):
        db.session.add(
            GhostRequest(
                impersonation_id=imp.id,
                at=at + timedelta(seconds=offset),
                method=method,
                path=path,
                status=status,
            )
        )
    db.session.commit()


def held_back(imp: Impersonation, count: int, *, at: datetime) -> None:
    """`count` notifications suppressed during the session."""
    for number in range(count):
        db.session.add(
            Notification(
                user_id=imp.user_id,
                kind="project.created",
                subject=f"Project {number} created",
                body="",
                status="suppressed",
                impersonation_id=imp.id,
                created_at=at,
            )
        )
    db.session.commit()
