"""The console's JWKS (`/.well-known/jwks.json`): the public keys that verify `act` tokens (DESIGN
§12), for the product's own back-ends. Public, without sign-in or cookie; only public key parts."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from impersonator import clock
from impersonator.services import signing_keys
from impersonator.web import public

bp = Blueprint("jwks", __name__)

# Short, so a verifier sees a new key soon after a rotation (PyJWKClient also refetches the set when
# a token names a kid it does not know), and long enough to spare the database a request per token.
MAX_AGE_SECONDS = 60


@bp.get("/.well-known/jwks.json")
@public
def keys() -> Response:
    """The published keys: the one that signs, and retired ones until their last token expires."""
    response = jsonify(signing_keys.jwks(clock.now()))
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE_SECONDS}"
    return response
