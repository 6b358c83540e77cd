"""A view whose transaction the database aborted to break a deadlock or a serialization conflict
runs again, a few times, before the 503 page.

Safe because nothing was sent yet (a view's response is built before the server writes a byte) and
nothing of the aborted attempt stayed: the rollback takes its rows, its audit events and its outbox
messages (services/audit: events join the chain at commit). The conditional UPDATEs that guard
single use (tokens, codes, TOTP steps) decide again on the retry, against what others committed.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask
from sqlalchemy.exc import DBAPIError

from impersonator.extensions import db
from impersonator.logs import database_problem

log = logging.getLogger("impersonator.retries")

RETRIES = 3
# PostgreSQL's SQLSTATEs for "this transaction lost a conflict; running it again may succeed".
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure


def retryable(error: DBAPIError) -> bool:
    return getattr(error.orig, "sqlstate", None) in RETRYABLE_SQLSTATES


class RetryingFlask(Flask):
    """Each face's app: its views run again after an aborted transaction (module docstring)."""

    def dispatch_request(self) -> Any:
        attempt = 1
        while True:
            try:
                return super().dispatch_request()
            except DBAPIError as error:
                if attempt > RETRIES or not retryable(error):
                    raise
                db.session.rollback()
                log.warning("retrying the request (attempt %s): %s", attempt + 1, database_problem(error))
                attempt += 1
