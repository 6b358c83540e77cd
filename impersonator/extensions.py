"""Flask extensions, created unbound; the factory binds them to each face."""

from __future__ import annotations

import contextlib
import sqlite3
import time

import psycopg
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import Pool


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
# Staff and customers are separate people with separate sign-ins (DESIGN §2), so each face has a
# login manager of its own.
staff_login = LoginManager()
customer_login = LoginManager()
# Sessions are checked on the server on every request; Flask-Login's IP/agent fingerprint would only
# rewrite the cookie, so it is off.
staff_login.session_protection = None
customer_login.session_protection = None


# How long a SQLite statement waits for another connection's write lock. Writes here take
# milliseconds; a lock held longer is a bug or an outage, and the person waiting should see the 503
# page within a few seconds rather than stare at a spinner.
SQLITE_BUSY_TIMEOUT_MS = 5000


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection, _record) -> None:
    """SQLite is the development database: enforce foreign keys, wait for locks, take the write
    lock up front. A deferred transaction that reads and then writes fails with "database is locked"
    under concurrency even with a busy timeout (MEASURED.md), so every transaction is IMMEDIATE.

    That serialises requests, reads included: under gunicorn's two workers the console and tenant
    pages reach 0.13-0.17 of a one-read page on SQLite against 0.33-0.36 on PostgreSQL (bench/
    RESULTS.md, 2026-12-02). Kept on purpose: reads that write now and then (a console session's
    last-seen time, a ghost's request log) would otherwise fail at random under load, and
    production runs PostgreSQL (DESIGN §8)."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    # With WAL, NORMAL stays consistent after a crash and only skips an fsync per commit.
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


@event.listens_for(Engine, "begin")
def _begin_sqlite_immediate(connection) -> None:
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


# A connection used within the last IDLE_PING_SECONDS is alive in all likelihood: pinging it before
# every request costs a round trip (MEASURED.md). One idle for longer (where a server restart, a
# proxy's or a firewall's idle timeout kill connections) is pinged, and replaced if dead.
IDLE_PING_SECONDS = 10


@event.listens_for(Pool, "checkin")
def _remember_checkin(dbapi_connection, record) -> None:
    if record is not None:
        record.info["checked_in_at"] = time.monotonic()


@event.listens_for(Pool, "checkout")
def _ping_if_idle(dbapi_connection, record, proxy) -> None:
    last = record.info.get("checked_in_at")
    if last is None or time.monotonic() - last < IDLE_PING_SECONDS:
        return  # new, or in use a moment ago
    if isinstance(dbapi_connection, sqlite3.Connection):
        return
    try:
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT 1")
        cursor.close()
        dbapi_connection.rollback()
    except Exception as error:  # the pool replaces the connection and tries again
        raise exc.DisconnectionError() from error


# -- A transaction that only read ends with COMMIT on PostgreSQL ---------------------------------------
# psycopg forgets every prepared statement at a ROLLBACK (some may have been prepared inside the
# transaction it undoes), and every request ends its transaction with one: the session's close at
# teardown. So no statement ever reached psycopg's prepare threshold, and PostgreSQL parsed and planned
# each one on every request (the search's result rows alone planned in ~1 ms). A transaction in which
# only SELECTs ran, none failed, changes nothing whichever way it ends, so its ROLLBACK is sent as a
# COMMIT; psycopg then keeps its statements prepared across requests. Any other statement (INSERT,
# UPDATE, DELETE, a CTE, DDL, built or written as text) or any failure keeps the real ROLLBACK.
# (Measured in-process on the web bench's data, 2026-12-03: the search page ~12.3 → 11.1 ms, the tenant
# home ~7 → 6 ms.)
_WROTE = "impersonator.transaction_wrote"


def _only_reads(statement: str, context) -> bool:
    if context is not None and (context.isinsert or context.isupdate or context.isdelete):
        return False
    # SQLite's BEGIN IMMEDIATE (_begin_sqlite_immediate) opens the transaction; it writes nothing.
    return statement.lstrip("( \t\r\n")[:7].upper() in ("SELECT ", "SELECT\n", "SELECT\t", "BEGIN I")


def _info(connection) -> dict | None:
    """The DBAPI connection's info, or None for a closed or invalidated one (reading a dead
    connection's info would raise from inside an event: the pool replaces it, info and all)."""
    if connection is None or connection.closed or connection.invalidated:
        return None
    return connection.info


@event.listens_for(Engine, "before_cursor_execute")
def _note_writes(connection, _cursor, statement, _parameters, context, _executemany) -> None:
    if not _only_reads(statement, context):
        connection.info[_WROTE] = True


@event.listens_for(Engine, "handle_error")
def _note_failure(context) -> None:
    if (info := _info(context.connection)) is not None:
        info[_WROTE] = True


@event.listens_for(Engine, "rollback")
def _commit_if_only_read(connection) -> None:
    info = _info(connection)
    if info is None or info.pop(_WROTE, False) or connection.dialect.name != "postgresql":
        return
    dbapi_connection = connection.connection.dbapi_connection
    if dbapi_connection.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS:
        # The ROLLBACK that follows finds no transaction and sends nothing; should the COMMIT fail,
        # that ROLLBACK meets the same fault, where SQLAlchemy handles it as it always has.
        with contextlib.suppress(psycopg.Error):
            dbapi_connection.commit()


@event.listens_for(Engine, "commit")
def _forget_writes(connection) -> None:
    if (info := _info(connection)) is not None:
        info.pop(_WROTE, None)


def drop_leftovers() -> None:
    """Roll back what the database session's transaction changed and did not commit (flushed or still
    pending), and nothing else. For the writes that commit on their own after a view has answered
    (a ghost's request trail, an API call's audit event): a refused view's half-made change is
    dropped, as at the end of any request, never committed with them. A transaction that only read
    is kept: ending it and beginning another would cost two round trips on every ghost request."""
    session = db.session()  # this request's (or app context's) Session, not the scoped proxy
    pending = bool(session.new or session.dirty or session.deleted)
    if pending or (session.in_transaction() and session.connection().info.get(_WROTE)):
        session.rollback()
