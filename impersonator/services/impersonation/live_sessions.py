"""Impersonations as the security team sees them: the live ghost sessions,
*Terminate*, and one impersonation in full.

A terminated session ends in the database at once; the ghost guard checks that on every tenant
request (DESIGN I4), so the ghost's very next click is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from impersonator.extensions import db
from impersonator.models import AuditEvent, GhostRequest, Impersonation, Notification, Staff
from impersonator.services.audit import Actor, log
from impersonator.services.errors import InvalidInput
from impersonator.services.impersonation import lifecycle, reveals
from impersonator.services.impersonation.reveals import Reveal
from impersonator.services.validation import clean_text

NOTE_MAX_CHARS = 500  # Impersonation.end_note


class ImpersonationNotFound(InvalidInput):
    status = 404

    def __init__(self) -> None:
        super().__init__("impersonation_not_found", "There is no such impersonation.")


@dataclass(frozen=True)
class LiveSession:
    """An active impersonation and how long it has left."""

    impersonation: Impersonation
    seconds_left: int

    @property
    def minutes_left(self) -> int:
        return (self.seconds_left + 59) // 60


@dataclass(frozen=True)
class Termination:
    """What *Terminate* did: ended the session now, or found it had already ended."""

    ended: bool
    impersonation: Impersonation


def active(now: datetime) -> list[LiveSession]:
    """Every redeemed impersonation that has neither ended nor run out, soonest to end first."""
    rows = db.session.scalars(
        select(Impersonation)
        .options(
            joinedload(Impersonation.staff), joinedload(Impersonation.user), joinedload(Impersonation.tenant)
        )
        .where(
            Impersonation.redeemed_at.is_not(None),
            Impersonation.ended_at.is_(None),
            Impersonation.expires_at > now,
        )
        .order_by(Impersonation.expires_at, Impersonation.id)
    )
    return [LiveSession(imp, int((imp.expires_at - now).total_seconds())) for imp in rows]


def terminate(
    impersonation_id: int, *, reason: str | None, officer: Staff, ip: str | None, now: datetime
) -> Termination:
    """End an impersonation for the security team, with the officer's reason kept as its end note.
    Ending is audited once: a session that had already ended is left as it was."""
    return terminate_as(impersonation_id, reason=reason, actor=Actor.staff(officer), ip=ip, now=now)


def terminate_as(
    impersonation_id: int, *, reason: str | None, actor: Actor, ip: str | None, now: datetime
) -> Termination:
    """`terminate` for any actor the trail names (a security officer, an API key)."""
    note = clean_text(reason, "Reason", max_length=NOTE_MAX_CHARS)
    imp = db.session.get(Impersonation, impersonation_id)
    if imp is None:
        raise ImpersonationNotFound()
    if imp.state(now) not in ("issued", "active"):
        return Termination(False, imp)  # over already (ended, or ran out): nothing to end
    ended = lifecycle.end(
        impersonation_id,
        reason="security_terminated",
        actor=actor,
        ip=ip,
        now=now,
        note=note,
    )
    db.session.refresh(imp)
    return Termination(ended, imp)


# --- one impersonation in full -----------------------------------------------------------------

GHOST_REQUESTS_SHOWN = 1000


@dataclass(frozen=True)
class Detail:
    """Everything known about one impersonation."""

    impersonation: Impersonation
    ghost_requests: list[GhostRequest]
    ghost_requests_total: int
    held_back: list[Notification]
    events: list[AuditEvent]
    people: log.People  # the names of the events' staff members and customers
    reveals: list[Reveal]  # masked values the ghost revealed, with its reasons (DESIGN §13)

    @property
    def ip_mismatch(self) -> bool:
        """Issued from one address and redeemed from another: worth a look."""
        imp = self.impersonation
        return imp.redeemed_at is not None and imp.issue_ip != imp.redeem_ip

    @property
    def user_agent_mismatch(self) -> bool:
        imp = self.impersonation
        return imp.redeemed_at is not None and imp.issue_user_agent != imp.redeem_user_agent


def detail(impersonation_id: int) -> Detail:
    """The impersonation, its ghost request log, the notifications held back and its audit events."""
    imp = db.session.scalar(
        select(Impersonation)
        .options(
            joinedload(Impersonation.staff), joinedload(Impersonation.user), joinedload(Impersonation.tenant)
        )
        .where(Impersonation.id == impersonation_id)
    )
    if imp is None:
        raise ImpersonationNotFound()
    requests = list(
        db.session.scalars(
            select(GhostRequest)
            .where(GhostRequest.impersonation_id == imp.id)
            .order_by(GhostRequest.id)
            .limit(GHOST_REQUESTS_SHOWN)
        )
    )
    total = len(requests)
    if total == GHOST_REQUESTS_SHOWN:
        total = db.session.scalar(
            select(func.count()).select_from(GhostRequest).where(GhostRequest.impersonation_id == imp.id)
        )
    held_back = list(
        db.session.scalars(
            select(Notification)
            .where(Notification.impersonation_id == imp.id, Notification.status == "suppressed")
            .order_by(Notification.id)
        )
    )
    events = list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.impersonation_id == imp.id).order_by(AuditEvent.seq)
        )
    )
    revealed = reveals.for_impersonations([imp.id]).get(imp.id, [])
    return Detail(imp, requests, total, held_back, events, log.people(events), revealed)
