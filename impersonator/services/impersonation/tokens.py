"""One-time redirect tokens (DESIGN I3).

itsdangerous with a salt of its own and a list of keys for rotation. The signature is checked
before anything in the token is read; the token carries only ids and its audience (the tenant
domain), never personal data, and lives TOKEN_TTL_SECONDS. A token signed up to
TOKEN_CLOCK_SKEW_SECONDS in the future is accepted (the console and a tenant may run on two machines
whose clocks drift); one signed further ahead is refused. Each token has exactly one spelling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from itsdangerous import BadData, BadSignature, URLSafeTimedSerializer
from itsdangerous.encoding import base64_decode, base64_encode

from impersonator import clock
from impersonator.services.errors import DomainError
from impersonator.services.keys import derived_key
from impersonator.services.validation import row_id

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


class TokenNotYetValid(DomainError):
    """Signed later than now by more than the allowed clock skew: the console's clock and this
    site's disagree (or someone signs tokens ahead). Refused and audited, never accepted."""

    status = 400

    def __init__(self, claims: Claims) -> None:
        super().__init__(
            "clock_skew",
            "This impersonation link is not valid yet: the console's clock and this site's disagree. "
            "Start again from the console, and tell your administrator if it happens again.",
        )
        self.claims = claims


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
    iid, jti, audience = row_id(payload.get("i")), payload.get("j"), payload.get("a")
    if iid is None or not isinstance(jti, str) or not isinstance(audience, str):
        raise TokenInvalid()
    return Claims(iid, jti, audience)


def read(token: str | None, *, now: datetime | None = None) -> Claims:
    """Verify spelling, signature and age, then return the claims; TokenExpired, TokenNotYetValid
    or TokenInvalid otherwise. Nothing in the token is read before its signature is checked."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not canonical(token):
        raise TokenInvalid()
    serializer = _serializer()
    try:
        # Signature only: the age is judged below, against `now` and the allowed clock skew.
        payload, signed_at = serializer.loads(token, return_timestamp=True)
    except BadSignature:
        raise TokenInvalid() from None
    claims = _claims(payload)
    config = current_app.config
    # Whole seconds, as itsdangerous stamps them: a token lives exactly TOKEN_TTL_SECONDS.
    age = int((now or clock.now()).timestamp()) - int(signed_at.timestamp())
    if age < -config["TOKEN_CLOCK_SKEW_SECONDS"]:
        raise TokenNotYetValid(claims)
    if age > config["TOKEN_TTL_SECONDS"]:
        raise TokenExpired(claims)
    return claims


# One spelling per token: itsdangerous decodes leniently (it drops characters outside the alphabet,
# adds padding, ignores the low bits of a last character), so one token has many spellings that all
# verify. Only the spelling that `issue` writes is accepted.
_PART = re.compile(r"[A-Za-z0-9_-]+")


def canonical(token: str) -> bool:
    """Is `token` written exactly as `issue` writes tokens: payload, timestamp and signature in
    unpadded URL-safe base64 (a compressed payload starts with a dot), each re-encoding to itself?"""
    parts = token.removeprefix(".").split(".")
    if len(parts) != 3:
        return False
    for part in parts:
        if not _PART.fullmatch(part):
            return False
        try:
            if base64_encode(base64_decode(part)) != part.encode("ascii"):
                return False
        except BadData:
            return False
    return True
