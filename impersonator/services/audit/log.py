"""The audit log as the security team reads it: filters, and keyset pages on `seq`.

Every filter is an equality that has a composite index ending in `seq` (models/audit.py), so a page
is one index range read backwards from the cursor: `col = ? AND seq < ? ORDER BY seq DESC LIMIT 51`.
No OFFSET, no count: page 1,000 costs what page 1 costs.

A time range becomes a `seq` window first (seq_bounds.py), so it too is one index range.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, Select, select, text

from impersonator.extensions import db
from impersonator.models import REASON_CODES, AuditEvent, Impersonation, Staff, Tenant, User
from impersonator.services import wording
from impersonator.services.audit import seq_bounds
from impersonator.services.audit.reading import Entry, People, people
from impersonator.services.errors import InvalidInput

PER_PAGE = 50
# The filter form lists staff members and tenants up to this many each; beyond, a long list is no
# help (and costs every page), so the form asks for an id, email address or slug instead.
LISTED_MAX = 200
OUTCOMES = ("success", "failure", "denied")
MAX_SEQ = 2**63 - 1
_ID = re.compile(r"[0-9]{1,18}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ACTION = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
# The loose index scan of (action, seq): one probe per distinct action, on both databases.
_DISTINCT_ACTIONS = text(
    "WITH RECURSIVE actions(action) AS ("
    " SELECT min(action) FROM audit_event"
    " UNION ALL SELECT (SELECT min(action) FROM audit_event WHERE action > actions.action)"
    " FROM actions WHERE actions.action IS NOT NULL)"
    " SELECT action FROM actions WHERE action IS NOT NULL"
)


@dataclass(frozen=True)
class Filters:
    """What the security officer narrowed the log to; every field optional. Dates are UTC days,
    both inclusive."""

    since: date | None = None
    until: date | None = None
    staff_id: int | None = None
    tenant_id: int | None = None
    user_id: int | None = None
    action: str | None = None
    outcome: str | None = None
    reason_code: str | None = None  # models.REASON_CODES

    def as_args(self) -> dict[str, str]:
        """The query string that gives these filters back (for links to other pages, the export)."""
        names = {
            "since": "from",
            "until": "to",
            "staff_id": "staff",
            "tenant_id": "tenant",
            "user_id": "user",
            "reason_code": "reason",
        }
        return {
            names.get(f.name, f.name): str(getattr(self, f.name))
            for f in fields(self)
            if getattr(self, f.name) is not None
        }

    @property
    def active(self) -> bool:
        return bool(self.as_args())


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: older than `before`, or newer than `after` (neither: the newest)."""

    before: int | None = None
    after: int | None = None


# The columns a page shows (every chained one), read as plain rows: no ORM objects to build.
SHOWN = (
    AuditEvent.seq,
    AuditEvent.at,
    AuditEvent.actor_type,
    AuditEvent.actor_id,
    AuditEvent.actor_label,
    AuditEvent.action,
    AuditEvent.outcome,
    AuditEvent.target_type,
    AuditEvent.target_id,
    AuditEvent.tenant_id,
    AuditEvent.impersonation_id,
    AuditEvent.ip,
    AuditEvent.details,
)


@dataclass
class Page:
    """One page of events, the people they name, and the cursors to its neighbours."""

    entries: list[Entry]
    newer: int | None = None  # `after` cursor of the newer page, if there is one
    older: int | None = None  # `before` cursor of the older page, if there is one
    people: People = field(default_factory=People)


@dataclass(frozen=True)
class Choices:
    """What the filter form offers: staff as (id, name, email), tenants as (id, name); None where
    there are more than LISTED_MAX to list (the form then asks for one to be typed)."""

    staff: list[tuple[int, str, str]] | None
    tenants: list[tuple[int, str]] | None
    actions: list[str]
    outcomes: tuple[str, ...] = OUTCOMES
    reason_codes: tuple[str, ...] = REASON_CODES

    def labelled_actions(self, chosen: str | None = None) -> list[tuple[str, str]]:
        """(label, action) of the actions the log holds, and of `chosen` (filtered on but not listed
        yet), by label."""
        actions = set(self.actions) | ({chosen} if chosen else set())
        return sorted((wording.action(action), action) for action in actions)


