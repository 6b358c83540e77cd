"""One-time redirect tokens (DESIGN I3): signed with a salt of their own, keys rotated by a list,
the signature checked before anything is read, TokenExpired told apart from TokenInvalid."""

from __future__ import annotations

import base64
import json

import pytest
from itsdangerous import URLSafeTimedSerializer

from impersonator import create_app
from impersonator.services.impersonation import tokens
from impersonator.services.impersonation.tokens import Claims
from impersonator.services.keys import derived_key
from tests.conftest import config_for

CLAIMS = Claims(impersonation_id=42, jti="a-random-token-id", audience="acme.localhost")


def token_app(**overrides):
    """An app for tokens alone: they read keys from the config and never touch the database."""
    return create_app(config_for("sqlite://", **overrides))


def issue(claims: Claims = CLAIMS, **config) -> str:
    with token_app(**config).app_context():
        return tokens.issue(claims)


def read(token: str | None, **config) -> Claims:
    with token_app(**config).app_context():
        return tokens.read(token)


def payload_of(token: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))


def sign(payload, *, key: str | None = None, salt: str = tokens.SALT) -> str:
    """Sign `payload` as tokens.issue does, with our key unless told otherwise."""
    if key is None:
        with token_app().app_context():
            key = derived_key("redirect-tokens").hex()
    return URLSafeTimedSerializer([key], salt=salt).dumps(payload)


def test_i3_a_token_reads_back_its_claims(clock):
    assert read(issue()) == CLAIMS


def test_i3_a_token_carries_ids_and_audience_only():
    token = issue()

    assert payload_of(token) == {"i": 42, "j": "a-random-token-id", "a": "acme.localhost"}


