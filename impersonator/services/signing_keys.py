"""The keys that sign `act` tokens (DESIGN §12), shared by every process through the database.

One key signs at a time: the newest unretired one. `rotate` adds a key that signs from now on and
retires the ones before; a retired key stays in the JWKS until every token it signed has expired
(`retired_at` + ACT_TOKEN_TTL_SECONDS, the longest an act token lives), then drops out. Its private
half is wiped at retirement, since it never signs again. Creating and rotating keys are audited (I1).
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from flask import current_app
from sqlalchemy import or_, select

from impersonator.extensions import db
from impersonator.models import SigningKey
from impersonator.services import audit, secret_box
from impersonator.services.audit import Actor
from impersonator.services.errors import DomainError

ALGORITHM = "EdDSA"
CURVE = "Ed25519"


class NoSigningKey(DomainError):
    """No key signs yet: an operator runs `flask act-keys rotate` once (`make run` seeds one)."""

    status = 503

    def __init__(self) -> None:
        super().__init__(
            "act_key_missing", "No key signs act tokens yet: run `flask act-keys rotate` once to create one."
        )


@dataclass(frozen=True)
class Rotation:
    """The key that signs from now on, and the keys it retired (published until `published_until`)."""

    kid: str
    retired: tuple[str, ...]
    published_until: datetime


@dataclass(frozen=True)
class KeyState:
    """A key as `flask act-keys list` shows it."""

    kid: str
    created_at: datetime
    retired_at: datetime | None
    published_until: datetime | None  # None: signing, published for as long as it signs
    state: str  # "signing", "published" (retired, verifying tokens in flight) or "gone"


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def thumbprint(x: str) -> str:
    """The RFC 7638 thumbprint of an Ed25519 public key (its JWK's `x`): the key's `kid`."""
    canonical = json.dumps({"crv": CURVE, "kty": "OKP", "x": x}, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode()).digest())


def max_token_lifetime() -> timedelta:
    """The longest an act token lives: how long a retired key stays published."""
    return timedelta(seconds=current_app.config["ACT_TOKEN_TTL_SECONDS"])


def _new_key(now: datetime) -> SigningKey:
    private = Ed25519PrivateKey.generate()
    x = _b64url(private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return SigningKey(
        kid=thumbprint(x),
        algorithm=ALGORITHM,
        public_key=x,
        private_key_encrypted=secret_box.encrypt(_b64url(raw)),
        created_at=now,
        activated_at=now,
    )


def _unretired(*, lock: bool) -> list[SigningKey]:
    query = select(SigningKey).where(SigningKey.retired_at.is_(None)).order_by(SigningKey.id)
    # Locked first (per-key rows before the audit head, the product's lock order): two rotations at
    # once queue here instead of both retiring the same key and each leaving its own key signing.
    return list(db.session.scalars(query.with_for_update() if lock else query))


def ensure_key(*, actor: Actor, ip: str | None, now: datetime) -> str | None:
    """Create the first signing key when none signs yet (audited); its kid, or None if one signs."""
    if _unretired(lock=True):
        db.session.commit()  # ends the transaction that holds the lock
        return None
    key = _new_key(now)
    db.session.add(key)
    db.session.flush()
    audit.record(
        "signing_key.created",
        actor=actor,
        at=now,
        ip=ip,
        target_type="signing_key",
        target_id=key.id,
        details={"kid": key.kid, "algorithm": ALGORITHM},
    )
    db.session.commit()
    return key.kid


def rotate(*, actor: Actor, ip: str | None, now: datetime) -> Rotation:
    """A new key signs from now on; the keys before retire, published until their tokens expire."""
    previous = _unretired(lock=True)
    key = _new_key(now)
    db.session.add(key)
    db.session.flush()
    for old in previous:
        old.retired_at = now
        old.private_key_encrypted = None  # it never signs again: keep no private material at rest
    published_until = now + max_token_lifetime()
    retired = tuple(old.kid for old in previous)
    audit.record(
        "signing_key.rotated",
        actor=actor,
        at=now,
        ip=ip,
        target_type="signing_key",
        target_id=key.id,
        details={"kid": key.kid, "retired": list(retired), "published_until": published_until.isoformat()},
    )
    db.session.commit()
    return Rotation(kid=key.kid, retired=retired, published_until=published_until)


def signing_key() -> tuple[str, Ed25519PrivateKey]:
    """The kid and private key that sign now (the newest unretired key), or NoSigningKey."""
    key = db.session.scalar(
        select(SigningKey)
        .where(SigningKey.retired_at.is_(None), SigningKey.private_key_encrypted.is_not(None))
        .order_by(SigningKey.id.desc())
        .limit(1)
    )
    if key is None:
        raise NoSigningKey()
    raw = _unb64url(secret_box.decrypt(key.private_key_encrypted))
    return key.kid, Ed25519PrivateKey.from_private_bytes(raw)


def published_keys(now: datetime) -> list[SigningKey]:
    """The keys a verifier may need now: the signing one, and the retired ones whose tokens may live."""
    horizon = now - max_token_lifetime()
    return list(
        db.session.scalars(
            select(SigningKey)
            .where(or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > horizon))
            .order_by(SigningKey.id.desc())
        )
    )


def jwk(key: SigningKey) -> dict[str, str]:
    """The public JWK of `key` (RFC 8037): never any private part."""
    return {"kty": "OKP", "crv": CURVE, "x": key.public_key, "kid": key.kid, "use": "sig", "alg": ALGORITHM}


def jwks(now: datetime) -> dict[str, Any]:
    """The JWKS document the console publishes at /.well-known/jwks.json."""
    return {"keys": [jwk(key) for key in published_keys(now)]}


def list_keys(now: datetime) -> list[KeyState]:
    """Every key, newest first, with whether it signs, is still published, or is gone."""
    lifetime = max_token_lifetime()
    states: list[KeyState] = []
    for key in db.session.scalars(select(SigningKey).order_by(SigningKey.id.desc())):
        until = key.retired_at + lifetime if key.retired_at else None
        if until is None:
            # Only the newest unretired key signs (two racing first starts may leave two).
            state = "published" if any(s.state == "signing" for s in states) else "signing"
        else:
            state = "published" if until > now else "gone"
        states.append(KeyState(key.kid, key.created_at, key.retired_at, until, state))
    return states
