"""Encryption of secrets at rest (TOTP secrets, DESIGN I12) with Fernet.

Keys come from TOTP_ENCRYPTION_KEYS (newest first, older ones still decrypt, for rotation); without
them a key is derived from SECRET_KEY with HKDF and a purpose label of its own.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app

from impersonator.services.keys import derived_key


class SecretUnreadable(Exception):
    """A stored secret does not decrypt with any configured key."""


def _box() -> MultiFernet:
    keys = current_app.config["TOTP_ENCRYPTION_KEYS"] or [
        base64.urlsafe_b64encode(derived_key("totp-secrets"))
    ]
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
