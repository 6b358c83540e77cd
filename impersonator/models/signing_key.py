"""The keys that sign `act` tokens for the product's own back-ends (DESIGN §12).

Kept in the database, so that every web process on every machine signs with the same key and the
console publishes the same JWKS. The private half is encrypted at rest (services/secret_box.py) and
wiped once the key is retired: from then on it only verifies, through its published public half.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from impersonator.clock import now
from impersonator.extensions import db
from impersonator.models.types import UTCDateTime


class SigningKey(db.Model):
    """One Ed25519 key pair; the newest activated, unretired one signs."""

    __tablename__ = "signing_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    # RFC 7638 thumbprint of the public key: the `kid` of the tokens and of the JWKS entry.
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    # The raw public key, base64url without padding (the JWK's `x`).
    public_key: Mapped[str] = mapped_column(String(64))
    # The private key, encrypted (Fernet); None once the key is retired.
    private_key_encrypted: Mapped[str | None] = mapped_column(Text())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=now)
    activated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
