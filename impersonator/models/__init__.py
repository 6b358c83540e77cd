"""SQLAlchemy models, one module per aggregate. Importing this package registers every table."""

from impersonator.models.audit import AuditEvent
from impersonator.models.staff import ROLES, Staff, StaffSession
from impersonator.models.tenant import ACCESS_POLICIES, Tenant, TenantDomain, User
from impersonator.models.throttle import FailedAttempt, Lockout

__all__ = [
    "ACCESS_POLICIES",
    "ROLES",
    "AuditEvent",
    "FailedAttempt",
    "Lockout",
    "Staff",
    "StaffSession",
    "Tenant",
    "TenantDomain",
    "User",
]
