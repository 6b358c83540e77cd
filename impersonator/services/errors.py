"""Domain errors: a reason code for machines and the audit trail, a sentence for people."""

from __future__ import annotations

from datetime import datetime, timedelta


class DomainError(Exception):
    """A rule said no. `reason` is stable and audited; `message` is shown to the person."""

    status = 400

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class InvalidInput(DomainError):
    """The input breaks a rule of its own (format, length, characters)."""

    status = 400


class NotAllowed(DomainError):
    status = 403


class Locked(DomainError):
    """Too many failures: refused until `until`, whatever is typed."""

    status = 429

    def __init__(self, reason: str, until: datetime) -> None:
        # Rounded up to the minute: "after 12:16" must never be a minute at which it is still locked.
        stamp = (until + timedelta(seconds=59)).strftime("%H:%M UTC")
        super().__init__(reason, f"Too many failed attempts. Try again after {stamp}.")
        self.until = until

    def retry_after(self, now: datetime) -> int:
        """Whole seconds until the lock ends, for the Retry-After header."""
        return max(1, int((self.until - now).total_seconds() + 0.999))
