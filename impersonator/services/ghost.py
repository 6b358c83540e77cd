"""The ghost session, checked on the server on every tenant request (DESIGN I4, I7).

`check` answers in one query (impersonation, staff, user and the global switch together: it runs on
every ghost request, MEASURED.md counts round trips) whether the session may go on, and ends it —
audited once, with its reason — the moment it may not. `record_request` keeps the action trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from impersonator.extensions import db
from impersonator.models import GhostRequest, Impersonation, Setting, Staff, Tenant, User
from impersonator.services import impersonations, policy
from impersonator.services.audit import Actor
from impersonator.services.errors import DomainError
from impersonator.services.settings import IMPERSONATION_ENABLED

END_MESSAGES = {
    "staff_ended": "The impersonation was ended.",
    "user_revoked": "The customer ended this impersonation.",
    "security_terminated": "The security team terminated this impersonation.",
    "expired": "The impersonation reached its time limit.",
    "switched_off": "Impersonation was switched off.",
    "staff_disabled": "The staff account is no longer allowed to impersonate.",
    "policy_changed": "The rules for this account changed, so the impersonation ended.",
    "wrong_tenant": "This impersonation link was used on the wrong site.",
}


class ImpersonationEnded(DomainError):
    status = 403

    def __init__(self, end_reason: str) -> None:
        super().__init__(end_reason, END_MESSAGES.get(end_reason, "The impersonation has ended."))


@dataclass(frozen=True)
class Ghost:
    """Who is looking at whose account, in which mode, until when (RFC 8693: subject and actor)."""

    impersonation_id: int
    staff_id: int
    staff_name: str
    staff_email: str
    user_id: int
    user_name: str
    tenant_name: str
    mode: str
    expires_at: datetime

    @property
    def read_only(self) -> bool:
        return self.mode == "read_only"

    @property
    def actor(self) -> Actor:
        return Actor("staff", self.staff_id, self.staff_email)

    def minutes_left(self, now: datetime) -> int:
        return max(0, int((self.expires_at - now).total_seconds() + 59) // 60)


def check(impersonation_id: int, *, tenant: Tenant, now: datetime) -> tuple[Ghost, User]:
    """The live ghost session and its target user, or ImpersonationEnded (after ending it)."""
    switch = select(Setting.value).where(Setting.key == IMPERSONATION_ENABLED).scalar_subquery()
    row = db.session.execute(
        select(Impersonation, Staff, User, switch)
        .join(Staff, Staff.id == Impersonation.staff_id)
        .join(User, User.id == Impersonation.user_id)
        .where(Impersonation.id == impersonation_id)
    ).one_or_none()
    if row is None:
        raise ImpersonationEnded("staff_ended")
    imp, staff, user, switch_value = row
    if imp.ended_at is not None:
        raise ImpersonationEnded(imp.end_reason or "staff_ended")
    reason = _reason_to_end(imp, staff, user, tenant, switch_value != "off", now)
    if reason:
        impersonations.end(imp.id, reason=reason, actor=Actor.system("ghost-guard"), ip=None, now=now)
        raise ImpersonationEnded(reason)
    ghost = Ghost(
        imp.id, staff.id, staff.name, staff.email, user.id, user.name, tenant.name, imp.mode, imp.expires_at
    )
    return ghost, user


def _reason_to_end(
    imp: Impersonation, staff: Staff, user: User, tenant: Tenant, switch_on: bool, now: datetime
) -> str | None:
    if imp.redeemed_at is None or imp.expires_at is None or imp.tenant_id != tenant.id:
        return "policy_changed"
    if now >= imp.expires_at:
        return "expired"
    if not switch_on:
        return "switched_off"
    try:
        policy.check_staff(staff, imp.mode)
    except policy.PolicyDenied:
        return "staff_disabled"
    if not tenant.impersonation_enabled or tenant.access_policy == "off" or not user.active:
        return "policy_changed"
    return None


def record_request(impersonation_id: int, *, method: str, path: str, status: int, now: datetime) -> None:
    """Append one line to the ghost session's action trail (the staff member as actor)."""
    db.session.add(
        GhostRequest(
            impersonation_id=impersonation_id, at=now, method=method[:10], path=path[:500], status=status
        )
    )
    db.session.commit()
