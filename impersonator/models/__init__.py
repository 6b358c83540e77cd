"""SQLAlchemy models, one module per aggregate. Importing this package registers every table."""

from impersonator.models.api_key import API_SCOPES, ApiKey
from impersonator.models.approval import APPROVAL_STATES, REASON_CODES, ApprovalRequest
from impersonator.models.audit import GENESIS_HASH, AuditCheckpoint, AuditEvent, AuditHead
from impersonator.models.consent import AccessCode
from impersonator.models.impersonation import END_REASONS, MODES, GhostRequest, Impersonation, Setting
from impersonator.models.masking import MASK_CATEGORIES, REVEAL_SCOPES, MaskedReveal
from impersonator.models.outbox import (
    OUTBOX_KINDS,
    OUTBOX_STATUSES,
    WEBHOOK_EVENTS,
    OutboxMessage,
    WebhookEndpoint,
)
from impersonator.models.signing_key import SigningKey
from impersonator.models.staff import ROLES, AuthzDenial, Staff, StaffInvite, StaffSession, StaffSignInStep
from impersonator.models.tenant import ACCESS_POLICIES, TWO_PERSON_RULES, Tenant, TenantDomain, User
from impersonator.models.throttle import FailedAttempt, Lockout, RateCount
from impersonator.models.workspace import AnalyticsEvent, BillingProfile, Notification, Project

__all__ = [
    "ACCESS_POLICIES",
    "API_SCOPES",
    "APPROVAL_STATES",
    "END_REASONS",
    "GENESIS_HASH",
    "MASK_CATEGORIES",
    "MODES",
    "OUTBOX_KINDS",
    "OUTBOX_STATUSES",
    "REASON_CODES",
    "REVEAL_SCOPES",
    "ROLES",
    "TWO_PERSON_RULES",
    "WEBHOOK_EVENTS",
    "AccessCode",
    "AnalyticsEvent",
    "ApiKey",
    "ApprovalRequest",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditHead",
    "AuthzDenial",
    "BillingProfile",
    "FailedAttempt",
    "GhostRequest",
    "Impersonation",
    "Lockout",
    "MaskedReveal",
    "Notification",
    "OutboxMessage",
    "Project",
    "RateCount",
    "Setting",
    "SigningKey",
    "Staff",
    "StaffInvite",
    "StaffSession",
    "StaffSignInStep",
    "Tenant",
    "TenantDomain",
    "User",
    "WebhookEndpoint",
]
