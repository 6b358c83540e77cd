"""Impersonations per day by outcome, the last 30 days, as a bar chart drawn on the server.

The service counts and lays the bars out in plain numbers; the template draws them as an inline
<svg> (Jinja escapes every text in it), with no JavaScript. The count reads only the actions it
needs through the (action, seq) index, from a `seq` window found on the `at` index (seq_bounds.py),
and groups them by day in the database. Thirty days of a busy log are still thousands of events, so
the audit page keeps the drawing a minute (console/audit_log.py): its events are always live, the
overview above them at most a minute old.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select

from impersonator.extensions import db
from impersonator.models import AuditEvent
from impersonator.services.audit import seq_bounds

DAYS = 30
# (action, key, legend), stacked bottom to top in this order.
SERIES = (
    ("impersonation.started", "started", "Started"),
    ("impersonation.denied", "denied", "Denied"),
    ("impersonation.redeem_failed", "redeem_failed", "Redemption failed"),
)
# The drawing, in SVG user units: wide and low (issue 13: 720 by 180 took half a screen for one bar),
# with room above the bars for each day's total.
WIDTH, HEIGHT = 720, 140
LEFT, RIGHT, TOP, BOTTOM = 36, 8, 16, 22


@dataclass(frozen=True)
class Bar:
    """One outcome's part of one day's stack."""

    key: str
    x: float
    y: float
    width: float
    height: float
    count: int
    label: str


@dataclass(frozen=True)
class Tick:
    y: float
    value: int


@dataclass(frozen=True)
class DayLabel:
    x: float
    text: str


@dataclass(frozen=True)
class ValueLabel:
    """A day's total, written above its stack."""

    x: float
    y: float
    text: str


@dataclass
class Chart:
    """Counts per day and per outcome, with the geometry of the bars."""

    days: list[date]
    counts: dict[str, list[int]]
    bars: list[Bar]
    ticks: list[Tick]
    day_labels: list[DayLabel]
    value_labels: list[ValueLabel]
    width: int = WIDTH
    height: int = HEIGHT
    plot_left: int = LEFT
    plot_right: int = WIDTH - RIGHT
    plot_bottom: int = HEIGHT - BOTTOM
    series: tuple[tuple[str, str, str], ...] = SERIES

    @property
    def totals(self) -> dict[str, int]:
        return {key: sum(values) for key, values in self.counts.items()}

    @property
    def empty(self) -> bool:
        return not any(self.totals.values())

    @property
    def active_days(self) -> list[tuple[date, dict[str, int]]]:
        """The days with anything to count, newest first, each with its counts by outcome."""
        rows = []
        for n, day in enumerate(self.days):
            counts = {key: values[n] for key, values in self.counts.items()}
            if any(counts.values()):
                rows.append((day, counts))
        return rows[::-1]


def impersonations_per_day(now: datetime, *, days: int = DAYS) -> Chart:
    """The last `days` UTC days up to today, each with its started, denied and failed redemptions."""
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, time(), tzinfo=UTC)
    day = func.date(AuditEvent.at)  # `at` is stored as UTC: its date is the UTC day on both databases
    query = (
        select(AuditEvent.action, day, func.count())
        .where(AuditEvent.action.in_([action for action, _, _ in SERIES]), AuditEvent.at >= start)
        .group_by(AuditEvent.action, day)
    )
    query = query.where(*seq_bounds.since(start))
    tally = {(action, _as_date(value)): count for action, value, count in db.session.execute(query)}
    day_list = [first + timedelta(days=n) for n in range(days)]
    counts = {key: [tally.get((action, day), 0) for day in day_list] for action, key, _ in SERIES}
    return _layout(day_list, counts)


def _as_date(value: date | str) -> date:
    """SQLite's date() is text, PostgreSQL's a date."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def _layout(days: list[date], counts: dict[str, list[int]]) -> Chart:
    """Stacked bars scaled to a round maximum, with three or four grid lines."""
    peak = max((sum(values[n] for values in counts.values()) for n in range(len(days))), default=0)
    top = _round_up(peak)
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_width / len(days)
    bar_width = slot * 0.7
    legend = {key: text for _, key, text in SERIES}
    bars, values = [], []
    for n, day in enumerate(days):
        base = 0
        for _, key, _ in SERIES:
            count = counts[key][n]
            if count:
                height = plot_height * count / top
                y = TOP + plot_height * (1 - (base + count) / top)
                bars.append(
                    Bar(
                        key,
                        round(LEFT + n * slot + (slot - bar_width) / 2, 2),
                        round(y, 2),
                        round(bar_width, 2),
                        round(height, 2),
                        count,
                        f"{day.isoformat()}: {count} {legend[key].lower()}",
                    )
                )
            base += count
        if base:
            x = round(LEFT + n * slot + slot / 2, 2)
            values.append(ValueLabel(x, round(TOP + plot_height * (1 - base / top) - 4, 2), str(base)))
    step = top // 4
    ticks = [Tick(round(TOP + plot_height * (1 - v / top), 2), v) for v in range(0, top + 1, step)]
    labels = [
        DayLabel(round(LEFT + n * slot + slot / 2, 2), day.strftime("%d %b"))
        for n, day in enumerate(days)
        if n % 7 == (len(days) - 1) % 7  # every seventh day, ending today
    ]
    return Chart(days, counts, bars, ticks, labels, values)


def _round_up(peak: int) -> int:
    """A scale maximum at or above `peak`: four equal, round steps."""
    step = max(1, -(-peak // 4))
    if step >= 10:
        magnitude = 10 ** (len(str(step)) - 1)
        step = next(int(f * magnitude) for f in (1, 2, 2.5, 5, 10) if f * magnitude >= step)
    return 4 * step
