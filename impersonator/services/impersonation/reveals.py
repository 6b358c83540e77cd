"""Reveals of masked values in a ghost session (DESIGN §13): recorded with their reason in the same
transaction as their audit event (I1), read back on every ghost page that shows a masked value, and
listed for the customer (access history) and the security team (the impersonation's detail page).

The session's reveals live on the server, in `masked_reveal`: the ghost's cookie holds none of them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from impersonator.extensions import db
from impersonator.models import AuditEvent, MaskedReveal, Tenant
from impersonator.services import audit, masking, wording
from impersonator.services.errors import InvalidInput
from impersonator.services.impersonation.ghost import Ghost
from impersonator.services.validation import clean_text

REASON_MIN_CHARS = 10  # "a short reason": enough to say which ticket or what is being checked
REASON_MAX_CHARS = 500
REVEALED = "impersonation.revealed"


@dataclass(frozen=True)
class Revealed:
    """What this ghost session may see unmasked: single values by (category, key), whole categories."""

    values: frozenset[tuple[str, str]] = frozenset()
    categories: frozenset[str] = frozenset()

    def shows(self, category: str, key: str) -> bool:
        return category in self.categories or (category, key) in self.values


@dataclass(frozen=True)
class Reveal:
    """One reveal as the pages list it (never the value)."""

    impersonation_id: int
    at: datetime
    category: str
    key: str
    scope: str
    reason: str

    @property
    def what(self) -> str:
        """`a payment detail (card)`, or `every payment detail for the rest of the session`."""
        words = wording.mask_category(self.category)
        if self.scope == "category":
            return f"every {words} for the rest of the session"
        return f"one {words} ({self.key.replace('_', ' ')})"


def clean_reason(reason: str | None) -> str:
    """The ghost's reason: trimmed, readable, REASON_MIN_CHARS to REASON_MAX_CHARS characters."""
    text = clean_text(reason, "Reason", max_length=REASON_MAX_CHARS)
    if len(text) < REASON_MIN_CHARS:
        raise InvalidInput(
            "reveal_reason_too_short", f"Give a reason of at least {REASON_MIN_CHARS} characters."
        )
    return text


def reveal(
    ghost: Ghost,
    tenant: Tenant,
    *,
    category: str,
    key: str | None,
    scope: str,
    reason: str | None,
    ip: str | None,
    now: datetime,
) -> Reveal:
    """Record a reveal and its audit event in one transaction. Bad input (no reason, an unknown
    category or key) raises InvalidInput and writes nothing; a reveal the tenant forbids raises
    RevealRefused after its refusal is audited (I1: every denied attempt)."""
    masking.check_category(category)
    key = masking.check_key(key)
    text = clean_reason(reason)
    details = {"impersonation_id": ghost.impersonation_id, "category": category, "key": key, "scope": scope}
    try:
        masking.check_reveal(tenant, ghost.mode, category, scope)
    except masking.RevealRefused as refused:
        _audit(
            "impersonation.reveal_refused",
            ghost,
            tenant,
            ip,
            now,
            {**details, "reason": text, "refusal": refused.reason},
            outcome="denied",
        )
        db.session.commit()
        raise
    row = MaskedReveal(
        impersonation_id=ghost.impersonation_id,
        tenant_id=tenant.id,
        category=category,
        key=key,
        scope=scope,
        reason=text,
        revealed_at=now,
    )
    db.session.add(row)
    _audit("impersonation.revealed", ghost, tenant, ip, now, {**details, "reason": text})
    db.session.commit()
    return Reveal(ghost.impersonation_id, now, category, key, scope, text)


def _audit(
    action: str, ghost: Ghost, tenant: Tenant, ip: str | None, now: datetime, details: dict, outcome="success"
) -> None:
    # The staff member acts; the customer is the subject (RFC 8693), as with every ghost event.
    audit.about_user(
        action,
        user_id=ghost.user_id,
        tenant_id=tenant.id,
        actor=ghost.actor,
        at=now,
        ip=ip,
        outcome=outcome,
        details=details,
    )


def revealed(impersonation_id: int) -> Revealed:
    """What the session has revealed so far (one query, on pages that show a masked value)."""
    rows = db.session.execute(
        select(MaskedReveal.category, MaskedReveal.key, MaskedReveal.scope).where(
            MaskedReveal.impersonation_id == impersonation_id
        )
    ).all()
    return Revealed(
        frozenset((category, key) for category, key, scope in rows if scope == "one"),
        frozenset(category for category, _, scope in rows if scope == "category"),
    )


def for_impersonations(ids: list[int]) -> dict[int, list[Reveal]]:
    """The reveals of each impersonation, in order."""
    if not ids:
        return {}
    rows = db.session.scalars(
        select(MaskedReveal).where(MaskedReveal.impersonation_id.in_(ids)).order_by(MaskedReveal.id)
    )
    found: dict[int, list[Reveal]] = defaultdict(list)
    for row in rows:
        found[row.impersonation_id].append(
            Reveal(row.impersonation_id, row.revealed_at, row.category, row.key, row.scope, row.reason)
        )
    return found


def count_since(since: datetime) -> int:
    """How many reveals the audit log records from `since` on (the audit page's count)."""
    return db.session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == REVEALED, AuditEvent.at >= since)
    )


def last_days(now: datetime, days: int = 30) -> int:
    """Reveals in the last `days` days."""
    return count_since(now - timedelta(days=days))
