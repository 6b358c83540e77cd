"""The audit trail as a hash chain (DESIGN I9).

Each event's hash is HMAC-SHA256, keyed with AUDIT_HMAC_KEY (not SECRET_KEY), over the previous
event's hash and the event's canonical bytes. Editing, deleting, inserting or reordering an event
breaks the chain at that event; `verify` walks it in `seq` order and names the first broken one.
A truncated tail leaves a consistent chain behind, so the chain head row, and better an anchor
kept elsewhere (`anchor`), say where the chain must reach.

The verifier reads the chain in one read-only snapshot on a connection of its own (REPEATABLE READ
on PostgreSQL, a deferred read transaction on SQLite in WAL mode), so appends go on while it runs
and it never mistakes them for tampering. It walks every event ever written, so it streams them
from a server-side cursor, lets the database write each one's canonical bytes and leaves Python only
the HMAC (`flask audit verify` over a million events: bench/audit_bench.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import astuple, dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import select

from impersonator.extensions import db
from impersonator.models import GENESIS_HASH, AuditCheckpoint, AuditHead

# Columns in chain order; `Link` and the verifier's query read exactly these.
CHAINED_COLUMNS = (
    "seq",
    "at",
    "actor_type",
    "actor_id",
    "actor_label",
    "action",
    "outcome",
    "target_type",
    "target_id",
    "tenant_id",
    "impersonation_id",
    "ip",
    "details",
)
_AT = CHAINED_COLUMNS.index("at")


def _field_sql(column: str) -> str:
    """`encode_values`'s rule for one field, in SQL both databases speak: "~" for NULL, otherwise
    the text's length in characters, a colon and the text (integers as their decimal digits)."""
    text = f"CAST({column} AS TEXT)"
    return f"CASE WHEN {column} IS NULL THEN '~' ELSE length({text}) || ':' || {text} END"


def _timestamp_sql(postgres: bool) -> str:
    """`timestamp(at)`, length-prefixed. SQLite keeps `at` as SQLAlchemy's text, which is rewritten;
    text in any other shape gives NULL, and Python encodes that event itself."""
    if postgres:
        return "'32:' || to_char(at, 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')"
    return (
        "CASE WHEN length(at) = 26 AND substr(at, 11, 1) = ' '"
        " THEN '32:' || substr(at, 1, 10) || 'T' || substr(at, 12) || '+00:00' END"
    )


def _walk_sql(postgres: bool) -> str:
    """The verifier's walk: the database writes each event's canonical encoding (a million events of
    string work in C rather than Python), Python computes the HMACs. An event the SQL encodes
    differently from `encode_values` (SQLite text holding a NUL byte, say) can only fail
    verification, never pass it; the tests compare the two on awkward values."""
    fields = [_field_sql("seq"), _timestamp_sql(postgres), *map(_field_sql, CHAINED_COLUMNS[_AT + 1 :])]
    encoding = " || '|' || ".join(fields)
    return f"SELECT seq, prev_hash, {encoding}, hash FROM audit_event ORDER BY seq"  # noqa: S608  (no input)


_ROW_SQL = f"SELECT {', '.join(CHAINED_COLUMNS)} FROM audit_event WHERE seq = "  # noqa: S608  (+ an int)
_HEAD_SQL = "SELECT seq, hash FROM audit_head WHERE id = 1"


@dataclass(frozen=True)
class Link:
    """An event as the chain sees it: every column but its own hashes."""

    seq: int
    at: datetime
    actor_type: str
    actor_id: int | None
    actor_label: str
    action: str
    outcome: str
    target_type: str | None
    target_id: int | None
    tenant_id: int | None
    impersonation_id: int | None
    ip: str | None
    details: str


def chain_key(config: Mapping[str, Any]) -> bytes:
    """The chain's own key (DESIGN I9: separate from SECRET_KEY)."""
    return config["AUDIT_HMAC_KEY"].encode()


