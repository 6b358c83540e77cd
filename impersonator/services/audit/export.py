"""Export of the filtered audit log as CSV or JSON Lines (DESIGN I11).

Rows stream in keyset batches of the same query the audit page runs, newest first, up to the event
that records the export itself, and at most EXPORT_CAP of them. Each batch ends its transaction, so
a long download never holds a lock (SQLite transactions take the write lock). CSV cells that a
spreadsheet would run as a formula (= + - @, tab, carriage return first) get a leading apostrophe.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import select

from impersonator.extensions import db
from impersonator.models import AuditEvent
from impersonator.services import audit
from impersonator.services.audit import Actor, chain
from impersonator.services.audit.log import Filters, conditions
from impersonator.services.errors import InvalidInput

EXPORT_CAP = 100_000
BATCH = 1000
FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}
# Every chained column, then the chain links themselves: an export can be checked against the chain.
COLUMNS = (*chain.CHAINED_COLUMNS, "prev_hash", "hash")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def parse_format(value: str | None) -> str:
    """csv (the default) or jsonl; InvalidInput otherwise."""
    chosen = (value or "csv").strip().lower()
    if chosen not in FORMATS:
        raise InvalidInput("bad_format", "The export format is csv or jsonl.")
    return chosen


def neutralise(cell: object) -> object:
    """A text cell a spreadsheet would read as a formula, made plain text (OWASP CSV injection)."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def start(filters: Filters, fmt: str, *, actor: Actor, ip: str | None, now: datetime) -> int:
    """Record who exported what (committed), and return the sequence number the export stops below."""
    event = audit.record(
        "audit.exported", actor=actor, at=now, ip=ip, details={"format": fmt, "filters": filters.as_args()}
    )
    db.session.commit()
    return event.seq  # set by the commit, which appends the event to the chain


def events(filters: Filters, *, below: int) -> Iterator[dict[str, Any] | None]:
    """The filtered events older than `below`, newest first, at most EXPORT_CAP (then one None)."""
    cap = EXPORT_CAP
    where = conditions(filters)
    columns = [getattr(AuditEvent, name) for name in COLUMNS]
    sent = 0
    while True:
        size = min(BATCH, cap - sent + 1)  # one more than the cap tells whether it cut anything
        rows = db.session.execute(
            select(*columns).where(*where, AuditEvent.seq < below).order_by(AuditEvent.seq.desc()).limit(size)
        ).all()
        db.session.rollback()  # a read: end the transaction between batches
        for row in rows:
            if sent == cap:
                yield None
                return
            sent += 1
            yield dict(zip(COLUMNS, row, strict=True))
        if len(rows) < size:
            return
        below = rows[-1].seq


def cap_note() -> str:
    """What the last line says when the export was cut at EXPORT_CAP."""
    return (
        f"Export stopped after {EXPORT_CAP:,} events: narrow the filters (the time range) to export the rest."
    )


def as_csv(rows: Iterator[dict[str, Any] | None]) -> Iterator[str]:
    """CSV text, a header line first, formulas neutralised."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(cells) -> str:
        writer.writerow(cells)
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield line(COLUMNS)
    for row in rows:
        if row is None:
            yield line(["# " + cap_note()])
            return
        row["at"] = row["at"].isoformat()
        yield line([neutralise(row[name]) for name in COLUMNS])


def as_jsonl(rows: Iterator[dict[str, Any] | None]) -> Iterator[str]:
    """One JSON object per line; `details` as an object, not a string."""
    for row in rows:
        if row is None:
            yield json.dumps({"note": cap_note()}) + "\n"
            return
        row["at"] = row["at"].isoformat()
        with contextlib.suppress(ValueError):  # otherwise kept as the text it is
            row["details"] = json.loads(row["details"])
        yield json.dumps(row, ensure_ascii=False, sort_keys=False) + "\n"
