"""Times on console pages, in one style: the viewer's time zone where known, the UTC value on hover.

Nothing records a staff member's time zone yet, so every page shows UTC and says so once
(`zone_note`); a zone kept on the staff record would be returned by `viewer_zone` and change
every page at once.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from markupsafe import Markup, escape

STYLE = "%Y-%m-%d %H:%M:%S"
UTC_STYLE = STYLE + " UTC"


def viewer_zone() -> tzinfo:
    """The signed-in staff member's time zone; UTC while nothing knows it."""
    return UTC


def zone_note() -> str:
    """The one sentence of a page that says which time zone its times are in."""
    zone = viewer_zone()
    return "Times are in UTC." if zone is UTC else f"Times are in {zone}; hover a time for UTC."


def when(moment: datetime | None, *, empty: str = "—") -> Markup:
    """`<time datetime="…UTC…" title="… UTC">…</time>`, or `empty` for no moment."""
    if moment is None:
        return escape(empty)
    utc = moment.astimezone(UTC)
    shown = utc.astimezone(viewer_zone()).strftime(STYLE)
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        utc.isoformat().replace("+00:00", "Z"), utc.strftime(UTC_STYLE), shown
    )
