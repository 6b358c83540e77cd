"""Password hashing (DESIGN I12): Werkzeug's scrypt by default, the method named in config."""

from __future__ import annotations

from flask import current_app
from werkzeug.security import check_password_hash, generate_password_hash

# A new password, whoever chooses it (a customer, a staff member at enrolment).
PASSWORD_MIN = 12
PASSWORD_MAX = 1024

_dummy_hash: dict[str, str] = {}


def new_password_problem(password: str) -> str | None:
    """What is wrong with a newly chosen password, in a sentence, or None."""
    if len(password) < PASSWORD_MIN:
        return f"Choose a password of at least {PASSWORD_MIN} characters."
    if len(password) > PASSWORD_MAX:
        return f"The password must be at most {PASSWORD_MAX} characters."
    if "\x00" in password:
        return "The password contains a NUL byte; please remove it."
    return None


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
