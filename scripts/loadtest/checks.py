"""The table and the checks: HTTP answers by kind, what the database holds after the run, what the
webhook receiver saw. Each check is a line with PASS or FAIL; any FAIL makes the run exit 1."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass

from flask import Flask

from scripts.loadtest.browser import Sample
from scripts.loadtest.faults import Faults
from scripts.loadtest.people import Anomaly

SHOWN_PROBLEMS = 8  # examples printed under a failed check


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


def percentile(sorted_values: list[float], share: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return 0.0
    rank = max(1, round(share * len(sorted_values) + 0.5))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def latency_table(samples: list[Sample], seconds: float, ramp_seconds: float) -> str:
    """Requests per second and latency by kind, and the answers' status classes."""
    by_kind: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_kind[sample.kind].append(sample)
    header = (
        f"{'kind':24} {'requests':>8} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>7}"
        f" {'2xx':>6} {'3xx':>6} {'4xx':>6} {'5xx':>5} {'none':>5}"
    )
    lines = [header, "-" * len(header)]
    for kind in [*sorted(by_kind), "all"]:
        rows = samples if kind == "all" else by_kind[kind]
        if kind == "all":
            lines.append("-" * len(header))
        times = sorted(sample.seconds * 1000 for sample in rows)
        span = (
            ramp_seconds if kind.startswith("ramp-up") else seconds + (ramp_seconds if kind == "all" else 0)
        )
        classes = Counter(sample.status // 100 for sample in rows)
        lines.append(
            f"{kind:24} {len(rows):8d} {len(rows) / max(span, 0.001):7.1f} {percentile(times, 0.50):7.1f}"
            f" {percentile(times, 0.95):7.1f} {percentile(times, 0.99):7.1f} {percentile(times, 1.0):7.0f}"
            f" {classes[2]:6d} {classes[3]:6d} {classes[4]:6d} {classes[5]:5d} {classes[0]:5d}"
        )
    return "\n".join(lines)


def http_checks(
    samples: list[Sample], anomalies: list[Anomaly], faults: Faults
) -> tuple[list[Check], list[str]]:
    """No 5xx and no lost answer outside what a fault window excuses; no unexpected answer outside
    the outages. Returns the checks and the request ids of the failures (to find in the logs)."""
    failed = [s for s in samples if s.status >= 500 or s.status == 0]
    inexcusable = [s for s in failed if not faults.excused(s.at, s.at + s.seconds, s.status)]
    excused = Counter(s.status for s in failed if faults.excused(s.at, s.at + s.seconds, s.status))
    server_errors = [s for s in inexcusable if s.status >= 500]
    lost = [s for s in inexcusable if s.status == 0]
    odd = [a for a in anomalies if not faults.in_http_outage(a.at)]
    excused_text = (
        ", ".join(f"{n} x {status or 'no answer'}" for status, n in sorted(excused.items())) or "none"
    )
    checks = [
        Check(
            "zero 5xx outside the outage windows (503 only while PostgreSQL restarts)",
            not server_errors,
            f"{len(server_errors)} outside; excused inside the windows: {excused_text}"
            + _examples([f"{s.at:6.1f} s {s.kind} {s.status} request {s.request_id}" for s in server_errors]),
        ),
        Check(
            "every request answered outside the outage windows (none reset or timed out)",
            not lost,
            f"{len(lost)} without an answer"
            + _examples([f"{s.at:6.1f} s {s.kind}: {s.error} after {s.seconds:.1f} s" for s in lost]),
        ),
        Check(
            "no unexpected answer in any flow outside the outage windows",
            not odd,
            f"{len(odd)} unexpected ({len(anomalies) - len(odd)} inside the windows)"
            + _examples(
                [f"{a.at:6.1f} s {a.who} {a.kind} → {a.status or 'no answer'}: {a.detail[:140]}" for a in odd]
            ),
        ),
    ]
    return checks, [s.request_id for s in server_errors if s.request_id]


def _examples(lines: list[str]) -> str:
    shown = "".join(f"\n        {line}" for line in lines[:SHOWN_PROBLEMS])
    return shown + (
        f"\n        … and {len(lines) - SHOWN_PROBLEMS} more" if len(lines) > SHOWN_PROBLEMS else ""
    )


def redemption_checks(redemptions: dict[str, int], tally) -> list[Check]:
    """Client-side evidence of I2: successful redemptions per token, replays and guesses refused."""
    twice = [n for n in redemptions.values() if n > 1]
    return [
        Check(
            "every token redeemed at most once (answers seen by the clients, races included)",
            not twice,
            f"{len(redemptions)} tokens redeemed, {tally.get('redemption races')} raced by a copy; "
            f"{len(twice)} redeemed more than once",
        ),
        Check(
            "every replay of a used token refused",
            tally.get("REPLAYS ACCEPTED") == 0,
            f"{tally.get('replays sent')} replays, {tally.get('replays refused')} refused with 410/429, "
            f"{tally.get('REPLAYS ACCEPTED')} accepted",
        ),
        Check(
            "no guessed support access code accepted",
            tally.get("GUESSED CODES ACCEPTED") == 0,
            f"{tally.get('access codes guessed')} guesses, {tally.get('GUESSED CODES ACCEPTED')} accepted",
        ),
    ]


@dataclass(frozen=True)
class OutboxState:
    statuses: dict[tuple[str, str], int]  # (kind, status) -> count
    webhook_ids: dict[str, str]  # message id -> status, of the webhook rows
    webhook_audit_seqs: set[int]  # audit seqs of events that subscribers must hear of

    @property
    def pending(self) -> int:
        return sum(n for (_, status), n in self.statuses.items() if status == "pending")


def outbox_state(app: Flask, watched_after_seq: int) -> OutboxState:
    from sqlalchemy import func, select

    from impersonator.extensions import db
    from impersonator.models import WEBHOOK_EVENTS, AuditEvent, OutboxMessage

    with app.app_context():
        statuses = {
            (kind, status): n
            for kind, status, n in db.session.execute(
                select(OutboxMessage.kind, OutboxMessage.status, func.count()).group_by(
                    OutboxMessage.kind, OutboxMessage.status
                )
            )
        }
        webhook_ids = dict(
            db.session.execute(
                select(OutboxMessage.message_id, OutboxMessage.status).where(OutboxMessage.kind == "webhook")
            ).all()
        )
        seqs = set(
            db.session.scalars(
                select(AuditEvent.seq).where(
                    AuditEvent.seq > watched_after_seq, AuditEvent.action.in_(WEBHOOK_EVENTS)
                )
            )
        )
        db.session.remove()
    return OutboxState(statuses, webhook_ids, seqs)


def outbox_checks(
    state: OutboxState, wire: Counter, seen_seqs: dict[str, int], bad: list[str]
) -> list[Check]:
    """I10: every message delivered; every webhook row seen by the receiver, once by id; every
    event a subscriber asked for queued (one row per event) and heard of."""
    undelivered = {key: n for key, n in state.statuses.items() if key[1] != "delivered"}
    unseen = [message_id for message_id in state.webhook_ids if wire[message_id] == 0]
    foreign = [message_id for message_id in wire if message_id not in state.webhook_ids]
    duplicates = {message_id: n for message_id, n in wire.items() if n > 1}
    unheard = state.webhook_audit_seqs - set(seen_seqs.values())
    totals = ", ".join(f"{kind} {status} {n}" for (kind, status), n in sorted(state.statuses.items()))
    return [
        Check(
            "every outbox message delivered (after the workers drained)",
            not undelivered,
            totals + (f"; not delivered: {undelivered}" if undelivered else ""),
        ),
        Check(
            "every webhook row reached the receiver; none lost, none unknown",
            not unseen and not foreign,
            f"{len(state.webhook_ids)} webhook messages, {len(wire)} distinct ids received "
            f"({sum(wire.values())} deliveries on the wire, {len(duplicates)} ids twice or more, "
            "counted once); "
            f"{len(unseen)} never arrived, {len(foreign)} unknown ids" + _examples(unseen),
        ),
        Check(
            "every audit event a subscriber asked for was queued once and heard of",
            not unheard and len(state.webhook_audit_seqs) == len(state.webhook_ids),
            f"{len(state.webhook_audit_seqs)} such events, {len(state.webhook_ids)} webhook rows, "
            f"{len(unheard)} never heard of",
        ),
        Check("every webhook's signature verifies", not bad, f"{len(bad)} bad signatures"),
    ]


def lifecycle_checks(app: Flask) -> list[Check]:
    """After the final sweep: every impersonation requested once; every started one (redeemed)
    started once and ended once; none half-done (a redemption without its event or the reverse)."""
    from sqlalchemy import func, select

    from impersonator.extensions import db
    from impersonator.models import AuditEvent, Impersonation

    events = (
        "impersonation.requested",
        "impersonation.started",
        "impersonation.ended",
        "impersonation.token_expired",
    )
    with app.app_context():
        counts = select(
            AuditEvent.impersonation_id.label("imp"),
            *[
                func.count().filter(AuditEvent.action == action).label(action.split(".")[1])
                for action in events
            ],
        ).group_by(AuditEvent.impersonation_id)
        counted = {row.imp: row for row in db.session.execute(counts) if row.imp is not None}
        rows = db.session.execute(
            select(
                Impersonation.id, Impersonation.redeemed_at, Impersonation.ended_at, Impersonation.end_reason
            )
        ).all()
        db.session.remove()
    redeemed_twice, half_done, bad_ends, open_ones, reasons = [], [], [], [], Counter()
    started_total = 0
    for imp_id, redeemed_at, ended_at, end_reason in rows:
        c = counted.get(imp_id)
        requested, started, ended, lapsed = (
            (c.requested, c.started, c.ended, c.token_expired) if c else (0, 0, 0, 0)
        )
        reasons[end_reason or "open"] += 1
        started_total += redeemed_at is not None
        if started > 1:
            redeemed_twice.append(f"impersonation {imp_id}: {started} started events")
        if requested != 1 or (redeemed_at is not None) != (started == 1):
            half_done.append(
                f"impersonation {imp_id}: {requested} requested, {started} started, redeemed={redeemed_at}"
            )
        if ended_at is None:
            open_ones.append(f"impersonation {imp_id} still open")
        elif redeemed_at is not None and (ended != 1 or lapsed):
            bad_ends.append(f"impersonation {imp_id}: {ended} ended, {lapsed} token_expired events")
        elif redeemed_at is None and ended + lapsed != 1:
            bad_ends.append(f"impersonation {imp_id} (never redeemed): {ended} ended, {lapsed} token_expired")
    ends = ", ".join(f"{reason} {n}" for reason, n in reasons.most_common())
    return [
        Check(
            "database: every impersonation started at most once (impersonations vs impersonation.started)",
            not redeemed_twice,
            f"{len(rows)} impersonations, {started_total} started" + _examples(redeemed_twice),
        ),
        Check(
            "database: none half-done (one requested event each; redeemed exactly when started)",
            not half_done,
            f"{len(half_done)} half-done" + _examples(half_done),
        ),
        Check(
            "after the final sweep: every started impersonation has one started and one ended event",
            not bad_ends and not open_ones,
            f"ends: {ends}; {len(open_ones)} still open" + _examples(bad_ends + open_ones),
        ),
    ]


# A query string in a log line: staff search by customers' emails (`?q=`) and attackers put used
# tokens in addresses (`?token=`); gunicorn.conf.py promises neither reaches any log.
_QUERY_IN_LOG = re.compile(r"/[\w/.-]*\?[\w.-]+=")


def log_check(outputs: list[str]) -> Check:
    """No server log line (gunicorn's access and error logs, the outbox workers') holds a query."""
    leaks = [line for output in outputs for line in output.splitlines() if _QUERY_IN_LOG.search(line)]
    return Check(
        "no query string (a searched email, a token) in any server log line",
        not leaks,
        f"{len(leaks)} lines" + _examples([line[:200] for line in leaks]),
    )
