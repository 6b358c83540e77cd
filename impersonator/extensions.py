"""Flask extensions, created unbound; the factory binds them to each face."""

from __future__ import annotations

import sqlite3

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase


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


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection, _record) -> None:
    """SQLite is the development database: enforce foreign keys, wait for locks, take the write
    lock up front. A deferred transaction that reads and then writes fails with "database is locked"
    under concurrency even with a busy timeout (MEASURED.md), so every transaction is IMMEDIATE."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA busy_timeout = 10000")
    cursor.execute("PRAGMA journal_mode = WAL")
    # With WAL, NORMAL stays consistent after a crash and only skips an fsync per commit.
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


@event.listens_for(Engine, "begin")
def _begin_sqlite_immediate(connection) -> None:
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")
