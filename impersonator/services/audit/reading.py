"""How an audit event reads for people: its details worded (services/wording.py) and its actors
and targets named, for the audit log, the impersonation detail page and the live sessions page."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, literal, select, union_all

from impersonator.extensions import db
from impersonator.models import Staff, Tenant, User
from impersonator.services import wording


@dataclass(frozen=True)
class Detail:
    """One item of an event's details, worded: `code` is the raw value where the text translates one
    (shown on hover), `at` a moment the page formats like its other times."""

    label: str
    text: str
    code: str | None = None
    at: datetime | None = None


@dataclass
class Entry:
    """One event as the page shows it, its texts ready (a page has fifty; the template stays simple)."""

    event: Row
    details: list[Detail]
    alarming: bool  # denied and failed attempts and security alerts stand out
    break_glass: bool = False  # an emergency entry and its approvals show red (DESIGN §11)

    @classmethod
    def of(cls, event: Row) -> Entry:
        details = _details(event.details)
        return cls(
            event,
            details_of(event.action, details),
            event.outcome in ("denied", "failure") or event.action == "security.alert",
            details.get("break_glass") is True,
        )

    @property
    def at(self) -> datetime:
        return self.event.at


# Details whose value is a code of one of the vocabulary's tables, by action (None: any action).
_WORDED_VALUES = {
    ("mode", None): wording.mode,
    ("access_via", None): wording.access_route,
    ("kind", "security.alert"): wording.alert,
    ("reason", "impersonation.ended"): wording.end_reason,
    ("reason_code", None): wording.reason_code,
    ("outcome", None): wording.outcome,
}


def details_of(action: str, details: dict[str, Any]) -> list[Detail]:
    """An event's details as people read them: keys labelled, codes worded, moments as times. The
    impersonation has a column (and a link) of its own; a justification is text, never a code."""
    shown = []
    for key, value in sorted(details.items()):
        if key == "impersonation_id":
            continue
        if key == "reason" and action == "impersonation.requested":
            shown.append(Detail("Justification", _shown(value)))
            continue
        shown.append(Detail(wording.detail_key(key), *_worded(key, action, value)))
    return shown


def _worded(key: str, action: str, value: Any) -> tuple[str, str | None, datetime | None]:
    """(text, raw code, moment) of one value."""
    if isinstance(value, dict) and set(value) == {"old", "new"}:
        old, new = (_worded(key, action, value[side])[0] for side in ("old", "new"))
        return f"{old} → {new}", None, None
    if isinstance(value, str):
        word = _WORDED_VALUES.get((key, action)) or _WORDED_VALUES.get((key, None))
        if word is not None:
            return word(value), value, None
        if (key == "at" or key.endswith(("_at", "until", "_by"))) and (moment := _moment(value)) is not None:
            return value, None, moment
        if "_" in value and wording.looks_like_code(value):
            return wording.plain(value), value, None
    if isinstance(value, bool):
        return ("yes" if value else "no"), None, None
    return _shown(value), None, None


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def _moment(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Person:
    """A staff member or a customer an event names, as the page shows them."""

    id: int
    name: str
    email: str


@dataclass(frozen=True)
class People:
    """The staff members, customers and tenants a page of events names, read in one query."""

    staff: dict[int, Person] = field(default_factory=dict)
    customers: dict[int, Person] = field(default_factory=dict)
    tenants: dict[int, str] = field(default_factory=dict)  # names by id

    def tenant(self, tenant_id: int) -> str:
        """The tenant's name, or "tenant #7" for one that is gone."""
        return self.tenants.get(tenant_id) or f"tenant #{tenant_id}"

    def actor(self, event: Any) -> Person | None:
        """The staff member or customer who did it (None: a visitor, the system, or gone)."""
        if event.actor_id is None:
            return None
        if event.actor_type == "staff":
            return self.staff.get(event.actor_id)
        return self.customers.get(event.actor_id) if event.actor_type == "customer" else None

    def target(self, event: Any) -> Person | None:
        """The staff member or customer it was about."""
        if event.target_id is None:
            return None
        if event.target_type == "staff":
            return self.staff.get(event.target_id)
        return self.customers.get(event.target_id) if event.target_type == "user" else None


def people(events: list[Any]) -> People:
    """The names of the staff members and customers that `events` name as actor or target, and of
    their tenants: one query for the whole page (UNION ALL of the three tables by primary key), none
    without ids."""
    staff_ids, user_ids, tenant_ids = set(), set(), set()
    for e in events:
        for kind, id_ in ((e.actor_type, e.actor_id), (e.target_type, e.target_id)):
            if id_ is not None and kind == "staff":
                staff_ids.add(id_)
            elif id_ is not None and kind in ("user", "customer"):
                user_ids.add(id_)
            elif id_ is not None and kind == "tenant":
                tenant_ids.add(id_)
        if e.tenant_id is not None:
            tenant_ids.add(e.tenant_id)
    parts = []
    if staff_ids:
        parts.append(
            select(literal("staff").label("kind"), Staff.id, Staff.name, Staff.email).where(
                Staff.id.in_(sorted(staff_ids))
            )
        )
    if user_ids:
        parts.append(
            select(literal("user").label("kind"), User.id, User.name, User.email).where(
                User.id.in_(sorted(user_ids))
            )
        )
    if tenant_ids:
        parts.append(
            select(literal("tenant").label("kind"), Tenant.id, Tenant.name, Tenant.slug).where(
                Tenant.id.in_(sorted(tenant_ids))
            )
        )
    found = People()
    if not parts:
        return found
    query = parts[0] if len(parts) == 1 else union_all(*parts)
    for row in db.session.execute(query):
        if row.kind == "tenant":
            found.tenants[row.id] = row.name
        else:
            into = found.staff if row.kind == "staff" else found.customers
            into[row.id] = Person(row.id, row.name, row.email)
    return found


def _details(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError:
        return {"details": raw}
    return value if isinstance(value, dict) else {"details": value}
