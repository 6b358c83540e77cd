"""Who may be impersonated, by whom, and what a request needs (DESIGN I5, I6, §7, §9).

One place answers: `evaluate` for a concrete request, `access_state` for what the console shows
next to a user before anyone asks. Denials carry a reason code (audited) and a sentence (shown).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from impersonator.models import Staff, User
from impersonator.services.admin import settings
from impersonator.services.errors import NotAllowed
from impersonator.services.staff.roles import Permission, allows

MODE_PERMISSIONS = {
    "read_only": Permission.IMPERSONATE_READ_ONLY,
    "full": Permission.IMPERSONATE_FULL,
}
MODE_LABELS = {"read_only": "read-only", "full": "full access"}


class PolicyDenied(NotAllowed):
    """An impersonation request or redemption refused by a rule."""


DENIALS = {
    "switched_off": "Impersonation is switched off for everyone right now.",
    "tenant_off": "Impersonation is turned off for this customer's company.",
    "user_inactive": "This user's account is inactive.",
    "mode_not_allowed": "Your role may not impersonate in this mode.",
    "staff_inactive": "Your staff account is not active.",
    "consent_needed": "This user has not opted in: ask them for their support access code.",
    "code_needed": "This company requires the user's support access code for every impersonation.",
}


def deny(reason: str) -> PolicyDenied:
    return PolicyDenied(reason, DENIALS[reason])


@dataclass(frozen=True)
class AccessState:
    """What an impersonation of this user needs right now, in the console's words."""

    code: str  # opted_in | code_needed | approval_needed | tenant_off | switched_off | inactive
    label: str
    needs_code: bool
    possible: bool


def opted_in(user: User, now: datetime) -> bool:
    until = user.support_access_opt_in_until
    return until is not None and until > now


def access_state(user: User, now: datetime, *, switch_on: bool | None = None) -> AccessState:
    """For the search results and the user page. `switch_on` may be passed in when listing many."""
    if switch_on is None:
        switch_on = settings.impersonation_enabled()
    tenant = user.tenant
    if not switch_on:
        return AccessState("switched_off", "impersonation switched off", False, False)
    if not tenant.impersonation_enabled or tenant.access_policy == "off":
        return AccessState("tenant_off", "impersonation off for this tenant", False, False)
    if not user.active:
        return AccessState("inactive", "inactive", False, False)
    if customer_approves(user):
        return AccessState("approval_needed", "the customer approves each request", False, True)
    if tenant.access_policy == "code_always":
        return AccessState("code_needed", "code needed (tenant policy)", True, True)
    if opted_in(user, now):
        until = user.support_access_opt_in_until.strftime("%Y-%m-%d %H:%M UTC")
        return AccessState("opted_in", f"opted in until {until}", False, True)
    return AccessState("code_needed", "code needed", True, True)


def check_staff(staff: Staff, mode: str) -> None:
    """The staff member may impersonate in `mode` (checked at request and at every ghost request)."""
    if not staff.active:
        raise deny("staff_inactive")
    permission = MODE_PERMISSIONS.get(mode)
    if permission is None or not allows(staff.role, permission):
        raise deny("mode_not_allowed")


def check_target(user: User, now: datetime, *, switch_on: bool | None = None) -> None:
    """The user may be impersonated at all right now (switch, tenant, account). `switch_on` may be
    passed in when the caller read the global switch in its own query."""
    if switch_on is None:
        switch_on = settings.impersonation_enabled()
    if not switch_on:
        raise deny("switched_off")
    tenant = user.tenant
    if not tenant.impersonation_enabled or tenant.access_policy == "off":
        raise deny("tenant_off")
    if not user.active:
        raise deny("user_inactive")


def customer_approves(user: User) -> bool:
    """Does this user approve each request themself (DESIGN §11): the tenant's policy, or their own
    choice where the tenant lets users choose? Their approval is then the consent: no code."""
    if user.tenant.access_policy == "approve_each":
        return True
    return users_choose_approval(user.tenant) and user.approve_each_request


def users_choose_approval(tenant) -> bool:
    """May this tenant's users choose to approve each request instead of opting in or giving a code?
    (An approval of each request is as strong a consent as either; a tenant that is off allows none.)"""
    return tenant.users_choose_approval and tenant.access_policy in ("opt_in_or_code", "code_always")


def code_required(user: User, now: datetime) -> bool:
    """Does a request for this user need their support access code (DESIGN I5)?"""
    return user.tenant.access_policy == "code_always" or not opted_in(user, now)
