"""Password hashing (DESIGN I12): Werkzeug's scrypt by default, the method named in config."""

from __future__ import annotations

from flask import current_app
from werkzeug.security import check_password_hash, generate_password_hash

_dummy_hash: dict[str, str] = {}


def hash_password(password: str) -> str:
    """A salted hash of `password` with the configured method."""
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check `password`; with no hash (unknown account) spend the same time and answer False,
    so response times do not tell whether an account exists."""
    if password_hash is None:
        method = current_app.config["PASSWORD_HASH_METHOD"]
        if method not in _dummy_hash:
            _dummy_hash[method] = generate_password_hash("not-a-password", method=method)
        check_password_hash(_dummy_hash[method], password)
        return False
    return check_password_hash(password_hash, password)