class ChainMac:
    """HMAC-SHA256 (RFC 2104) with the key's two padded blocks hashed once. The same digest as
    `hmac.new(key, msg, "sha256")`, at about half the cost per event (the verifier hashes millions)."""

    BLOCK = 64

    def __init__(self, key: bytes) -> None:
        if len(key) > self.BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(self.BLOCK, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def hexdigest(self, message: bytes) -> str:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


@lru_cache(maxsize=8)
def _mac(key: bytes) -> ChainMac:
    return ChainMac(key)


def timestamp(at: datetime | str) -> str:
    """An event's time as the chain encodes it: UTC ISO 8601 with microseconds and +00:00.
    Accepts an aware datetime, a naive one (UTC, as the databases return it) or SQLite's text."""
    if isinstance(at, str):
        # SQLAlchemy's SQLite format, "YYYY-MM-DD HH:MM:SS.ffffff": the verifier's hot path.
        if len(at) == 26 and at[10] == " ":
            return f"{at[:10]}T{at[11:]}+00:00"
        at = datetime.fromisoformat(at)
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at.isoformat(timespec="microseconds") + "+00:00"


def encode_values(values: Sequence[object]) -> bytes:
    """The canonical bytes of an event given its CHAINED_COLUMNS values, `at` already a timestamp().

    Each field is length-prefixed, so no choice of text can make two different events encode alike;
    None is "~", which no length prefix can be."""
    return "|".join(
        [
            "~" if value is None else f"{len(text)}:{text}"
            for value in values
            for text in (value if value.__class__ is str else str(value),)
        ]
    ).encode()


def encode(link: Link) -> bytes:
    """The canonical bytes of an event (timestamps as UTC ISO 8601 with microseconds)."""
    values = list(astuple(link))
    values[_AT] = timestamp(link.at)
    return encode_values(values)


def link_hash(key: bytes, prev_hash: str, link: Link) -> str:
    """HMAC-SHA256 over the previous hash and this event's canonical bytes, hex."""
    return _mac(key).hexdigest(prev_hash.encode("ascii") + encode(link))


@dataclass(frozen=True)
class Verdict:
    """What the verifier found: the chain is good up to `verified_seq`, or breaks at `broken_seq`."""

    ok: bool
    events: int
    verified_seq: int
    verified_hash: str
    broken_seq: int | None = None
    problem: str | None = None

    def summary(self) -> str:
        if self.ok:
            return (
                f"audit chain OK: {self.events} events, #1 to #{self.verified_seq}, head {self.verified_hash}"
            )
        return f"audit chain BROKEN at #{self.broken_seq}: {self.problem}"


@dataclass(frozen=True)
class Anchor:
    """The chain's end as recorded outside the database."""

    seq: int
    hash: str
    at: str

    def to_json(self) -> str:
        return json.dumps({"seq": self.seq, "hash": self.hash, "at": self.at}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Anchor:
        """Parse an anchor; ValueError when the text is not one."""
        try:
            data = json.loads(text)
            seq, digest = int(data["seq"]), str(data["hash"])
        except (ValueError, KeyError, TypeError) as problem:
            raise ValueError("not an anchor written by `flask audit anchor`") from problem
        if seq < 0 or len(digest) != 64:
            raise ValueError("not an anchor written by `flask audit anchor`")
        return cls(seq, digest, str(data.get("at", "")))


def verify(key: bytes, *, anchor: Anchor | None = None, batch: int = 5000) -> Verdict:
    """Walk the whole chain; the first event whose number, link or hash is wrong breaks it."""
    with _snapshot() as reader:
        head = reader.head()  # first: the walk then sees every event the head names
        rows = reader.rows(batch)
        try:
            return _check(rows, _mac(key), head=head, anchor=anchor, reread=reader.encoded)
        finally:
            rows.close()  # closes the cursor before the snapshot ends, even on an early verdict


def _check(
    rows: Iterator[Sequence],
    mac: ChainMac,
    *,
    head: tuple[int, str] | None,
    anchor: Anchor | None,
    reread: Callable[[int], str],
) -> Verdict:
    prev, expected_seq = GENESIS_HASH, 1
    anchor_seen = anchor is None or (anchor.seq, anchor.hash) == (0, GENESIS_HASH)
    for row in rows:
        seq = row[0]
        if seq != expected_seq:
            problem = f"expected event #{expected_seq} next, found #{seq} (an event is missing)"
            return _broken(prev, expected_seq, problem)
        _, stored_prev, encoded, digest = row
        if stored_prev != prev:
            problem = "its link to the previous event does not match (inserted, deleted or reordered)"
            return _broken(prev, seq, problem)
        if encoded is None:
            encoded = reread(seq)
        if mac.hexdigest((prev + encoded).encode()) != digest:
            return _broken(prev, seq, "its content does not match its hash (edited)")
        if not anchor_seen and seq == anchor.seq:
            if digest != anchor.hash:
                return _broken(prev, seq, "it differs from the anchor's hash")
            anchor_seen = True
        prev, expected_seq = digest, expected_seq + 1
    last_seq = expected_seq - 1
    if not anchor_seen:
        problem = f"the anchor names event #{anchor.seq}, but the chain ends at #{last_seq} (truncated)"
        return _broken(prev, last_seq + 1, problem)
    problem = _head_problem(head, last_seq, prev)
    if problem:
        return _broken(prev, *problem)
    return Verdict(True, last_seq, last_seq, prev)


def _head_problem(head: tuple[int, str] | None, last_seq: int, last_hash: str) -> tuple[int, str] | None:
    """The head row is written with every event, so in one snapshot it names the last event exactly."""
    if head is None:
        # Nothing written yet (a database built without the migrations); with events, tampering. An
        # attacker who deletes every event and the head row too is caught only by an anchor.
        if last_seq == 0:
            return None
        return (last_seq + 1, "the chain head row is missing, so a truncated tail cannot be ruled out")
    head_seq, head_hash = head
    if head_seq > last_seq:
        return (
            last_seq + 1,
            f"the chain head names event #{head_seq}, but the chain ends at #{last_seq} (truncated)",
        )
    if head_seq < last_seq:
        return (
            head_seq + 1,
            f"the chain head names event #{head_seq}: the events after it were not written by the app",
        )
    if head_hash != last_hash:
        return (last_seq, "it does not match the chain head's hash")
    return None


def _broken(prev: str, broken_seq: int, problem: str) -> Verdict:
    """Events #1 to #broken_seq - 1 checked out; `prev` is the last good hash."""
    return Verdict(False, broken_seq - 1, broken_seq - 1, prev, broken_seq, problem)


class _Reader:
    """The chain head and the events, read in one snapshot on a connection of its own."""

    def __init__(self, connection, postgres: bool) -> None:
        self.connection, self.postgres = connection, postgres

    def head(self) -> tuple[int, str] | None:
        cursor = self.connection.cursor()
        try:
            cursor.execute(_HEAD_SQL)
            row = cursor.fetchone()
        finally:
            cursor.close()
        return (row[0], row[1]) if row else None

    def rows(self, batch: int) -> Iterator[Sequence]:
        """(seq, prev_hash, canonical encoding or None, hash) of every event, in chain order."""
        # Server-side on PostgreSQL: a million events stream in batches instead of filling memory.
        cursor = self.connection.cursor(name="audit_verify") if self.postgres else self.connection.cursor()
        try:
            cursor.execute(_walk_sql(self.postgres))
            while rows := cursor.fetchmany(batch):
                yield from rows
        finally:
            cursor.close()

    def encoded(self, seq: int) -> str:
        """One event encoded by Python, for the rare event the walk's SQL cannot encode."""
        cursor = self.connection.cursor()
        try:
            cursor.execute(_ROW_SQL + str(int(seq)))
            values = list(cursor.fetchone())
        finally:
            cursor.close()
        values[_AT] = timestamp(values[_AT])
        return encode_values(values).decode()


@contextmanager
def _snapshot() -> Iterator[_Reader]:
    """REPEATABLE READ on PostgreSQL; on SQLite (WAL) a deferred read transaction, which sees one
    snapshot without taking the write lock. Appends go on meanwhile and are left for the next run."""
    connection = db.engine.raw_connection()
    postgres = db.engine.dialect.name == "postgresql"
    try:
        connection.rollback()  # whatever the pool's ping began: the snapshot starts here
        cursor = connection.cursor()
        if postgres:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        else:
            # extensions.py runs SQLite connections in autocommit mode and emits BEGIN itself.
            cursor.execute("BEGIN")
        cursor.close()
        yield _Reader(connection, postgres)
    finally:
        try:
            connection.rollback()
        finally:
            connection.close()


def record_checkpoint(verdict: Verdict, *, now: datetime) -> AuditCheckpoint:
    """Keep the verifier's result for the audit page ("verified up to #N at T")."""
    checkpoint = AuditCheckpoint(
        at=now,
        verified_seq=verdict.verified_seq,
        verified_hash=verdict.verified_hash,
        ok=verdict.ok,
        first_broken_seq=verdict.broken_seq,
        problem=(verdict.problem or "")[:300] or None,
    )
    db.session.add(checkpoint)
    db.session.commit()
    return checkpoint


def latest_checkpoint() -> AuditCheckpoint | None:
    """The newest verifier run, if any."""
    return db.session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1))


def current_anchor(*, now: datetime) -> Anchor:
    """The chain's end right now, to keep outside the database."""
    head = db.session.get(AuditHead, 1)
    seq, digest = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    return Anchor(seq, digest, now.isoformat())


def write_anchor(anchor: Anchor, path: Path) -> None:
    """Write the anchor file atomically (a reader never sees half a file)."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(anchor.to_json() + "\n")
    temporary.replace(path)


def read_anchor(path: Path) -> Anchor:
    """The anchor kept in `path` (ValueError when it is not one)."""
    return Anchor.from_json(path.read_text())
