"""The ghost session, checked on the server on every tenant request (DESIGN I4, I7).

`find` reads, in one query, the tenant of the request's host together with the session's
impersonation, its staff member and user, and the global switch: it runs on every ghost request, and
MEASURED.md counts round trips. `check` then answers whether the session may go on, and ends it —
audited once, with its reason — the moment it may not. `record_request` keeps the action trail
of the account's pages (not of files such as the stylesheet or the browser's favicon request).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, insert, select

from impersonator.extensions import db, drop_leftovers
from impersonator.models import GhostRequest, Impersonation, Setting, Staff, Tenant, TenantDomain, User
from impersonator.services import wording
from impersonator.services.admin.settings import IMPERSONATION_ENABLED
from impersonator.services.audit import Actor, alerts
from impersonator.services.errors import DomainError
from impersonator.services.impersonation import lifecycle, policy
from impersonator.services.secret_text import same_secret, token_digest
from impersonator.services.validation import loggable_path

# The ghost's "impersonation ended" page speaks to the staff member who impersonated.
END_MESSAGES = {code: wording.end_sentence(code, "staff") for code in wording.END_REASONS}

# Files, not the account's pages: the browser fetches them by itself (the favicon on every first
# visit, whatever the page links), so in the action trail they would only be noise, and a missing
# one (a 404) would read as a refused attempt by support.
STATIC_PREFIX = "/static/"
NOT_PAGES = frozenset({"/favicon.ico", "/robots.txt"})


def is_page(path: str) -> bool:
    """Does a request for `path` belong in the action trail (the account's pages and changes)?"""
    return not path.startswith(STATIC_PREFIX) and path not in NOT_PAGES


def new_secret() -> str:
    """The ghost session's own secret, set at redemption and kept in the ghost's cookie only."""
    return secrets.token_urlsafe(32)


def secret_hash(secret: str) -> str:
    """What the database keeps of the secret."""
    return token_digest(secret)


def holds_the_secret(imp: Impersonation, secret: object) -> bool:
    """Does the cookie's `secret` belong to this impersonation's ghost session? Its id alone is
    no proof: the cookie is signed with a key derived from SECRET_KEY, the secret is not."""
    if not isinstance(secret, str) or not secret or len(secret) > 100 or imp.ghost_secret_hash is None:
        return False
    return same_secret(secret_hash(secret), imp.ghost_secret_hash)


def refuse_foreign_cookie(imp: Impersonation, *, ip: str | None, now: datetime) -> None:
    """A ghost cookie names `imp` without its secret: whoever signed it holds SECRET_KEY (a security
    alert), or it dates from before ghost secrets existed (no hash to prove: refused quietly)."""
    if imp.ghost_secret_hash is None:
        return
    alerts.raise_alert(
        "ghost_cookie_forged",
        actor=Actor.anonymous(ip or "unknown"),
        at=now,
        ip=ip,
        tenant_id=imp.tenant_id,
        details={"impersonation_id": imp.id},
    )
    db.session.commit()


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


@dataclass(frozen=True)
class Found:
    """The session's impersonation as read this request (None when there is no such row), with its
    staff member and user, and whether the global switch is on."""

    impersonation: Impersonation | None
    staff: Staff | None
    user: User | None
    switch_on: bool


def find(hostname: str, impersonation_id: int | None) -> tuple[Tenant | None, Found]:
    """The tenant served on `hostname` (None for an unknown host) and the impersonation
    `impersonation_id` names (a valid row id, validation.row_id, or None), from one query."""
    wanted = impersonation_id or 0  # 0: no such row
    row = db.session.execute(_FIND, {"hostname": hostname, "impersonation_id": wanted}).one_or_none()
    if row is None:
        return None, Found(None, None, None, True)
    tenant, imp, staff, user, switch_value = row
    return tenant, Found(imp, staff, user, switch_value != "off")


# Built once: building the statement cost as much as a third of running it.
_FIND = (
    select(
        Tenant,
        Impersonation,
        Staff,
        User,
        select(Setting.value).where(Setting.key == IMPERSONATION_ENABLED).scalar_subquery(),
    )
    .select_from(TenantDomain)
    .join(Tenant, Tenant.id == TenantDomain.tenant_id)
    .outerjoin(Impersonation, Impersonation.id == bindparam("impersonation_id"))
    .outerjoin(Staff, Staff.id == Impersonation.staff_id)
    .outerjoin(User, User.id == Impersonation.user_id)
    .where(TenantDomain.domain == bindparam("hostname"))
)


def check(found: Found, *, tenant: Tenant, now: datetime) -> tuple[Ghost, User]:
    """The live ghost session and its target user, or ImpersonationEnded (after ending it)."""
    imp, staff, user = found.impersonation, found.staff, found.user
    if imp is None or staff is None or user is None:
        raise ImpersonationEnded("staff_ended")
    if imp.ended_at is not None:
        raise ImpersonationEnded(imp.end_reason or "staff_ended")
    reason = _reason_to_end(imp, staff, user, tenant, found.switch_on, now)
    if reason:
        lifecycle.end(imp.id, reason=reason, actor=Actor.system("ghost-guard"), ip=None, now=now)
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
    """Append one line to the ghost session's action trail (the staff member as actor) and commit
    it, and only it; requests for files (`is_page`) are left out."""
    if not is_page(path):
        return
    drop_leftovers()  # this runs after the view: a refused change stays unmade
    # A plain INSERT, not an ORM object: this runs after every ghost request, and the unit of work
    # (and the id it would read back) cost more than the row.
    row = {
        "impersonation_id": impersonation_id,
        "at": now,
        "method": method[:10],
        "path": loggable_path(path),
    }
    db.session.execute(_RECORD, {**row, "status": status})
    db.session.commit()


_RECORD = insert(GhostRequest.__table__)