def test_i3_a_token_is_url_safe_and_short():
    token = issue()

    assert len(token) < tokens.MAX_TOKEN_LENGTH
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def test_i3_a_flipped_character_is_invalid(clock):
    token = issue()
    for index in (3, len(token) // 2, len(token) - 3):
        flipped = token[:index] + ("A" if token[index] != "A" else "B") + token[index + 1 :]
        with pytest.raises(tokens.TokenInvalid):
            read(flipped)


def test_i3_a_token_signed_with_another_key_is_invalid(clock):
    with pytest.raises(tokens.TokenInvalid):
        read(sign({"i": 42, "j": "a-random-token-id", "a": "acme.localhost"}, key="someone else's key"))


def test_i3_a_token_with_another_salt_is_invalid(clock):
    """A signature made for another purpose with the same key (a session cookie, say) is no token."""
    with pytest.raises(tokens.TokenInvalid):
        read(
            sign(
                {"i": 42, "j": "a-random-token-id", "a": "acme.localhost"}, salt="impersonator-tenant-session"
            )
        )


def test_i3_the_signing_recipe_above_makes_good_tokens(clock):
    """The control for the two tests above: our key and our salt make a token that reads."""
    assert read(sign({"i": 42, "j": "a-random-token-id", "a": "acme.localhost"})) == CLAIMS


@pytest.mark.parametrize(
    "payload",
    [
        [42, "jti", "acme.localhost"],
        {"i": "42", "j": "jti", "a": "acme.localhost"},
        {"i": 10**30, "j": "jti", "a": "acme.localhost"},
        {"i": True, "j": "jti", "a": "acme.localhost"},
        {"i": 0, "j": "jti", "a": "acme.localhost"},
        {"i": 42, "a": "x"},
        "text",
    ],
    ids=["a list", "id as text", "id no table holds", "id a bool", "id zero", "no jti", "a string"],
)
def test_i3_a_well_signed_token_of_the_wrong_shape_is_invalid(clock, payload):
    with pytest.raises(tokens.TokenInvalid):
        read(sign(payload))


@pytest.mark.parametrize("token", [None, "", "x" * (tokens.MAX_TOKEN_LENGTH + 1), "no-dots-at-all"])
def test_i3_missing_or_absurd_tokens_are_invalid(token):
    with pytest.raises(tokens.TokenInvalid):
        read(token)


def test_i3_a_token_lives_token_ttl_seconds(clock):
    token = issue()

    clock.advance(seconds=60)
    assert read(token) == CLAIMS
    clock.advance(seconds=1)
    with pytest.raises(tokens.TokenExpired) as expired:
        read(token)

    assert expired.value.claims == CLAIMS  # known, so the audit can name the impersonation
    assert not isinstance(expired.value, tokens.TokenInvalid)


def test_i3_token_ttl_seconds_is_read_from_the_config(clock):
    token = issue()
    clock.advance(seconds=100)

    assert read(token, TOKEN_TTL_SECONDS=120) == CLAIMS
    with pytest.raises(tokens.TokenExpired):
        read(token, TOKEN_TTL_SECONDS=60)


def test_i3_an_expired_forgery_is_invalid_not_expired(clock):
    """The signature is checked before the age: an old token with a bad signature says nothing."""
    forged = sign({"i": 42, "j": "a-random-token-id", "a": "acme.localhost"}, key="someone else's key")
    clock.advance(hours=1)

    with pytest.raises(tokens.TokenInvalid):
        read(forged)


def test_i3_key_rotation_new_key_signs_old_key_still_verifies(clock):
    old_token = issue(TOKEN_SIGNING_KEYS=["old key"])
    new_token = issue(TOKEN_SIGNING_KEYS=["new key", "old key"])

    assert read(old_token, TOKEN_SIGNING_KEYS=["new key", "old key"]) == CLAIMS
    assert read(new_token, TOKEN_SIGNING_KEYS=["new key"]) == CLAIMS
    with pytest.raises(tokens.TokenInvalid):
        read(new_token, TOKEN_SIGNING_KEYS=["old key"])
    with pytest.raises(tokens.TokenInvalid):
        read(old_token, TOKEN_SIGNING_KEYS=["new key"])


def test_i3_the_derived_key_depends_on_the_secret_key(clock):
    token = issue(SECRET_KEY="one secret key")

    assert read(token, SECRET_KEY="one secret key") == CLAIMS
    with pytest.raises(tokens.TokenInvalid):
        read(token, SECRET_KEY="another secret key")


# --- one spelling per token (itsdangerous decodes leniently) --------------------------------------


def respell(token: str, how: str) -> str:
    """Other spellings of the same bytes, each of which itsdangerous alone would accept."""
    payload, timestamp, signature = token.split(".")
    last = signature[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    # The signature's last character carries 2 bits that decoding drops: flip one of those.
    low_bits = alphabet[alphabet.index(last) ^ 1]
    return {
        "padding": f"{token}=",
        "padded payload": f"{payload}==.{timestamp}.{signature}",
        "newline": f"{token}\n",
        "inner newline": f"{payload}.{timestamp}.{signature[:5]}\n{signature[5:]}",
        "space": f"{payload}.{timestamp}. {signature}",
        "non-ascii": f"{payload}.{timestamp}.{signature[:4]}é{signature[4:]}",
        "plus and slash": f"{payload}.{timestamp}.{signature.replace('-', '+').replace('_', '/')}",
        "low bits": f"{payload}.{timestamp}.{signature[:-1]}{low_bits}",
        "extra dot": f"{token}.",
    }[how]


@pytest.mark.parametrize(
    "how",
    [
        "padding",
        "padded payload",
        "newline",
        "inner newline",
        "space",
        "non-ascii",
        "plus and slash",
        "low bits",
        "extra dot",
    ],
)
def test_i3_a_token_is_accepted_in_exactly_one_spelling(clock, how):
    token = issue()
    other = respell(token, how)
    if other == token:  # "plus and slash" when the signature has neither - and _: nothing to test
        pytest.skip("this token has no character to respell that way")

    with pytest.raises(tokens.TokenInvalid):
        read(other)
    assert read(token) == CLAIMS  # the control: the one spelling reads


def test_i3_the_low_bits_respelling_really_is_the_same_signature(clock):
    """The control for "low bits": without the spelling check, itsdangerous accepts it."""
    token = issue()
    with token_app().app_context():
        serializer = tokens._serializer()
        assert serializer.loads(respell(token, "low bits")) == serializer.loads(token)


def test_i3_a_token_from_the_future_is_refused_beyond_the_skew(clock):
    token = issue()
    clock.advance(seconds=-5)
    assert read(token) == CLAIMS  # TOKEN_CLOCK_SKEW_SECONDS (5) ahead: accepted

    clock.advance(seconds=-1)
    with pytest.raises(tokens.TokenNotYetValid) as refused:
        read(token)
    assert refused.value.claims == CLAIMS  # known, so the audit names the impersonation
