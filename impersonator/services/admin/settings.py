"""Product-wide switches stored in the database and read on every request that needs them
(changed through switches.py, which audits every change)."""

from __future__ import annotations

from sqlalchemy import select

from impersonator.extensions import db
from impersonator.models import Setting

IMPERSONATION_ENABLED = "impersonation_enabled"


def impersonation_enabled() -> bool:
    """The global switch (DESIGN I5): on unless an admin turned it off."""
    value = db.session.scalar(select(Setting.value).where(Setting.key == IMPERSONATION_ENABLED))
    return value != "off"
