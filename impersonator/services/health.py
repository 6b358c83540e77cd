"""Readiness: can this process serve? The database answers, its schema is the code's (Alembic head),
and the outbox workers keep up. Each failing check is named by one short word, never with detail
(versions, counts, errors) that would help an attacker; the detail goes to the log."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import lru_cache

from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from impersonator.extensions import db
from impersonator.logs import database_problem
from impersonator.models import OutboxMessage

log = logging.getLogger("impersonator.health")

DATABASE, MIGRATIONS, OUTBOX = "database", "migrations", "outbox"


@lru_cache(maxsize=4)
def migration_heads(directory: str) -> frozenset[str]:
    """The head revisions of the migrations the code ships; read once per process (they only change
    with a deployment, which starts new processes)."""
    return frozenset(ScriptDirectory(directory).get_heads())


def failing_checks(*, now: datetime) -> list[str]:
    """The names of the readiness checks that fail now; empty when ready. Never raises: a probe that
    errors is a 500, which a load balancer cannot tell from a bug."""
    try:
        return _failing(now)
    except Exception as error:  # whatever went wrong, the database is the suspect
        log.error("readiness: database unavailable: %s", database_problem(error))
        return [DATABASE]
    finally:
        _end_transaction()


def _failing(now: datetime) -> list[str]:
    # A round trip or two each, in the order that makes the next one meaningful.
    if _applied_revisions() != migration_heads(current_app.extensions["migrate"].directory):
        return [MIGRATIONS]  # an outbox table of another schema says nothing reliable
    return [OUTBOX] if _outbox_behind(now) else []


def _applied_revisions() -> frozenset[str]:
    """The revisions `flask db upgrade` recorded; none when it never ran (no version table). Any
    other error is an outage, for the caller to report as "database"."""
    try:
        return frozenset(db.session.scalars(text("SELECT version_num FROM alembic_version")))
    except (OperationalError, ProgrammingError) as error:
        missing_table = type(error.orig).__name__ == "UndefinedTable" or "no such table" in str(error.orig)
        if not missing_table:
            raise
        db.session.rollback()
        return frozenset()


def _outbox_behind(now: datetime) -> bool:
    """Too many messages due and unsent, or one overdue for too long: the workers are stopped or cannot
    keep up. Messages waiting out a retry's backoff (a receiver that is down) are not due, so a dead
    webhook receiver never makes the web processes unready; a worker that died mid-attempt makes its
    message due again when the lease runs out."""
    config = current_app.config
    most, oldest = config["READY_MAX_OUTBOX_BACKLOG"], config["READY_MAX_OUTBOX_AGE_SECONDS"]
    due = (OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
    if most:
        # Counted up to one past the limit only: a huge backlog costs the probe no more than a small one.
        capped = select(OutboxMessage.id).where(*due).limit(most + 1).subquery()
        if db.session.scalar(select(func.count()).select_from(capped)) > most:
            return True
    if oldest:
        overdue_since = db.session.scalar(select(func.min(OutboxMessage.next_attempt_at)).where(*due))
        if overdue_since is not None and now - overdue_since > timedelta(seconds=oldest):
            return True
    return False


def _end_transaction() -> None:
    """Hold nothing after the probe (on SQLite every transaction is the write lock)."""
    try:
        db.session.rollback()
    except Exception:  # a dead connection: the pool replaces it
        db.session.close()
