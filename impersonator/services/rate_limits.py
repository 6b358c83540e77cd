"""Request rates: how many requests a staff member or a client address may make within a
window, whatever process or machine serves them.

`throttle.py` counts failures and locks; this counts every request of a limited kind, successes
included, so a signed-in account cannot enumerate users by searching, loop impersonation requests,
or flood the redemption address (each refused redemption is an audit event).

Each limit has one or more tiers ("60/minute;600/hour", config.RATE_LIMIT_SETTINGS). A tier is a
fixed window aligned on the epoch, counted in one `rate_count` row per key by one upsert that adds
one and returns the count (`INSERT … ON CONFLICT DO UPDATE … RETURNING`): atomic on both databases,
so however many requests arrive at once, exactly `count` of a window get through, and exactly one
sees `count + 1`: that one records the `rate_limit.exceeded` audit event, once per window and tier.
Refused requests are counted too, as Flask-Limiter's fixed window does. A fixed window lets up to
twice a tier's count through around a boundary; a sliding estimate would say "try again" less
exactly, and the limits are far above what a person does.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from flask import current_app
from sqlalchemy import case, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from config import rate_limit_tiers
from impersonator.extensions import db
from impersonator.logs import database_problem
from impersonator.models import RateCount, Staff
from impersonator.services import audit
from impersonator.services.audit import Actor
from impersonator.services.errors import DomainError, Locked
from impersonator.services.impersonation.ghost import Ghost
from impersonator.services.keys import derived_key

log = logging.getLogger("impersonator.rate_limits")

# Each limit's name (audited, and part of its counters' keys) and the setting that configures it.
LIMITS = {
    "search": "SEARCH_RATE_LIMIT",
    "impersonation_request": "IMPERSONATION_RATE_LIMIT",
    "redeem": "REDEEM_RATE_LIMIT",
    "sign_in": "SIGN_IN_RATE_LIMIT",
    "api": "API_RATE_LIMIT",
    "reveal": "REVEAL_RATE_LIMIT",
}
# A key's row is reused by its next window; one unused for this long belongs to a key that stopped
# coming, and is deleted (an update costs less than a delete and an insert, so live keys are left).
SWEEP_AFTER = timedelta(hours=1)
SWEEP_BATCH = 500
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Tier:
    """At most `count` requests per fixed window of `seconds`."""

    count: int
    seconds: int

    def window_end(self, now: datetime) -> datetime:
        elapsed = int((now - _EPOCH).total_seconds())
        return _EPOCH + timedelta(seconds=elapsed - elapsed % self.seconds + self.seconds)

    def __str__(self) -> str:
        return f"{self.count}/{self.seconds}s"  # as the audit event names it


@dataclass(frozen=True)
class Subject:
    """Who is counted: `key` names them in the counters; the rest is what the audit event says."""

    key: str
    actor: Actor
    ip: str | None
    staff_id: int | None = None
    tenant_id: int | None = None


def staff_member(staff: Staff, *, ip: str | None) -> Subject:
    """A signed-in staff member, wherever they come from."""
    return Subject(f"staff:{staff.id}", Actor.staff(staff), ip, staff_id=staff.id)


def impersonator(ghost: Ghost, *, ip: str | None, tenant_id: int) -> Subject:
    """The staff member behind a ghost session, counted as in the console (the same key)."""
    return Subject(f"staff:{ghost.staff_id}", ghost.actor, ip, staff_id=ghost.staff_id, tenant_id=tenant_id)


def client_address(ip: str | None, *, tenant_id: int | None = None) -> Subject:
    """A client address (on one tenant's domains, if given). Keyed: the table is no list of addresses."""
    digest = hmac.new(derived_key("rate-limits"), (ip or "unknown").encode(), hashlib.sha256).hexdigest()
    scope = f"tenant:{tenant_id}:" if tenant_id is not None else ""
    return Subject(f"{scope}ip:{digest[:40]}", Actor.anonymous(), ip, tenant_id=tenant_id)


class RateLimited(Locked):
    """Too many requests of one kind: refused until `until`, the end of the window that overflowed."""

    def __init__(self, limit: str, until: datetime, now: datetime) -> None:
        self.until = until
        wait = self.retry_after(now)
        if wait < 120:
            when = f"in {wait} seconds"
        else:
            # Rounded up to the minute, as a lock's time is; a day or more away, with its date.
            shown = until + timedelta(seconds=59)
            when = "after " + shown.strftime("%H:%M UTC" if wait < 20 * 3600 else "%Y-%m-%d %H:%M UTC")
        DomainError.__init__(self, "rate_limited", f"Too many requests in a short time. Try again {when}.")
        self.limit = limit


def tiers(limit: str) -> tuple[Tier, ...]:
    """The configured tiers of `limit` (none when it is off)."""
    return _parsed(LIMITS[limit], current_app.config[LIMITS[limit]])


@lru_cache(maxsize=32)
def _parsed(setting: str, text: str | None) -> tuple[Tier, ...]:
    return tuple(Tier(count, seconds) for count, seconds in rate_limit_tiers(setting, text))


def check(limit: str, subject: Subject, *, now: datetime) -> None:
    """Count one request of `subject` against `limit`; raise RateLimited when a tier is over.

    Call it before the request's own work, which must not happen when this raises. The count is
    its own short step (committed at once), so the per-key row is never held while the view works,
    and it is written before any audit event, whose chain head is always locked last."""
    limit_tiers = tiers(limit)
    if not limit_tiers:
        return
    counted = _count({f"{limit}:{tier.seconds}:{subject.key}": tier for tier in limit_tiers}, now)
    over = [(tier, count, end) for tier, count, end in counted if count > tier.count]
    if not over:
        return
    first = [tier for tier, count, _ in over if count == tier.count + 1]
    until = max(end for _, _, end in over)
    if first:
        _record_burst(limit, subject, first, until=until, now=now)
    raise RateLimited(limit, until, now)


def _count(keys: dict[str, Tier], now: datetime) -> list[tuple[Tier, int, datetime]]:
    """Add one to each key's count in its current window (one statement for every tier); returns
    (tier, count, window end) per key. A key whose window is new also sweeps stale rows."""
    bind = db.session.get_bind()
    dialect = postgresql if bind.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(RateCount).values(
        [{"key": key, "window_end": tier.window_end(now), "count": 1} for key, tier in keys.items()]
    )
    # A row from an older window restarts at 1. One from a later window (another machine's clock
    # is ahead) keeps counting: a window never moves backwards.
    same_or_later = RateCount.window_end >= insert.excluded.window_end
    upsert = insert.on_conflict_do_update(
        index_elements=["key"],
        set_={
            "count": case((same_or_later, RateCount.count + 1), else_=1),
            "window_end": case((same_or_later, RateCount.window_end), else_=insert.excluded.window_end),
        },
    ).returning(RateCount.key, RateCount.count, RateCount.window_end)
    if dialect is postgresql:
        # One round trip, outside the request's transaction: the row is locked for one statement.
        # (It borrows a second pooled connection for that statement: a worker's threads must stay
        # below the pool's size, as they must anyway.)
        with bind.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            rows = [tuple(row) for row in connection.execute(upsert)]
            if any(count == 1 for _, count, _ in rows):
                connection.execute(_sweep(now))
    else:
        # SQLite: every transaction holds the one write lock, so a second connection would wait on
        # this request's own; the request's session counts, and commits at once.
        rows = [tuple(row) for row in db.session.execute(upsert)]
        if any(count == 1 for _, count, _ in rows):
            db.session.execute(_sweep(now))
        db.session.commit()
    return [(keys[key], count, window_end) for key, count, window_end in rows]


def _sweep(now: datetime):
    """Delete a batch of rows of keys that stopped coming; rows another request holds are skipped
    (PostgreSQL's SKIP LOCKED), so a sweep never waits and two sweeps never deadlock."""
    stale = (
        select(RateCount.key)
        .where(RateCount.window_end < now - SWEEP_AFTER)
        .limit(SWEEP_BATCH)
        .with_for_update(skip_locked=True)
    )
    return delete(RateCount).where(RateCount.key.in_(stale))


def _record_burst(limit: str, subject: Subject, first: list[Tier], *, until: datetime, now: datetime) -> None:
    """The one audit event of a burst: written by the request that overflowed a tier's window
    first. The refusal stands if the database fails meanwhile; one log line says so."""
    try:
        audit.record(
            "rate_limit.exceeded",
            actor=subject.actor,
            at=now,
            ip=subject.ip,
            outcome="denied",
            target_type="staff" if subject.staff_id is not None else None,
            target_id=subject.staff_id,
            tenant_id=subject.tenant_id,
            details={
                "limit": limit,
                "rate": ";".join(str(tier) for tier in first),
                "until": until.isoformat(),
            },
        )
        db.session.commit()
    except SQLAlchemyError as error:
        log.error("rate limit refusal not recorded: %s", database_problem(error))
        try:
            db.session.rollback()
        except SQLAlchemyError:
            db.session.close()
