"""One-time redirect tokens (DESIGN I3).

itsdangerous with a salt of its own and a list of keys for rotation. The signature is checked
before anything in the token is read; the token carries only ids and its audience (the tenant
domain), never personal data, and lives TOKEN_TTL_SECONDS.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from impersonator.services.errors import DomainError
from impersonator.services.keys import derived_key

SALT = "impersonator.redirect-token.v1"
MAX_TOKEN_LENGTH = 1000


@dataclass(frozen=True)
class Claims:
    impersonation_id: int
    jti: str
    audience: str


class TokenInvalid(DomainError):
    status = 400

    def __init__(self) -> None:
        super().__init__("forged", "This impersonation link is not valid.")


class TokenExpired(DomainError):
    """The signature is good but the token is too old; its claims are still known (for the audit)."""

    status = 410

    def __init__(self, claims: Claims | None) -> None:
        super().__init__("expired", "This impersonation link has expired. Start again from the console.")
        self.claims = claims


def _serializer() -> URLSafeTimedSerializer:
    keys = current_app.config["TOKEN_SIGNING_KEYS"] or [derived_key("redirect-tokens").hex()]
    # itsdangerous signs with the last key and verifies with all; the config lists newest first.
    return URLSafeTimedSerializer(list(reversed(keys)), salt=SALT)


def issue(claims: Claims) -> str:
    """Sign `claims` into a token."""
    return _serializer().dumps({"i": claims.impersonation_id, "j": claims.jti, "a": claims.audience})


def _claims(payload: object) -> Claims:
    if not isinstance(payload, dict):
        raise TokenInvalid()
    iid, jti, audience = payload.get("i"), payload.get("j"), payload.get("a")
    if not isinstance(iid, int) or not isinstance(jti, str) or not isinstance(audience, str):
        raise TokenInvalid()
    return Claims(iid, jti, audience)


def read(token: str | None) -> Claims:
    """Verify signature and age, then return the claims; TokenExpired or TokenInvalid otherwise."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise TokenInvalid()
    serializer = _serializer()
    try:
        payload = serializer.loads(token, max_age=current_app.config["TOKEN_TTL_SECONDS"])
    except SignatureExpired as expired:  # a subclass of BadSignature: catch it first
        try:
            claims = _claims(serializer.load_payload(expired.payload))
        except (BadSignature, TokenInvalid):
            claims = None
        raise TokenExpired(claims) from None
    except BadSignature:
        raise TokenInvalid() from None
    return _claims(payload)
