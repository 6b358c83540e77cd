"""The one clock. Services take `now` from their caller, and callers read it here, so tests can
move time (time-machine) without touching the code under test."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)
