"""Support access codes (DESIGN §9, I5): 8 characters of Crockford base32 shown as XXXX-XXXX,
valid ACCESS_CODE_TTL_MINUTES, single use, stored only as a keyed hash (HMAC with a key of its own:
the code is short, so a plain hash could be brute-forced offline). Entry is forgiving of case,
spaces and dashes, strict about everything else. Wrong codes are counted per user and locked.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select, update

from impersonator.extensions import db
from impersonator.models import AccessCode, User
from impersonator.services import throttle, wording
from impersonator.services.errors import InvalidInput
from impersonator.services.keys import derived_key

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
LENGTH = 8
# Crockford decoding: letters people confuse with digits read as those digits.
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1"})


class AccessCodeRejected(InvalidInput):
    """reason: access_code_malformed | access_code_wrong | access_code_expired (each counts toward
    the lock alike: an expired code is a failed attempt too, DESIGN I6)."""

    status = 403


def normalise(code: str | None) -> str:
    """`abcd-ef12` → `ABCDEF12`; refuses anything that is not 8 Crockford characters."""
    text = (code or "").strip()
    if len(text) > 32:
        raise AccessCodeRejected("access_code_malformed", "A support access code looks like ABCD-EF12.")
    cleaned = "".join(ch for ch in text if ch not in " -").upper().translate(_CONFUSABLE)
    if len(cleaned) != LENGTH or any(ch not in ALPHABET for ch in cleaned):
        raise AccessCodeRejected("access_code_malformed", "A support access code looks like ABCD-EF12.")
    return cleaned


def display(code: str) -> str:
    """`ABCDEF12` → `ABCD-EF12`."""
    return f"{code[:4]}-{code[4:]}"


def _hash(user_id: int, code: str) -> str:
    # The user id is inside the MAC: a code hash can never match another user's row.
    message = f"{user_id}:{code}".encode()
    return hmac.new(derived_key("access-codes"), message, hashlib.sha256).hexdigest()


def failure_key(user_id: int) -> str:
    return f"access-code:user:{user_id}"


def failure_limit() -> throttle.Limit:
    config = current_app.config
    lock = timedelta(minutes=config["ACCESS_CODE_LOCK_MINUTES"])
    return throttle.Limit(threshold=config["ACCESS_CODE_MAX_FAILURES"], window=lock, lock_for=lock)


def generate(user: User, *, now: datetime) -> str:
    """A new code for `user`, replacing any earlier one; returns it for display, once."""
    revoke_all(user.id, now=now)
    code = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    ttl = timedelta(minutes=current_app.config["ACCESS_CODE_TTL_MINUTES"])
    db.session.add(
        AccessCode(user_id=user.id, code_hash=_hash(user.id, code), created_at=now, expires_at=now + ttl)
    )
    db.session.flush()
    return display(code)


def revoke_all(user_id: int, *, now: datetime) -> int:
    """Revoke every usable code of the user (in the caller's transaction)."""
    result = db.session.execute(
        update(AccessCode)
        .where(AccessCode.user_id == user_id, AccessCode.used_at.is_(None), AccessCode.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def consume(user: User, code: str | None, *, now: datetime) -> None:
    """Use the user's current code once (an atomic conditional UPDATE), or AccessCodeRejected."""
    cleaned = normalise(code)
    used = db.session.execute(
        update(AccessCode)
        .where(
            AccessCode.user_id == user.id,
            AccessCode.code_hash == _hash(user.id, cleaned),
            AccessCode.used_at.is_(None),
            AccessCode.revoked_at.is_(None),
            AccessCode.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if used.rowcount == 1:
        return
    if _lapsed(user.id, cleaned, now=now):
        raise AccessCodeRejected("access_code_expired", wording.ACCESS_CODE_EXPIRED)
    raise AccessCodeRejected(
        "access_code_wrong",
        "That support access code is not valid: it may be mistyped, used, expired or revoked.",
    )


def _lapsed(user_id: int, cleaned: str, *, now: datetime) -> bool:
    """Is `cleaned` this user's code, never used nor replaced, that ran out of time (the customer read
    it out, then the form sat open past its expiry)? Read only after the code was refused."""
    found = db.session.scalar(
        select(AccessCode.id)
        .where(
            AccessCode.user_id == user_id,
            AccessCode.code_hash == _hash(user_id, cleaned),
            AccessCode.used_at.is_(None),
            AccessCode.revoked_at.is_(None),
            AccessCode.expires_at <= now,
        )
        .limit(1)
    )
    return found is not None
