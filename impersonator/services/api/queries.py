"""What the API reads: impersonations (with the audit page's filters), live sessions, and the audit
log followed by `seq` cursor. Every function returns plain JSON-ready dicts.

Following the log without gaps or duplicates. `seq` is handed out at commit, under the chain head's
row lock, which the appending transaction holds until it has committed (services/audit): a second
appender waits on that lock and reads the head only once the first has committed, so seq N+1 is
never allocated, let alone committed, before seq N is committed and visible. Every snapshot
therefore sees a prefix 1..K of the chain, and "events after my cursor, in seq order" never skips
one that commits late. `events_after` still returns only the unbroken run that starts right after
the cursor: should a gap ever be seen (a database without that guarantee, an event deleted by
hand), the cursor stops before it instead of jumping over it, and `flask audit verify` names it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from impersonator.extensions import db
from impersonator.models import AuditEvent, Impersonation
from impersonator.services.audit import log
from impersonator.services.errors import InvalidInput
from impersonator.services.impersonation import live_sessions

IMPERSONATION_FILTERS = frozenset({"from", "to", "staff", "tenant", "user", "reason", "before", "limit"})
EVENT_PARAMS = frozenset({"after", "limit"})
PAGE_DEFAULT, PAGE_MAX = 50, 200
EVENTS_DEFAULT, EVENTS_MAX = 100, 1000


def _stamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _only(args: Mapping[str, str], allowed: frozenset[str]) -> None:
    unknown = sorted(set(args) - allowed)
    if unknown:
        raise InvalidInput(
            "bad_filter",
            f"Unknown parameter {unknown[0]!r}; this address takes {', '.join(sorted(allowed))}.",
        )


def _number(args: Mapping[str, str], name: str, *, default: int | None, low: int, high: int) -> int | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19 or not low <= int(raw) <= high:
        raise InvalidInput("bad_filter", f"“{name}” must be a whole number from {low} to {high}.")
    return int(raw)


def impersonation_json(imp: Impersonation, now: datetime) -> dict[str, Any]:
    """One impersonation as the API shows it (never its token id or ghost secret)."""
    return {
        "id": imp.id,
        "state": imp.state(now),
        "staff": {"id": imp.staff.id, "email": imp.staff.email, "name": imp.staff.name},
        "user": {"id": imp.user.id, "email": imp.user.email, "name": imp.user.name},
        "tenant": {"id": imp.tenant.id, "slug": imp.tenant.slug, "name": imp.tenant.name},
        "reason": imp.reason,
        "reason_code": imp.reason_code,
        "break_glass": imp.break_glass,
        "ticket": imp.ticket,
        "mode": imp.mode,
        "duration_minutes": imp.duration_minutes,
        "access_via": imp.access_via,
        "issued_at": _stamp(imp.issued_at),
        "token_expires_at": _stamp(imp.token_expires_at),
        "redeemed_at": _stamp(imp.redeemed_at),
        "expires_at": _stamp(imp.expires_at),
        "ended_at": _stamp(imp.ended_at),
        "end_reason": imp.end_reason,
        "end_note": imp.end_note,
        "issue_ip": imp.issue_ip,
        "redeem_ip": imp.redeem_ip,
    }


def event_json(event) -> dict[str, Any]:
    """One audit event, every chained field, its details parsed, and its place in the chain."""
    try:
        details = json.loads(event.details or "{}")
    except ValueError:
        details = {"unreadable": event.details}
    return {
        "seq": event.seq,
        "at": _stamp(event.at),
        "actor": {"type": event.actor_type, "id": event.actor_id, "label": event.actor_label},
        "action": event.action,
        "outcome": event.outcome,
        "target": (
            {"type": event.target_type, "id": event.target_id} if event.target_type is not None else None
        ),
        "tenant_id": event.tenant_id,
        "impersonation_id": event.impersonation_id,
        "ip": event.ip,
        "details": details,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


_WITH_PEOPLE = (
    joinedload(Impersonation.staff),
    joinedload(Impersonation.user),
    joinedload(Impersonation.tenant),
)


def impersonations(args: Mapping[str, str], *, now: datetime) -> dict[str, Any]:
    """A page of impersonations, newest first, filtered as the audit page filters (from, to, staff,
    tenant, user, reason); `next` is the `before` of the following page, None on the last."""
    _only(args, IMPERSONATION_FILTERS)
    filters = log.parse_filters(args)
    limit = _number(args, "limit", default=PAGE_DEFAULT, low=1, high=PAGE_MAX)
    before = _number(args, "before", default=None, low=1, high=log.MAX_SEQ)
    query = select(Impersonation).options(*_WITH_PEOPLE)
    if filters.staff_id is not None:
        query = query.where(Impersonation.staff_id == filters.staff_id)
    if filters.tenant_id is not None:
        query = query.where(Impersonation.tenant_id == filters.tenant_id)
    if filters.user_id is not None:
        query = query.where(Impersonation.user_id == filters.user_id)
    if filters.reason_code is not None:
        query = query.where(Impersonation.reason_code == filters.reason_code)
    if filters.since is not None:
        query = query.where(Impersonation.issued_at >= datetime.combine(filters.since, time(), tzinfo=UTC))
    if filters.until is not None:
        end = datetime.combine(filters.until + timedelta(days=1), time(), tzinfo=UTC)
        query = query.where(Impersonation.issued_at < end)
    if before is not None:
        query = query.where(Impersonation.id < before)
    rows = list(db.session.scalars(query.order_by(Impersonation.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": [impersonation_json(imp, now) for imp in rows],
        "next": rows[-1].id if more else None,
    }


def impersonation(impersonation_id: int, *, now: datetime) -> dict[str, Any]:
    """One impersonation with its audit events in chain order (404 when there is none)."""
    found = live_sessions.detail(impersonation_id)  # ImpersonationNotFound (404)
    return {
        **impersonation_json(found.impersonation, now),
        "events": [event_json(event) for event in found.events],
    }


def sessions(*, now: datetime) -> dict[str, Any]:
    """The live ghost sessions, soonest to end first."""
    return {
        "items": [
            {**impersonation_json(live.impersonation, now), "seconds_left": live.seconds_left}
            for live in live_sessions.active(now)
        ]
    }


def events_after(args: Mapping[str, str]) -> dict[str, Any]:
    """Audit events after the `after` cursor (0: from the start) in `seq` order, at most `limit`;
    `next` is the cursor of the following call (the last seq returned, or `after` when none)."""
    _only(args, EVENT_PARAMS)
    after = _number(args, "after", default=0, low=0, high=log.MAX_SEQ)
    limit = _number(args, "limit", default=EVENTS_DEFAULT, low=1, high=EVENTS_MAX)
    rows = db.session.execute(
        select(*log.SHOWN, AuditEvent.prev_hash, AuditEvent.hash)
        .where(AuditEvent.seq > after)
        .order_by(AuditEvent.seq)
        .limit(limit)
    ).all()
    unbroken = []
    for expected, row in enumerate(rows, start=after + 1):
        if row.seq != expected:
            break  # a gap: never step over it (see the module's docstring)
        unbroken.append(row)
    return {
        "items": [event_json(row) for row in unbroken],
        "next": unbroken[-1].seq if unbroken else after,
    }
