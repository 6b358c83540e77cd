"""`act` tokens: what the tenant side hands the product's own back-ends during a ghost session
(DESIGN §12, RFC 8693 §4.1): a short-lived JWT saying "user U, acted on by staff member S".

Claims: `iss` the console's origin, `sub` the customer user's id, `act` {`sub`: the staff member's
id, `name`: their display name}, `aud` one back-end of ACT_TOKEN_AUDIENCES, `iat`, `exp` (at most
ACT_TOKEN_TTL_SECONDS later, and never past the session's end), `jti`, `imp` the impersonation's id
and `imp_mode` its mode. Signed EdDSA (Ed25519) with the key services/signing_keys.py keeps, its
`kid` in the header; back-ends verify it with the console's JWKS (/.well-known/jwks.json).

Minting takes the `Ghost` that the ghost guard (kit/ghost.py) checked on the server for this very
request, so a session that has ended, expired or lost its staff member's standing mints nothing.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

import jwt
from flask import current_app

from impersonator.services import links, signing_keys
from impersonator.services.errors import NotAllowed
from impersonator.services.impersonation.ghost import Ghost, ImpersonationEnded

ALGORITHM = signing_keys.ALGORITHM
# What a verifier must find in every act token (PyJWT's `require`).
REQUIRED_CLAIMS = ("iss", "sub", "aud", "iat", "exp", "jti", "act", "imp", "imp_mode")


class AudienceNotAllowed(NotAllowed):
    def __init__(self, audience: str) -> None:
        super().__init__(
            "act_audience_not_allowed",
            f"No act token is minted for {audience[:100]!r}: it is not in ACT_TOKEN_AUDIENCES.",
        )


def issuer() -> str:
    """The `iss` of every act token: the console's origin, from configuration."""
    return links.console_origin()


def mint(ghost: Ghost, *, audience: str, now: datetime) -> str:
    """A signed act token for `audience` during `ghost`'s session (checked this request by the guard).

    Raises AudienceNotAllowed for a back-end not in ACT_TOKEN_AUDIENCES, ImpersonationEnded when the
    session has no whole second left, NoSigningKey before the first key exists."""
    if audience not in current_app.config["ACT_TOKEN_AUDIENCES"]:
        raise AudienceNotAllowed(audience)
    issued_at = int(now.timestamp())
    # Whole seconds, rounded down: the token never outlives the session, even by a fraction.
    expires = min(issued_at + current_app.config["ACT_TOKEN_TTL_SECONDS"], int(ghost.expires_at.timestamp()))
    if expires <= issued_at:
        raise ImpersonationEnded("expired")
    kid, private_key = signing_keys.signing_key()
    claims: dict[str, Any] = {
        "iss": issuer(),
        "sub": str(ghost.user_id),
        "act": {"sub": str(ghost.staff_id), "name": ghost.staff_name},
        "aud": audience,
        "iat": issued_at,
        "exp": expires,
        "jti": secrets.token_urlsafe(16),
        "imp": ghost.impersonation_id,
        "imp_mode": ghost.mode,
    }
    return jwt.encode(claims, private_key, algorithm=ALGORITHM, headers={"kid": kid, "typ": "JWT"})


def verify(token: str, *, audience: str, now: datetime) -> dict[str, Any]:
    """The claims of `token` if it verifies as a back-end would (signature by a key of the published
    JWKS, issuer, audience, expiry, every claim present), else a jwt.InvalidTokenError. For the
    demo app's own back-end; another back-end uses PyJWKClient on the console's JWKS URL."""
    kid = jwt.get_unverified_header(token).get("kid")
    try:
        key = jwt.PyJWKSet.from_dict(signing_keys.jwks(now))[kid]
    except (KeyError, jwt.PyJWKSetError) as exc:
        raise jwt.InvalidSignatureError("the token's key is not published") from exc
    return jwt.decode(
        token,
        key,
        algorithms=[ALGORITHM],
        audience=audience,
        issuer=issuer(),
        options={"require": list(REQUIRED_CLAIMS)},
    )
