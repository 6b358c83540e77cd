"""Flask extensions, created unbound; the factory binds them to each face."""

from __future__ import annotations

import sqlite3
import time

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
