"""Who may do what (DESIGN §7). Deny by default: a role has exactly the permissions listed here."""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    SEARCH = "search"
    IMPERSONATE_READ_ONLY = "impersonate_read_only"
    IMPERSONATE_FULL = "impersonate_full"
    AUDIT = "audit"
    ADMIN = "admin"
    # Deciding another member's request (DESIGN §11). An impersonator holds it only when an admin
    # said so for that member (Staff.may_approve): services/approvals/rules.may_approve checks both.
    APPROVE = "approve"


GRANTS: dict[str, frozenset[Permission]] = {
    "support": frozenset({Permission.SEARCH, Permission.IMPERSONATE_READ_ONLY}),
    "impersonator": frozenset(
        {Permission.SEARCH, Permission.IMPERSONATE_READ_ONLY, Permission.IMPERSONATE_FULL, Permission.APPROVE}
    ),
    "security": frozenset({Permission.SEARCH, Permission.AUDIT, Permission.APPROVE}),
    "admin": frozenset({Permission.SEARCH, Permission.AUDIT, Permission.ADMIN, Permission.APPROVE}),
}

ROLE_LABELS = {
    "support": "Support agent",
    "impersonator": "Impersonator",
    "security": "Security team",
    "admin": "Administrator",
}


def allows(role: str | None, permission: Permission) -> bool:
    """True when `role` holds `permission`; unknown roles hold nothing."""
    return permission in GRANTS.get(role or "", frozenset())
