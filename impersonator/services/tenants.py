"""The tenant registry: which tenant a host name belongs to."""

from __future__ import annotations

from sqlalchemy import select

from impersonator.extensions import db
from impersonator.models import Tenant, TenantDomain


def tenant_for_host(hostname: str) -> Tenant | None:
    """The tenant served on `hostname` (lower-case, no port), or None for an unknown host."""
    return db.session.scalar(select(Tenant).join(TenantDomain).where(TenantDomain.domain == hostname))
