"""The customer's access history (DESIGN §9): every session support had in my account,
newest first, with who, when, why, mode, how long, how it ended and what was done; and *Revoke now*.

"What was done" comes from the ghost session's request log (ghost.py): pages viewed are successful
GETs, changes made are successful other requests (ending the session is not a change to the
account), refused attempts are requests answered with an error; notifications held back are the
customer's notifications suppressed during that session (DESIGN I7). Requests for files (the
stylesheet, the banner's script, the browser's favicon request) are not pages: the log leaves them
out (ghost.is_page), and rows recorded before it did are left out here. Masked values support
revealed (DESIGN §13) are listed with the reason given; a reveal is not a change to the account.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, func, select

from impersonator.extensions import db
from impersonator.models import GhostRequest, Impersonation, Notification, Staff, User
from impersonator.services import links, wording
from impersonator.services.audit import Actor
from impersonator.services.errors import DomainError
from impersonator.services.impersonation import lifecycle, reveals
from impersonator.services.impersonation.ghost import NOT_PAGES, STATIC_PREFIX
from impersonator.services.impersonation.reveals import Reveal

HISTORY_LIMIT = 50  # sessions on the page
TRAIL_LIMIT = 200  # requests shown per session (the counts cover all of them)
SAFE_METHODS = ("GET", "HEAD")
MAX_ID = 2**31 - 1  # impersonation.id is a 32-bit integer on PostgreSQL

# How a session ended, and its mode, in the customer's words (services/wording.py).
END_TEXT = wording.for_audience(wording.END_REASONS, "customer")
MODE_TEXT = wording.for_audience(wording.MODES, "customer")


class SessionNotFound(DomainError):
    status = 404

    def __init__(self) -> None:
        super().__init__("impersonation_not_found", "There is no such support session in your history.")


@dataclass(frozen=True)
class Step:
    """One request of the session, as the trail shows it."""

    at: datetime
    method: str
    path: str
    status: int

    @property
    def kind(self) -> str:
        """viewed | changed | refused | ended | revealed."""
        if self.status >= 400:
            return "refused"
        if self.path == _end_path():
            return "ended"
        if self.path == _reveal_path():
            return "revealed"
        return "viewed" if self.method in SAFE_METHODS else "changed"


@dataclass(frozen=True)
class Entry:
    """One support session in my account."""

    impersonation_id: int
    started_at: datetime
    staff_name: str
    justification: str | None  # None when the tenant hides it
    ticket: str | None
    reason_code: str | None  # a category, shown even where the text is hidden (None: older rows)
    break_glass: bool
    mode: str
    mode_text: str
    chosen_minutes: int
    active: bool
    ends_at: datetime
    ended_at: datetime | None
    end_text: str | None
    actual: timedelta
    pages_viewed: int = 0
    changes_made: int = 0
    refused: int = 0
    held_back: int = 0
    trail: list[Step] = field(default_factory=list)
    trail_total: int = 0
    reveals: list[Reveal] = field(default_factory=list)

    @property
    def actual_text(self) -> str:
        """`under a minute`, `1 minute`, `42 minutes`."""
        whole = int(self.actual.total_seconds()) // 60
        if whole < 1:
            return "under a minute"
        return "1 minute" if whole == 1 else f"{whole} minutes"


def for_user(user: User, now: datetime, *, limit: int = HISTORY_LIMIT) -> list[Entry]:
    """Every session support had in the user's account (redeemed impersonations), newest first."""
    rows = db.session.execute(
        select(Impersonation, Staff.name)
        .join(Staff, Staff.id == Impersonation.staff_id)
        .where(
            Impersonation.user_id == user.id,
            Impersonation.tenant_id == user.tenant_id,
            Impersonation.redeemed_at.is_not(None),
        )
        .order_by(Impersonation.redeemed_at.desc(), Impersonation.id.desc())
        .limit(limit)
    ).all()
    if not rows:
        return []
    ids = [imp.id for imp, _ in rows]
    counts = _request_counts(ids)
    held_back = _held_back(ids)
    trails = _trails(ids)
    revealed = reveals.for_impersonations(ids)
    show_reason = not user.tenant.hide_justification
    return [
        _entry(
            imp,
            staff_name,
            now,
            show_reason,
            counts.get(imp.id, {}),
            held_back.get(imp.id, 0),
            trails,
            revealed,
        )
        for imp, staff_name in rows
    ]


