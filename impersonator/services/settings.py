"""Product-wide switches stored in the database and read on every request that needs them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from impersonator.extensions import db
from impersonator.models import Setting
from impersonator.services import audit
from impersonator.services.audit import Actor

IMPERSONATION_ENABLED = "impersonation_enabled"


def impersonation_enabled() -> bool:
    """The global switch (DESIGN I5): on unless an admin turned it off."""
    value = db.session.scalar(select(Setting.value).where(Setting.key == IMPERSONATION_ENABLED))
    return value != "off"


def set_impersonation_enabled(enabled: bool, *, actor: Actor, ip: str | None, now: datetime) -> bool:
    """Flip the global switch, audited with old and new value; returns whether anything changed."""
    old = impersonation_enabled()
    if old == enabled:
        return False
    row = db.session.get(Setting, IMPERSONATION_ENABLED)
    value = "on" if enabled else "off"
    if row is None:
        db.session.add(Setting(key=IMPERSONATION_ENABLED, value=value, updated_at=now))
    else:
        row.value, row.updated_at = value, now
    audit.record(
        "settings.impersonation_switch",
        actor=actor,
        at=now,
        ip=ip,
        details={"old": "on" if old else "off", "new": value},
    )
    db.session.commit()
    return True
