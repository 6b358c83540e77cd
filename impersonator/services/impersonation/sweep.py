"""The sweep: every impersonation ends on record on time, even when nobody is there to notice.

The ghost guard ends a session past its time on the ghost's next request; a browser closed before
then never makes one, and a token never redeemed never comes back at all. The sweep (run by every
outbox worker's loop, and by `flask impersonation sweep`) ends each session past its end with the
same event and reason as the guard (`impersonation.ended`, "expired"), and records each token past
its expiry as `impersonation.token_expired` (ended, "token_expired"). Approval requests nobody
answered in time, and approvals not started within their window, expire here too (`approval.expired`).

Safe on many machines at once: each end is a conditional UPDATE (`… WHERE ended_at IS NULL`), so of
two sweepers reaching one impersonation, exactly one ends and audits it; the other's UPDATE finds
nothing. Work goes in small batches, one transaction each, so a sweeper never holds many rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select, update

from impersonator.extensions import db
from impersonator.models import Impersonation
from impersonator.services import audit
from impersonator.services.approvals import closing
from impersonator.services.audit import Actor
from impersonator.services.impersonation import lifecycle

BATCH = 100
SWEEPER = Actor.system("sweeper")


@dataclass(frozen=True)
class Swept:
    sessions_ended: int = 0
    tokens_lapsed: int = 0
    approvals_expired: int = 0

    @property
    def total(self) -> int:
        return self.sessions_ended + self.tokens_lapsed + self.approvals_expired


def sweep(now: datetime) -> Swept:
    """End every session past its end and record every lapsed token, as of `now`; returns what this
    call did (another sweeper may have done the rest)."""
    sessions_ended = tokens_lapsed = 0
    while batch := _overdue(now):
        for imp in batch:
            if imp.redeemed_at is not None:
                sessions_ended += lifecycle.end_in_transaction(imp, "expired", SWEEPER, ip=None, now=now)
            else:
                tokens_lapsed += _record_lapse(imp, now)
        db.session.commit()
        if len(batch) < BATCH:
            break
    approvals_expired = 0
    while True:
        found, expired = closing.expire_due(now, SWEEPER, limit=BATCH)
        db.session.commit()
        approvals_expired += expired
        if found < BATCH:
            break
    return Swept(sessions_ended, tokens_lapsed, approvals_expired)


def _overdue(now: datetime) -> list[Impersonation]:
    past_end = and_(Impersonation.redeemed_at.is_not(None), Impersonation.expires_at <= now)
    lapsed = and_(Impersonation.redeemed_at.is_(None), Impersonation.token_expires_at <= now)
    query = (
        select(Impersonation)
        .where(Impersonation.ended_at.is_(None), or_(past_end, lapsed))
        .order_by(Impersonation.id)
        .limit(BATCH)
    )
    return list(db.session.scalars(query))


def _record_lapse(imp: Impersonation, now: datetime) -> bool:
    """Mark a never-redeemed token as lapsed, at most once; audited once."""
    result = db.session.execute(
        update(Impersonation)
        .where(Impersonation.id == imp.id, Impersonation.ended_at.is_(None))
        .where(Impersonation.redeemed_at.is_(None))
        .values(ended_at=now, end_reason="token_expired")
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    audit.about_user(
        "impersonation.token_expired",
        user_id=imp.user_id,
        tenant_id=imp.tenant_id,
        actor=SWEEPER,
        at=now,
        details={"impersonation_id": imp.id, "token_expired_at": imp.token_expires_at.isoformat()},
    )
    return True