def parse_filters(args: Mapping[str, str]) -> Filters:
    """Filters from the query string; InvalidInput (400) with a sentence when a value is wrong."""
    since = _day(args.get("from"), "From")
    until = _day(args.get("to"), "To")
    if since and until and since > until:
        raise InvalidInput("bad_range", "The “from” date is after the “to” date.")
    tenant_id = _tenant(args.get("tenant"))
    action = _text(args.get("action"))
    if action is not None and (len(action) > 64 or not _ACTION.fullmatch(action)):
        raise InvalidInput("bad_action", "An action looks like impersonation.started.")
    outcome = _text(args.get("outcome"))
    if outcome is not None and outcome not in OUTCOMES:
        raise InvalidInput("bad_outcome", f"The outcome is one of {', '.join(OUTCOMES)}.")
    reason_code = _text(args.get("reason"))
    if reason_code is not None and reason_code not in REASON_CODES:
        raise InvalidInput("bad_reason_code", f"The reason is one of {', '.join(REASON_CODES)}.")
    return Filters(
        since=since,
        until=until,
        staff_id=_staff(args.get("staff")),
        tenant_id=tenant_id,
        user_id=_user(args.get("user"), tenant_id),
        action=action,
        outcome=outcome,
        reason_code=reason_code,
    )


def parse_cursor(args: Mapping[str, str]) -> Cursor:
    """The page's cursor (`before` or `after`, a sequence number)."""
    before, after = _seq(args.get("before"), "before"), _seq(args.get("after"), "after")
    if before is not None and after is not None:
        raise InvalidInput("bad_cursor", "A page starts before or after an event, not both.")
    return Cursor(before, after)


