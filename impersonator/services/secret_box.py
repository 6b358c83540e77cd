"""Encryption of secrets at rest (TOTP secrets, DESIGN I12) with Fernet.

Keys come from TOTP_ENCRYPTION_KEYS (newest first, older ones still decrypt, for rotation); without
them a key is derived from SECRET_KEY with HKDF and a purpose label of its own.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app


class SecretUnreadable(Exception):
    """A stored secret does not decrypt with any configured key."""


def _derived_key(secret_key: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"impersonator:totp-secrets")
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode()))


def _box() -> MultiFernet:
    keys = current_app.config["TOTP_ENCRYPTION_KEYS"] or [_derived_key(current_app.secret_key)]
    return MultiFernet([Fernet(key) for key in keys])


def encrypt(plaintext: str) -> str:
    """Encrypt with the newest key."""
    return _box().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    """Decrypt with any configured key."""
    try:
        return _box().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("stored secret does not decrypt with the configured keys") from exc
