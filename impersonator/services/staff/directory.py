"""The staff list as the admin pages read it: active first, then by name, in pages of 50, optionally
narrowed to the members whose name or email contains what the admin typed. A console with a
thousand members should not need twenty pages of scrolling to find one."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, false, func, or_, select, true

from impersonator.extensions import db
from impersonator.models import Staff
from impersonator.services.validation import clean_text

# The staff list's order: active first, then by name; the id settles equal names.
_LIST_ORDER = (Staff.active.desc(), Staff.name, Staff.id)
STAFF_PER_PAGE = 50
FILTER_MAX_CHARS = 100


@dataclass(frozen=True)
class StaffPage:
    """One page of the staff list (numbered from 1), how many pages and members there are, and the
    filter it was narrowed by ("" for everyone)."""

    members: list[Staff]
    number: int
    pages: int
    total: int
    matching: str = ""


def clean_filter(text: str | None) -> str:
    """What the admin typed to find a member: trimmed, NFC; refused when too long or unreadable."""
    return clean_text(text, "“Find a member”", max_length=FILTER_MAX_CHARS, required=False)


def list_staff() -> list[Staff]:
    """Every staff member, active first, then by name."""
    return list(db.session.scalars(select(Staff).order_by(*_LIST_ORDER)))


def staff_page(number: int, *, matching: str = "", per_page: int = STAFF_PER_PAGE) -> StaffPage:
    """Page `number` of the staff list, of the members `matching` finds; a number past the end gives
    the last page, since members move between pages as they are disabled or renamed."""
    found = _found(matching)
    total = db.session.scalar(select(func.count()).select_from(Staff).where(found)) or 0
    pages = max(1, -(-total // per_page))
    number = min(max(number, 1), pages)
    query = select(Staff).where(found).order_by(*_LIST_ORDER).offset((number - 1) * per_page).limit(per_page)
    return StaffPage(list(db.session.scalars(query)), number, pages, total, matching)


def page_of(staff: Staff, *, matching: str = "", per_page: int = STAFF_PER_PAGE) -> int:
    """The page that shows `staff` now, in the list narrowed by `matching`: an action on a member
    returns there."""
    same_state_ahead = and_(
        Staff.active.is_(staff.active),
        or_(Staff.name < staff.name, and_(Staff.name == staff.name, Staff.id < staff.id)),
    )
    active_ahead = Staff.active.is_(True) if not staff.active else false()
    ahead = select(func.count()).where(_found(matching), or_(active_ahead, same_state_ahead))
    return (db.session.scalar(ahead) or 0) // per_page + 1


def _found(matching: str) -> ColumnElement[bool]:
    """Name or email contains `matching`, ignoring case; `%` and `_` are plain characters. Case is
    folded by the database: ASCII letters only on SQLite, every letter on PostgreSQL."""
    if not matching:
        return true()
    return or_(
        Staff.name.icontains(matching, autoescape=True), Staff.email.icontains(matching, autoescape=True)
    )
