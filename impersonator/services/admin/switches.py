"""The admin's switches (DESIGN I5): the global kill switch and each tenant's
impersonation switch, access policy and notice defaults. Every change is audited with its old and
new value; a change that changes nothing writes nothing; switching off ends the sessions it covers
in the same transaction."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, fields, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from impersonator.extensions import db
from impersonator.models import (
    ACCESS_POLICIES,
    MASK_CATEGORIES,
    REASON_CODES,
    TWO_PERSON_RULES,
    Setting,
    Tenant,
)
from impersonator.services import audit
from impersonator.services.admin import settings
from impersonator.services.approvals import closing, rules
from impersonator.services.audit import Actor
from impersonator.services.errors import InvalidInput
from impersonator.services.impersonation import lifecycle

POLICY_LABELS = {
    "opt_in_or_code": "Opt-in or access code",
    "code_always": "Access code every time",
    "approve_each": "Customer approves each request",
    "off": "Off",
}


class TenantNotFound(InvalidInput):
    status = 404

    def __init__(self) -> None:
        super().__init__("tenant_not_found", "There is no such tenant.")


@dataclass(frozen=True)
class TenantSettings:
    """What an admin sets for one tenant."""

    impersonation_enabled: bool
    access_policy: str
    notify_on_access_default: bool
    hide_justification: bool
    two_person: str = "full"
    users_choose_approval: bool = False
    ticket_pattern: str | None = None
    reason_codes: str | None = None  # space-separated; None: every reason code
    # Reveals of masked values (DESIGN §13): categories (space-separated; None: every one; "": none).
    reveal_categories: str | None = None
    reveal_whole_category: bool = False
    reveals_full_mode_only: bool = False

    @classmethod
    def of(cls, tenant: Tenant) -> TenantSettings:
        return cls(**{f.name: getattr(tenant, f.name) for f in fields(cls)})

    @property
    def allows_impersonation(self) -> bool:
        return self.impersonation_enabled and self.access_policy != "off"


@dataclass(frozen=True)
class SwitchChange:
    """Whether the global switch changed, and how many impersonations that ended."""

    changed: bool
    sessions_ended: int


@dataclass(frozen=True)
class TenantChange:
    """What a save changed: {field: {"old", "new"}}, and how many impersonations it ended."""

    changes: dict[str, dict[str, object]]
    sessions_ended: int


@dataclass(frozen=True)
class TenantRow:
    """A tenant as the switches page shows it."""

    tenant: Tenant
    live_sessions: int


def set_impersonation_enabled(enabled: bool, *, actor: Actor, ip: str | None, now: datetime) -> bool:
    """Flip the global switch, audited with old and new value; returns whether anything changed."""
    return set_global_switch(enabled, actor=actor, ip=ip, now=now).changed


def set_global_switch(enabled: bool, *, actor: Actor, ip: str | None, now: datetime) -> SwitchChange:
    """Flip the global switch (audited with old and new value); off ends every open impersonation
    in the same transaction, each end audited."""
    old = settings.impersonation_enabled()
    if old == enabled:
        return SwitchChange(False, 0)
    row = db.session.get(Setting, settings.IMPERSONATION_ENABLED)
    value = "on" if enabled else "off"
    if row is None:
        db.session.add(Setting(key=settings.IMPERSONATION_ENABLED, value=value, updated_at=now))
    else:
        row.value, row.updated_at = value, now
    audit.record(
        "settings.impersonation_switch",
        actor=actor,
        at=now,
        ip=ip,
        details={"old": "on" if old else "off", "new": value},
    )
    ended = 0
    if not enabled:
        # Live sessions would end on their next request anyway (the ghost guard reads the switch);
        # ending them now shows them ended everywhere at once. A token not used yet is refused
        # (and ended, audited) by redemption, which checks the switch again.
        ended = lifecycle.end_all_in_transaction(
            lifecycle.open_ones(now), "switched_off", actor, ip=ip, now=now
        )
        closing.cancel_open("switched_off", actor, now=now, ip=ip)
    db.session.commit()
    return SwitchChange(True, ended)


def update_tenant(
    tenant_id: int, wanted: TenantSettings, *, actor: Actor, ip: str | None, now: datetime
) -> TenantChange:
    """Apply `wanted` to the tenant and say what changed (nothing changed: nothing written).
    Turning impersonation off for the tenant ends its live ghost sessions at once; a token not
    used yet is refused (and ended) by redemption, which checks the tenant again."""
    tenant = db.session.get(Tenant, tenant_id)
    if tenant is None:
        raise TenantNotFound()
    if wanted.access_policy not in ACCESS_POLICIES:
        raise InvalidInput("bad_access_policy", "Choose one of the access policies offered.")
    if wanted.two_person not in TWO_PERSON_RULES:
        raise InvalidInput("bad_two_person", "Choose when a second staff member approves.")
    wanted = replace(wanted, ticket_pattern=rules.valid_ticket_pattern(wanted.ticket_pattern))
    if wanted.reason_codes is not None and (
        not wanted.reason_codes.split() or set(wanted.reason_codes.split()) - set(REASON_CODES)
    ):
        raise InvalidInput("bad_reason_codes", "Allow at least one of the reasons offered.")
    if wanted.reveal_categories and set(wanted.reveal_categories.split()) - set(MASK_CATEGORIES):
        raise InvalidInput("bad_reveal_categories", "Choose among the kinds of sensitive values offered.")
    old = TenantSettings.of(tenant)
    changes = {
        f.name: {"old": getattr(old, f.name), "new": getattr(wanted, f.name)}
        for f in fields(TenantSettings)
        if getattr(old, f.name) != getattr(wanted, f.name)
    }
    if not changes:
        return TenantChange({}, 0)
    for name, change in changes.items():
        setattr(tenant, name, change["new"])
    ended = 0
    if old.allows_impersonation and not wanted.allows_impersonation:
        ended = lifecycle.end_all_in_transaction(
            lifecycle.open_ones(now, tenant_id=tenant.id),
            "policy_changed",
            actor,
            ip=ip,
            now=now,
        )
        closing.cancel_open("policy_changed", actor, now=now, ip=ip, tenant_id=tenant.id)
    audit.record(
        "tenant.settings_changed",
        actor=actor,
        at=now,
        ip=ip,
        target_type="tenant",
        target_id=tenant.id,
        tenant_id=tenant.id,
        details={"tenant": tenant.slug, "changes": changes, "sessions_ended": ended},
    )
    db.session.commit()
    return TenantChange(changes, ended)


def reason_codes_setting(chosen: list[str]) -> str | None:
    """The stored form of the reasons an admin ticked: None when every reason is allowed."""
    if set(chosen) >= set(REASON_CODES):
        return None
    return " ".join(code for code in REASON_CODES if code in chosen)


def tenants(now: datetime) -> list[TenantRow]:
    """Every tenant by name, with how many live ghost sessions it has right now."""
    rows = db.session.scalars(select(Tenant).options(selectinload(Tenant.domains)).order_by(Tenant.name))
    open_by_tenant = Counter(imp.tenant_id for imp in lifecycle.open_ones(now))
    return [TenantRow(tenant, open_by_tenant[tenant.id]) for tenant in rows]


def live_sessions(now: datetime) -> int:
    """How many ghost sessions are live right now (what the kill switch ends at once)."""
    return len(lifecycle.open_ones(now))
