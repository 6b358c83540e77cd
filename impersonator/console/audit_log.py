"""The audit log (security and admin roles): filters, keyset pages, chart, chain state, export."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from flask import Blueprint, Response, current_app, render_template, request, stream_with_context, url_for
from flask_login import current_user
from markupsafe import Markup

from impersonator import clock
from impersonator.console.access import requires
from impersonator.services.audit import Actor, chain, log
from impersonator.services.audit import chart as audit_chart
from impersonator.services.audit import export as audit_export
from impersonator.services.errors import InvalidInput
from impersonator.services.impersonation import reveals
from impersonator.services.staff.roles import Permission
from impersonator.web import client_ip

bp = Blueprint("audit_log", __name__, url_prefix="/audit")
T = TypeVar("T")


@bp.get("/")
@requires(Permission.AUDIT)
def index():
    now = clock.now()
    try:
        filters = log.parse_filters(request.args)
        page = log.page(filters, log.parse_cursor(request.args))
    except InvalidInput as refused:
        return _render(now, error=refused.message), refused.status
    return _render(now, filters=filters, page=page)


def _render(now: datetime, *, error: str | None = None, filters=None, page=None):
    choices = _choices(now, filters)
    # A filter typed rather than picked shows whom it names by address or slug, not by id.
    typed = log.typed(filters, staff=choices.staff is None, tenant=choices.tenants is None) if filters else {}
    return render_template(
        "console/audit/audit_log.html",
        args=request.args,
        error=error,
        filters=filters,
        page=page,
        choices=choices,
        typed=typed,
        chart_html=_kept("chart", now, lambda: _draw_chart(now)),
        reveals_30_days=_kept("reveals", now, lambda: reveals.last_days(now, audit_chart.DAYS)),
        links=_links(),
        checkpoint=chain.latest_checkpoint(),
        now=now,
    )


KEEP_SECONDS = 60


def _kept(
    name: str, now: datetime, compute: Callable[[], T], *, stale: Callable[[T], bool] | None = None
) -> T:
    """`compute()`, kept by this process for KEEP_SECONDS of the same UTC day. Every request of the
    audit page would otherwise count thirty days of impersonations and list staff and tenants again;
    one store per app, so each test's app starts empty."""
    store = current_app.extensions.setdefault("impersonator.audit_log_kept", {})
    kept = store.get(name)
    fresh = (
        kept is not None
        and kept[0].date() == now.date()
        and timedelta(0) <= now - kept[0] < timedelta(seconds=KEEP_SECONDS)
        and not (stale and stale(kept[1]))
    )
    if not fresh:
        kept = store[name] = (now, compute())
    return kept[1]


def _draw_chart(now: datetime) -> Markup:
    chart = audit_chart.impersonations_per_day(now)
    return Markup(render_template("console/audit/_audit_chart.html", chart=chart))  # noqa: S704  (rendered, escaped)


def _choices(now: datetime, filters: log.Filters | None) -> log.Choices:
    """The filter form's choices; a staff member or tenant the filters name but the kept list lacks
    (one added in the last minute) has it listed afresh."""

    def lacks_chosen(choices: log.Choices) -> bool:
        if filters is None:
            return False
        return _lacks(choices.staff, filters.staff_id) or _lacks(choices.tenants, filters.tenant_id)

    return _kept("choices", now, log.choices, stale=lacks_chosen)


def _lacks(listed: list[tuple] | None, chosen: int | None) -> bool:
    """Does a list of (id, …) miss the chosen id? (None: too many to list, nothing to miss.)"""
    return listed is not None and chosen is not None and all(row[0] != chosen for row in listed)


def _links() -> dict[str, str]:
    """Address prefixes for the table's links: building three addresses per row with url_for would
    cost more than the query that found the rows."""
    return {
        "staff": url_for("audit_log.index") + "?staff=",
        "user": url_for("users.show", user_id=0).removesuffix("0"),
        "impersonation": url_for("impersonation_detail.show", impersonation_id=0).removesuffix("0"),
    }


@bp.get("/export")
@requires(Permission.AUDIT)
def export():
    now = clock.now()
    try:
        filters = log.parse_filters(request.args)
        fmt = audit_export.parse_format(request.args.get("format"))
    except InvalidInput as refused:
        return _render(now, error=refused.message), refused.status
    below = audit_export.start(filters, fmt, actor=Actor.staff(current_user), ip=client_ip(), now=now)
    rows = audit_export.events(filters, below=below)
    lines = audit_export.as_csv(rows) if fmt == "csv" else audit_export.as_jsonl(rows)
    filename = f"audit-log-{now.strftime('%Y%m%d-%H%M%S')}.{fmt}"
    return Response(
        stream_with_context(lines),
        content_type=audit_export.FORMATS[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
