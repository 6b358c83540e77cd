"""Keys of their own for each purpose (DESIGN I12): derived from SECRET_KEY with HKDF and a purpose
label unless configured explicitly, so one leaked key never opens another feature."""

from __future__ import annotations

from functools import lru_cache

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app


def derived_key(purpose: str) -> bytes:
    """32 bytes for `purpose`, derived from the app's SECRET_KEY."""
    return _derive(current_app.secret_key, purpose)


@lru_cache(maxsize=64)
def _derive(secret_key: str, purpose: str) -> bytes:
    # Cached: the derivation runs on hot paths (every redemption) and its inputs rarely change.
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"impersonator:{purpose}".encode())
    return hkdf.derive(secret_key.encode())
