"""SQLAlchemy models, one module per aggregate. Importing this package registers every table."""

from impersonator.models.audit import AuditEvent
from impersonator.models.consent import AccessCode
from impersonator.models.impersonation import END_REASONS, MODES, GhostRequest, Impersonation, Setting
from impersonator.models.staff import ROLES, Staff, StaffSession
from impersonator.models.tenant import ACCESS_POLICIES, Tenant, TenantDomain, User
from impersonator.models.throttle import FailedAttempt, Lockout
from impersonator.models.workspace import AnalyticsEvent, Notification, Project

__all__ = [
    "ACCESS_POLICIES",
    "END_REASONS",
    "MODES",
    "ROLES",
    "AccessCode",
    "AnalyticsEvent",
    "AuditEvent",
    "FailedAttempt",
    "GhostRequest",
    "Impersonation",
    "Lockout",
    "Notification",
    "Project",
    "Setting",
    "Staff",
    "StaffSession",
    "Tenant",
    "TenantDomain",
    "User",
]