def _entry(
    imp: Impersonation,
    staff_name: str,
    now: datetime,
    show_reason: bool,
    counts: dict[str, int],
    held_back: int,
    trails: dict[int, list[Step]],
    revealed: dict[int, list[Reveal]],
) -> Entry:
    active = imp.state(now) == "active"
    ends_at = imp.expires_at or imp.redeemed_at
    finished = imp.ended_at or min(now, ends_at)
    end_text = None
    if not active:
        # Past its limit with nobody there to notice: it ended at the limit, by itself.
        end_text = END_TEXT.get(imp.end_reason or "expired", "ended")
    return Entry(
        impersonation_id=imp.id,
        started_at=imp.redeemed_at,
        staff_name=staff_name,
        justification=imp.reason if show_reason else None,
        ticket=imp.ticket if show_reason else None,
        reason_code=imp.reason_code,
        break_glass=imp.break_glass,
        mode=imp.mode,
        mode_text=MODE_TEXT.get(imp.mode, imp.mode),
        chosen_minutes=imp.duration_minutes,
        active=active,
        ends_at=ends_at,
        ended_at=imp.ended_at or (None if active else ends_at),
        end_text=end_text,
        actual=max(finished - imp.redeemed_at, timedelta(0)),
        pages_viewed=counts.get("viewed", 0),
        changes_made=counts.get("changed", 0),
        refused=counts.get("refused", 0),
        held_back=held_back,
        trail=trails.get(imp.id, []),
        trail_total=counts.get("total", 0),
        reveals=revealed.get(imp.id, []),
    )


def _request_counts(ids: list[int]) -> dict[int, dict[str, int]]:
    """Per session: requests viewed / changed / refused, and the total, in one grouped query."""
    refused = GhostRequest.status >= 400
    safe = GhostRequest.method.in_(SAFE_METHODS)
    kind = case(
        (refused, "refused"),
        (GhostRequest.path == _end_path(), "ended"),
        (GhostRequest.path == _reveal_path(), "revealed"),
        (safe, "viewed"),
        else_="changed",
    )
    rows = db.session.execute(
        select(GhostRequest.impersonation_id, kind, func.count())
        .where(GhostRequest.impersonation_id.in_(ids), _not_static())
        .group_by(GhostRequest.impersonation_id, kind)
    )
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for impersonation_id, name, number in rows:
        counts[impersonation_id][name] = number
        counts[impersonation_id]["total"] = counts[impersonation_id].get("total", 0) + number
    return counts


def _not_static():
    """Pages only: no file requests (ghost.is_page, in SQL)."""
    return GhostRequest.path.not_like(f"{STATIC_PREFIX}%") & GhostRequest.path.not_in(sorted(NOT_PAGES))


def _held_back(ids: list[int]) -> dict[int, int]:
    rows = db.session.execute(
        select(Notification.impersonation_id, func.count())
        .where(Notification.impersonation_id.in_(ids), Notification.status == "suppressed")
        .group_by(Notification.impersonation_id)
    )
    return {impersonation_id: number for impersonation_id, number in rows}


def _trails(ids: list[int]) -> dict[int, list[Step]]:
    """The first TRAIL_LIMIT requests of each session, in order (one query, a window function)."""
    number = (
        func.row_number()
        .over(partition_by=GhostRequest.impersonation_id, order_by=GhostRequest.id)
        .label("n")
    )
    ranked = (
        select(
            GhostRequest.impersonation_id,
            GhostRequest.id,
            GhostRequest.at,
            GhostRequest.method,
            GhostRequest.path,
            GhostRequest.status,
            number,
        )
        .where(GhostRequest.impersonation_id.in_(ids), _not_static())
        .subquery()
    )
    rows = db.session.execute(
        select(ranked.c.impersonation_id, ranked.c.at, ranked.c.method, ranked.c.path, ranked.c.status)
        .where(ranked.c.n <= TRAIL_LIMIT)
        .order_by(ranked.c.impersonation_id, ranked.c.id)
    )
    trails: dict[int, list[Step]] = defaultdict(list)
    for impersonation_id, at, method, path, status in rows:
        trails[impersonation_id].append(Step(at, method, path, status))
    return trails


def revoke(user: User, impersonation_id: int, *, ip: str | None, now: datetime) -> bool:
    """*Revoke now*: end a live session in the user's own account at once (audited `user_revoked`,
    the customer as actor); the ghost's next request is refused. False when it had ended already."""
    if not 0 < impersonation_id <= MAX_ID:  # an address no row can have (and no database error)
        raise SessionNotFound()
    imp = db.session.get(Impersonation, impersonation_id)
    if imp is None or imp.user_id != user.id or imp.tenant_id != user.tenant_id or imp.redeemed_at is None:
        raise SessionNotFound()
    if imp.state(now) != "active":
        return False
    return lifecycle.end(imp.id, reason="user_revoked", actor=Actor.customer(user), ip=ip, now=now)


def _end_path() -> str:
    """The banner's End: closes the session, changes nothing."""
    return links.tenant_path("impersonation.end")


def _reveal_path() -> str:
    """A reveal of a masked value: listed with its reason, changes nothing."""
    return links.tenant_path("masking.reveal")
