"""API keys: created by an admin and shown once, stored only as a keyed hash, scoped, revocable.

A key reads `imp_live_<id>_<secret>`: the id finds the row (no scan over hashes, no timing oracle
on which secrets exist), the secret is compared as HMAC-SHA256 under a key of its own derived from
SECRET_KEY (services/keys.py) with `hmac.compare_digest`. The secret has 256 bits, so the keyed hash
is not there to slow guessing but so a copy of the table alone verifies nothing. Rotating
SECRET_KEY therefore invalidates every API key: admins create new ones.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select, update
from sqlalchemy.orm import joinedload

from impersonator.extensions import db
from impersonator.models import API_SCOPES, ApiKey, Staff
from impersonator.services import audit
from impersonator.services.audit import Actor
from impersonator.services.errors import DomainError, InvalidInput
from impersonator.services.keys import derived_key
from impersonator.services.staff.roles import Permission, allows
from impersonator.services.validation import clean_text

PREFIX = "imp_live_"
NAME_MAX_CHARS = 100
REVEAL_SECONDS = 300  # how long a new key may wait, sealed in the admin's cookie, to be shown once
_KEY = re.compile(r"imp_live_([1-9][0-9]{0,17})_([A-Za-z0-9_-]{43})")


class KeyRefused(DomainError):
    """No key, a malformed one, an unknown, wrong or revoked one: one answer for all (401)."""

    status = 401

    def __init__(self, reason: str) -> None:
        super().__init__(reason, "A valid API key is required: send it as “Authorization: Bearer <key>”.")


class ApiKeyNotFound(InvalidInput):
    status = 404

    def __init__(self) -> None:
        super().__init__("api_key_not_found", "There is no such API key.")


@dataclass(frozen=True)
class CreatedKey:
    """A new key's row and the key itself, which exists only here and on the page shown once."""

    api_key: ApiKey
    plaintext: str


def _hash(secret: str) -> str:
    return hmac.new(derived_key("api-keys"), secret.encode(), hashlib.sha256).hexdigest()


def key_actor(api_key: ApiKey) -> Actor:
    """How the trail names a key: the key itself, with the admin who created it in its label."""
    creator = api_key.created_by.email if api_key.created_by else f"staff #{api_key.created_by_id}"
    return Actor("api_key", api_key.id, f"API key “{api_key.name}” #{api_key.id} (created by {creator})")


def key_id_of(presented: str | None) -> int | None:
    """The id a presented key claims, for the audit of a refusal (never the secret)."""
    match = _KEY.fullmatch(presented or "")
    return int(match.group(1)) if match else None


def create(name: str | None, scopes: list[str], *, admin: Staff, ip: str | None, now: datetime) -> CreatedKey:
    """A new key with `scopes`, audited; the plaintext key is returned once and never stored."""
    name = clean_text(name, "Name", max_length=NAME_MAX_CHARS)
    chosen = sorted(set(scopes or []))
    if not chosen:
        raise InvalidInput("no_scope", "Choose at least one scope.")
    unknown = [scope for scope in chosen if scope not in API_SCOPES]
    if unknown:
        raise InvalidInput("unknown_scope", f"Unknown scope: {', '.join(unknown)}.")
    secret = secrets.token_urlsafe(32)  # 43 characters of [A-Za-z0-9_-]
    api_key = ApiKey(
        name=name,
        scopes=" ".join(chosen),
        secret_hash=_hash(secret),
        created_by_id=admin.id,
        created_at=now,
    )
    db.session.add(api_key)
    db.session.flush()
    audit.record(
        "api_key.created",
        actor=Actor.staff(admin),
        at=now,
        ip=ip,
        target_type="api_key",
        target_id=api_key.id,
        details={"name": name, "scopes": chosen},
    )
    db.session.commit()
    return CreatedKey(api_key, f"{PREFIX}{api_key.id}_{secret}")


def revoke(key_id: int, *, admin: Staff, ip: str | None, now: datetime) -> bool:
    """Revoke a key at once (its next call is refused); audited once. False if it was revoked already."""
    api_key = db.session.get(ApiKey, key_id)
    if api_key is None:
        raise ApiKeyNotFound()
    result = db.session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=now, revoked_by_id=admin.id)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.rollback()
        return False
    audit.record(
        "api_key.revoked",
        actor=Actor.staff(admin),
        at=now,
        ip=ip,
        target_type="api_key",
        target_id=key_id,
        details={"name": api_key.name},
    )
    db.session.commit()
    return True


def listing() -> list[ApiKey]:
    """Every key, live ones first, newest first."""
    return list(
        db.session.scalars(
            select(ApiKey)
            .options(joinedload(ApiKey.created_by))
            .order_by(ApiKey.revoked_at.is_not(None), ApiKey.id.desc())
        )
    )


def get(key_id: int) -> ApiKey:
    """One key (for the page that shows a new one once)."""
    api_key = db.session.get(ApiKey, key_id)
    if api_key is None:
        raise ApiKeyNotFound()
    return api_key


def authenticate(authorization: str | None) -> ApiKey:
    """The live key an `Authorization: Bearer <key>` header names; KeyRefused otherwise.

    A key stops working when revoked, and when the admin who created it is disabled or is no longer
    an admin: a key never outlives its creator's standing (as a ghost session never outlives its
    staff member's, DESIGN I4)."""
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise KeyRefused("api_key_missing")
    match = _KEY.fullmatch(presented.strip())
    if match is None:
        raise KeyRefused("api_key_malformed")
    api_key = db.session.scalar(
        select(ApiKey).options(joinedload(ApiKey.created_by)).where(ApiKey.id == int(match.group(1)))
    )
    # Compared even for an unknown id, so that the answer takes as long either way.
    expected = api_key.secret_hash if api_key is not None else "0" * 64
    if not hmac.compare_digest(_hash(match.group(2)), expected) or api_key is None:
        raise KeyRefused("api_key_unknown")
    if api_key.revoked_at is not None:
        raise KeyRefused("api_key_revoked")
    creator = api_key.created_by
    if creator is None or not creator.active or not allows(creator.role, Permission.ADMIN):
        raise KeyRefused("api_key_creator_inactive")
    return api_key


def has_scope(api_key: ApiKey, scope: str) -> bool:
    """Does the key carry `scope`?"""
    return scope in api_key.scope_list


def _reveal_box() -> Fernet:
    return Fernet(base64.urlsafe_b64encode(derived_key("api-key-reveal")))


def seal(plaintext: str) -> str:
    """The new key encrypted for the one page that shows it (it rides in the admin's session cookie
    from the POST to the GET after the redirect; the database never holds it)."""
    return _reveal_box().encrypt(plaintext.encode()).decode()


def unseal(sealed: object, *, now: datetime) -> str | None:
    """The key sealed by `seal`, if it is at most REVEAL_SECONDS old; None otherwise."""
    if not isinstance(sealed, str):
        return None
    try:
        return _reveal_box().decrypt_at_time(sealed.encode(), REVEAL_SECONDS, int(now.timestamp())).decode()
    except (InvalidToken, ValueError):
        return None
