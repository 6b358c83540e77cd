"""Customer sign-in on a tenant domain: email and password, separate from staff sign-in (DESIGN §2)."""

from __future__ import annotations

import hashlib
from datetime import datetime

from flask import current_app
from sqlalchemy import select

from impersonator.extensions import db
from impersonator.models import Tenant, User
from impersonator.services import audit, throttle
from impersonator.services.audit import Actor
from impersonator.services.errors import DomainError, Locked
from impersonator.services.passwords import verify_password
from impersonator.services.secret_text import same_secret
from impersonator.services.validation import normalise_email, row_id


class CustomerSignInRefused(DomainError):
    status = 401

    def __init__(self) -> None:
        super().__init__("bad_credentials", "Incorrect email or password.")


def failure_key(tenant: Tenant, email: str) -> str:
    """The counter key of wrong passwords for this account name on this tenant."""
    return throttle.email_key(f"tenant:{tenant.id}:{email}")


def sign_in(tenant: Tenant, email_input: str | None, password: str, *, ip: str | None, now: datetime) -> User:
    """The active user of `tenant` with this email and password, or CustomerSignInRefused."""
    email = normalise_email(email_input)
    key = failure_key(tenant, email)
    locked = throttle.locked_until(key, now)
    if locked:
        raise Locked("account_locked", locked)
    user = db.session.scalar(select(User).where(User.tenant_id == tenant.id, User.email == email))
    password_ok = verify_password(user.password_hash if user else None, password)
    if user is None or not password_ok or not user.active:
        until = throttle.record_failure(key, throttle.account_limit(), now)
        if until:
            audit.record(
                "customer.locked",
                actor=Actor.anonymous(email),
                at=now,
                ip=ip,
                outcome="denied",
                tenant_id=tenant.id,
                target_type="user" if user else None,
                target_id=user.id if user else None,
                details={"email": email, "until": until.isoformat()},
            )
        db.session.commit()
        raise CustomerSignInRefused()
    throttle.clear(key)
    user.last_sign_in_at = now
    db.session.commit()
    return user


def session_state(user: User, now: datetime) -> dict:
    """What a customer's session cookie holds: who, since when, and a fingerprint of the password
    hash, so changing the password signs every other browser out."""
    return {"user_id": user.id, "at": now.timestamp(), "pw": _password_fingerprint(user)}


def signed_in_user(tenant: Tenant, state: dict, *, now: datetime) -> User | None:
    """The user a tenant session cookie speaks for, if still valid on this tenant."""
    if not isinstance(state, dict):  # a cookie's contents are input: any other shape is signed out
        return None
    user_id, signed_in_at, fingerprint = row_id(state.get("user_id")), state.get("at"), state.get("pw")
    if user_id is None or not isinstance(signed_in_at, float) or not isinstance(fingerprint, str):
        return None
    max_age = current_app.config["TENANT_SESSION_HOURS"] * 3600
    if now.timestamp() - signed_in_at > max_age:
        return None
    user = db.session.get(User, user_id)
    if user is None or not user.active or user.tenant_id != tenant.id:
        return None
    if not same_secret(fingerprint, _password_fingerprint(user)):
        return None
    return user


def _password_fingerprint(user: User) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:32]