def _text(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _id(value: str, what: str) -> int:
    if not _ID.fullmatch(value):
        raise InvalidInput("bad_id", f"{what} must be a number or an email address.")
    return int(value)


def _seq(value: str | None, name: str) -> int | None:
    value = _text(value)
    if value is None:
        return None
    if not _ID.fullmatch(value) or not 0 < int(value) <= MAX_SEQ:
        raise InvalidInput("bad_cursor", f"“{name}” must be an event number such as 1234.")
    return int(value)


def _day(value: str | None, label: str) -> date | None:
    value = _text(value)
    if value is None:
        return None
    try:
        if not _DATE.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput("bad_date", f"“{label}” must be a date such as 2026-11-23.") from None


def _staff(value: str | None) -> int | None:
    value = _text(value)
    if value is None:
        return None
    if "@" in value:
        staff_id = db.session.scalar(select(Staff.id).where(Staff.email == value.lower()[:254]))
    else:
        staff_id = db.session.scalar(select(Staff.id).where(Staff.id == _id(value, "Staff member")))
    if staff_id is None:
        raise InvalidInput("unknown_staff", "There is no staff member with that id or email address.")
    return staff_id


def _tenant(value: str | None) -> int | None:
    value = _text(value)
    if value is None:
        return None
    by_id = _ID.fullmatch(value) is not None
    match = Tenant.id == int(value) if by_id else Tenant.slug == value.lower()[:63]
    tenant_id = db.session.scalar(select(Tenant.id).where(match))
    if tenant_id is None:
        raise InvalidInput("unknown_tenant", "There is no tenant with that id or slug.")
    return tenant_id


def _user(value: str | None, tenant_id: int | None) -> int | None:
    """A customer by id, or by email (unique within a tenant: ambiguous without one)."""
    value = _text(value)
    if value is None:
        return None
    if "@" not in value:
        user_id = db.session.scalar(select(User.id).where(User.id == _id(value, "Customer")))
        if user_id is None:
            raise InvalidInput("unknown_user", "There is no customer with that id.")
        return user_id
    query = select(User.id).where(User.email == value.lower()[:254])
    if tenant_id is not None:
        query = query.where(User.tenant_id == tenant_id)
    ids = list(db.session.scalars(query.limit(2)))
    if not ids:
        raise InvalidInput("unknown_user", "There is no customer with that email address.")
    if len(ids) > 1:
        raise InvalidInput(
            "ambiguous_user", "Customers of several tenants have that email address: choose a tenant too."
        )
    return ids[0]


def conditions(filters: Filters) -> list[ColumnElement[bool]] | None:
    """The WHERE conditions of the filters (a time range also bounds `seq`, see above)."""
    where: list[ColumnElement[bool]] = []
    if filters.staff_id is not None:
        where += [AuditEvent.actor_type == "staff", AuditEvent.actor_id == filters.staff_id]
    if filters.user_id is not None:
        where += [AuditEvent.target_type == "user", AuditEvent.target_id == filters.user_id]
    if filters.tenant_id is not None:
        where.append(AuditEvent.tenant_id == filters.tenant_id)
    if filters.action is not None:
        where.append(AuditEvent.action == filters.action)
    if filters.outcome is not None:
        where.append(AuditEvent.outcome == filters.outcome)
    if filters.reason_code is not None:
        where.append(_about_reason(filters.reason_code))
    if filters.since is not None:
        start = _midnight(filters.since)
        where += [AuditEvent.at >= start, *seq_bounds.since(start)]
    if filters.until is not None:
        end = _midnight(filters.until + timedelta(days=1))
        where += [AuditEvent.at < end, *seq_bounds.before(end)]
    return where


def _about_reason(reason_code: str) -> ColumnElement[bool]:
    """Events of requests given this reason: those of its impersonations, and the requests and
    decisions that name it in their details (an approval has no impersonation yet). The one filter
    without an index of its own: it narrows the other filters' range, read newest first."""
    of_impersonations = select(Impersonation.id).where(Impersonation.reason_code == reason_code)
    named = f'%"reason_code":{json.dumps(reason_code)}%'  # as audit.canonical_json writes it
    return AuditEvent.impersonation_id.in_(of_impersonations) | AuditEvent.details.like(named)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def page(filters: Filters, cursor: Cursor = Cursor()) -> Page:
    """One page of events, newest first, starting at the cursor."""
    where = conditions(filters)
    query = select(*SHOWN).where(*where)
    if cursor.after is not None:
        rows = db.session.execute(
            query.where(AuditEvent.seq > cursor.after).order_by(AuditEvent.seq).limit(PER_PAGE + 1)
        ).all()
        more_newer = len(rows) > PER_PAGE
        rows = rows[:PER_PAGE][::-1]
        more_older = _exists(where, older_than=cursor.after + 1)
    else:
        if cursor.before is not None:
            query = query.where(AuditEvent.seq < cursor.before)
        rows = db.session.execute(query.order_by(AuditEvent.seq.desc()).limit(PER_PAGE + 1)).all()
        more_older = len(rows) > PER_PAGE
        rows = rows[:PER_PAGE]
        more_newer = cursor.before is not None and _exists(where, newer_than=cursor.before - 1)
    if not rows and cursor.after is not None:
        return page(filters)  # nothing newer than the cursor: the newest page it is
    entries = [Entry.of(event) for event in rows]
    return Page(
        entries,
        newer=rows[0].seq if rows and more_newer else None,
        older=rows[-1].seq if rows and more_older else None,
        people=people(rows),
    )


def _exists(
    where: list[ColumnElement[bool]], *, newer_than: int | None = None, older_than: int | None = None
) -> bool:
    """Is there an event beyond the cursor? Ordered by `seq` so it is one probe of the filter's index
    (without ORDER BY, PostgreSQL may scan the table from its start to get there)."""
    query = select(AuditEvent.seq).where(*where)
    if newer_than is not None:
        query = query.where(AuditEvent.seq > newer_than).order_by(AuditEvent.seq)
    if older_than is not None:
        query = query.where(AuditEvent.seq < older_than).order_by(AuditEvent.seq.desc())
    return db.session.scalar(query.limit(1)) is not None


def choices() -> Choices:
    """Staff members, tenants and the actions the log holds, for the filter form."""
    staff = _listed(select(Staff.id, Staff.name, Staff.email).order_by(Staff.name, Staff.email))
    tenants = _listed(select(Tenant.id, Tenant.name).order_by(Tenant.name))
    actions = [row.action for row in db.session.execute(_DISTINCT_ACTIONS)]
    return Choices(staff, tenants, actions)


def _listed(query: Select) -> list[tuple] | None:
    """The rows of `query`, or None when there are more than LISTED_MAX (read no further)."""
    rows = db.session.execute(query.limit(LISTED_MAX + 1)).all()
    return None if len(rows) > LISTED_MAX else [tuple(row) for row in rows]


def typed(filters: Filters, *, staff: bool, tenant: bool) -> dict[str, str]:
    """The staff member's email address (`staff`) and the tenant's slug (`tenant`) the filters name,
    as a filter typed rather than picked shows them (the query string names them by id)."""
    shown = {}
    if staff and filters.staff_id is not None:
        shown["staff"] = db.session.scalar(select(Staff.email).where(Staff.id == filters.staff_id)) or ""
    if tenant and filters.tenant_id is not None:
        shown["tenant"] = db.session.scalar(select(Tenant.slug).where(Tenant.id == filters.tenant_id)) or ""
    return shown
