"""Keys of their own for each purpose (DESIGN I12): derived from SECRET_KEY with HKDF and a purpose
label unless configured explicitly, so one leaked key never opens another feature."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app


def derived_key(purpose: str) -> bytes:
    """32 bytes for `purpose`, derived from the app's SECRET_KEY."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"impersonator:{purpose}".encode())
    return hkdf.derive(current_app.secret_key.encode())
