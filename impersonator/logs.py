"""Logs go to stdout as one JSON object per line; they carry no secrets or tokens (DESIGN I12).
The audit trail is rows written by the audit service, never log lines."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

from flask import has_request_context, request

# The WSGI environ key of the request's id (set by faces.HostDispatcher for both faces), and the
# same id for code that must not read the request (services: the audit trail records it).
REQUEST_ID_KEY = "impersonator.request_id"
CURRENT_REQUEST_ID: ContextVar[str | None] = ContextVar("impersonator_request_id", default=None)


def request_id() -> str | None:
    """This request's id, or None outside a request."""
    if rid := CURRENT_REQUEST_ID.get():
        return rid
    return request.environ.get(REQUEST_ID_KEY) if has_request_context() else None


def database_problem(error: BaseException) -> str:
    """One line saying what failed in the database, without the SQL or its parameters (which may
    hold hashes or personal data): `OperationalError: database is locked`."""
    cause = getattr(error, "orig", None) or error
    first_line = (str(cause).strip().splitlines() or [""])[0][:200]
    return f"{type(cause).__name__}: {first_line}" if first_line else type(cause).__name__


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = request_id()
        if rid:
            entry["request_id"] = rid
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO") -> None:
    """Attach the JSON stdout handler to the package logger once (Flask then adds none of its own)."""
    logger = logging.getLogger("impersonator")
    if any(isinstance(handler.formatter, JsonFormatter) for handler in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    logger.setLevel(level)
