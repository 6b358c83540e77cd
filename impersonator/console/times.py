"""Times on console pages, in one style: the viewer's time zone where known, the UTC value on hover.

The server writes every time in UTC (`when`), as `<time datetime="…Z" title="… UTC">`, and each page
says so once (`zone_note`). Nothing records a staff member's time zone, but their browser knows it:
static/js/local-times.js (a file, as the CSP allows no inline script) rewrites each `<time>`'s text to
the browser's zone in the same style, keeps the UTC value in its title, and rewrites the note. Without
JavaScript the page stays in UTC and says so.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from markupsafe import Markup, escape

STYLE = "%Y-%m-%d %H:%M:%S"
UTC_STYLE = STYLE + " UTC"


def viewer_zone() -> tzinfo:
    """The zone the server writes times in: UTC (the browser moves them to its own zone)."""
    return UTC


def zone_note() -> Markup:
    """The one sentence of a page that says which time zone its times are in (local-times.js
    rewrites it when it moves the page's times to the browser's zone)."""
    zone = viewer_zone()
    text = "Times are in UTC." if zone is UTC else f"Times are in {zone}; hover a time for UTC."
    return Markup("<span data-zone-note>{}</span>").format(text)


def when(moment: datetime | None, *, empty: str = "—") -> Markup:
    """`<time datetime="…UTC…" title="… UTC">…</time>`, or `empty` for no moment."""
    if moment is None:
        return escape(empty)
    utc = moment.astimezone(UTC)
    shown = utc.astimezone(viewer_zone()).strftime(STYLE)
    return Markup('<time datetime="{}" title="{}">{}</time>').format(
        utc.isoformat().replace("+00:00", "Z"), utc.strftime(UTC_STYLE), shown
    )
