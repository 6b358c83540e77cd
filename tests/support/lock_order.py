"""Watches the SQL a database connection runs, to check the product's lock order: in a transaction,
nothing that takes a row lock may follow the read of the audit chain's head (services/audit)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.engine import Engine

HEAD_READ = re.compile(r"^\s*SELECT\b.*\bFROM audit_head\b", re.S | re.I)
# What the append itself runs once it holds the head: the event, the head's move, the outbox rows.
APPEND = re.compile(
    r"^\s*(INSERT INTO audit_event\b|UPDATE audit_head\b|WITH moved_head\b|INSERT INTO outbox_message\b)",
    re.I,
)
PLAIN_READ = re.compile(r"^\s*SELECT\b", re.I)


@contextmanager
def statements_after_the_head(engine: Engine) -> Iterator[list[str]]:
    """Yields a list that collects every statement which, in its transaction, came after the head was
    read and is neither the append nor a read without a lock (empty when the lock order holds)."""
    late: list[str] = []
    holding: set[int] = set()  # connections whose transaction has read the head

    def before_execute(conn, _cursor, statement, _parameters, _context, _many) -> None:
        key = id(conn.connection.dbapi_connection)
        if HEAD_READ.match(statement):
            holding.add(key)
            return
        if key not in holding or APPEND.match(statement):
            return
        if PLAIN_READ.match(statement) and "FOR UPDATE" not in statement.upper():
            return
        late.append(" ".join(statement.split())[:120])

    def transaction_ended(conn) -> None:
        holding.discard(id(conn.connection.dbapi_connection))

    event.listen(engine, "before_cursor_execute", before_execute)
    event.listen(engine, "commit", transaction_ended)
    event.listen(engine, "rollback", transaction_ended)
    try:
        yield late
    finally:
        event.remove(engine, "before_cursor_execute", before_execute)
        event.remove(engine, "commit", transaction_ended)
        event.remove(engine, "rollback", transaction_ended)
