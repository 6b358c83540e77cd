"""Helpers for the audit log's tests: events appended in bulk as real chain links, and pages read back."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import insert

from impersonator.extensions import db
from impersonator.models import GENESIS_HASH, AuditEvent, AuditHead
from impersonator.services import audit
from impersonator.services.audit import chain
from impersonator.services.audit.chain import Link

_ROW_SEQ = re.compile(r"<tr class=\"[^\"]*\">\s*<td>(\d+)</td>")


def append_events(app, rows: list[dict[str, Any]]) -> list[int]:
    """Append events in one transaction, each a valid link after the chain's head (thousands a second).

    Each row needs `at`; the rest default to a staff sign-in. Returns the new sequence numbers."""
    key = chain.chain_key(app.config)
    with app.app_context():
        head = db.session.get(AuditHead, 1)
        if head is None:
            head = AuditHead(id=1, seq=0, hash=GENESIS_HASH)
            db.session.add(head)
        seq, prev = head.seq, head.hash
        records = []
        for row in rows:
            seq += 1
            link = Link(
                seq=seq,
                at=row["at"],
                actor_type=row.get("actor_type", "staff"),
                actor_id=row.get("actor_id"),
                actor_label=row.get("actor_label", "someone@staff.example"),
                action=row.get("action", "staff.signed_in"),
                outcome=row.get("outcome", "success"),
                target_type=row.get("target_type"),
                target_id=row.get("target_id"),
                tenant_id=row.get("tenant_id"),
                impersonation_id=row.get("impersonation_id"),
                ip=row.get("ip"),
                details=audit.canonical_json(row.get("details", {})),
            )
            digest = chain.link_hash(key, prev, link)
            records.append({**vars(link), "prev_hash": prev, "hash": digest})
            prev = digest
        if records:
            db.session.execute(insert(AuditEvent), records)
        head.seq, head.hash = seq, prev
        db.session.commit()
        return [record["seq"] for record in records]


def page_seqs(html: str) -> list[int]:
    """The event numbers in the audit page's table, top to bottom."""
    table = html.split('<table class="table audit-events">', 1)
    if len(table) < 2:
        return []
    return [int(n) for n in _ROW_SEQ.findall(table[1].split("</table>", 1)[0])]


def link_href(html: str, rel: str) -> str | None:
    """The address of the page's Newer (rel=prev) or Older (rel=next) link."""
    match = re.search(rf'rel="{rel}" href="([^"]+)"', html)
    return match.group(1).replace("&amp;", "&") if match else None
