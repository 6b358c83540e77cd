"""TOTP checks (RFC 6238, DESIGN I6).

Only the current and the previous 30-second step are accepted, input must be exactly six ASCII
digits, and each step is accepted at most once per staff member, across sign-in and step-up: the
step is recorded by one conditional UPDATE, so two requests racing with the same code get one success.
"""

from __future__ import annotations

import hmac
import re
from datetime import datetime

import pyotp
from sqlalchemy import or_, update

from impersonator.extensions import db
from impersonator.models import Staff
from impersonator.services.errors import InvalidInput

STEP_SECONDS = 30
# [0-9], not \d: \d also matches Arabic-Indic, full-width and other digits.
_CODE = re.compile(r"[0-9]{6}")
# Only ASCII whitespace is forgiven around a code; str.strip() alone would also drop no-break and
# ideographic spaces, letting non-ASCII input through.
_ASCII_WHITESPACE = " \t\n\r\f\v"


class TotpRejected(InvalidInput):
    """reason: malformed | wrong | replayed."""


def new_secret() -> str:
    """A fresh random base32 secret (160 bits)."""
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def step_at(moment: datetime) -> int:
    """The TOTP time step `moment` falls in."""
    return int(moment.timestamp()) // STEP_SECONDS


def code_at(secret: str, moment: datetime) -> str:
    """The code for `moment` (for the demo seed and the tests)."""
    return pyotp.TOTP(secret).generate_otp(step_at(moment))


def matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The step (current or previous) whose code equals `code`, compared in constant time."""
    totp = pyotp.TOTP(secret)
    current = step_at(now)
    for step in (current, current - 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def consume(staff_id: int, secret: str, code: str | None, now: datetime) -> int:
    """Accept `code` for this staff member once, or raise TotpRejected. Returns the step used."""
    code = (code or "").strip(_ASCII_WHITESPACE)
    if len(code) != 6 or not _CODE.fullmatch(code):
        raise TotpRejected("totp_malformed", "Enter the 6-digit code from your authenticator app.")
    step = matching_step(secret, code, now)
    if step is None:
        raise TotpRejected("totp_wrong", "That code is not right. Check your authenticator app.")
    claimed = db.session.execute(
        update(Staff)
        .where(Staff.id == staff_id)
        .where(or_(Staff.totp_last_step.is_(None), Staff.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        raise TotpRejected(
            "totp_replayed", "That code was already used. Wait for the next one and try again."
        )
    return step
