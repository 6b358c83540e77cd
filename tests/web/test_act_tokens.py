"""`act` tokens minted by the tenant side during a ghost session (DESIGN §12, issue 15 part 2), as a
back-end meets them: verified with the public key that PyJWT's PyJWKClient fetches over HTTP from the
console's JWKS on a real server. Outside a ghost session, or once it has ended, nothing is minted."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt
import pytest
from sqlalchemy import func, select

from impersonator.extensions import db
from impersonator.models import SigningKey
from impersonator.services import signing_keys
from impersonator.services.audit import Actor
from impersonator.services.demo import seed_demo
from impersonator.services.impersonation.act_tokens import AudienceNotAllowed
from tests.support.act_tokens import ISSUER, mint_in_tenant_request, served
from tests.support.impersonation import ENDED_TITLE, end_ghost, launch_and_redeem, the_impersonation
from tests.support.web import ACME, sign_in, sign_in_customer

TTL = 300
ACT_CARD = "Act token sent to projects-api"


@pytest.fixture
def keyed(app, clock):
    """The first signing key, as `make run` seeds it and `flask act-keys rotate` makes it."""
    with app.app_context():
        signing_keys.ensure_key(actor=Actor.system("cli"), ip=None, now=clock.now())


@pytest.fixture
def staff_member(make_staff):
    return make_staff("support")


@pytest.fixture
def ghost(client, staff_member, alice, clock, keyed):
    """The support agent's browser, impersonating Alice read-only for 60 minutes."""
    sign_in(client, staff_member, clock)
    assert launch_and_redeem(client, staff_member, clock, alice).redeemed.status_code == 303
    return client


def rotate(app, clock) -> str:
    with app.app_context():
        return signing_keys.rotate(actor=Actor.system("cli"), ip=None, now=clock.now()).kid


# --- verified with the JWKS, over HTTP ------------------------------------------------------------------


def test_a_ghost_sessions_token_verifies_with_the_key_fetched_from_the_jwks_over_http(
    app, ghost, staff_member, alice, clock
):
    token = mint_in_tenant_request(app, ghost)
    now = int(clock.now().timestamp())

    with served(app) as server:
        claims = server.verify(token)

    jti = claims.pop("jti")
    assert claims == {
        "iss": ISSUER,
        "sub": str(alice),
        "act": {"sub": str(staff_member.id), "name": "Support Person"},
        "aud": "projects-api",
        "iat": now,
        "exp": now + TTL,
        "imp": the_impersonation(app).id,
        "imp_mode": "read_only",
    }
    another = jwt.decode(mint_in_tenant_request(app, ghost), options={"verify_signature": False})
    assert jti and jti != another["jti"]


def test_exp_is_never_beyond_the_sessions_end(app, ghost, clock):
    clock.advance(minutes=58)  # two minutes left: less than the token's 300 s

    token = mint_in_tenant_request(app, ghost)

    with served(app) as server:
        claims = server.verify(token)
    assert claims["exp"] == int(the_impersonation(app).expires_at.timestamp())
    assert claims["exp"] - claims["iat"] == 120


def test_a_token_signed_before_a_rotation_verifies_until_it_expires_then_its_key_is_gone(app, ghost, clock):
    before = mint_in_tenant_request(app, ghost)
    old_kid = jwt.get_unverified_header(before)["kid"]
    new_kid = rotate(app, clock)
    clock.advance(seconds=200)
    after = mint_in_tenant_request(app, ghost)

    with served(app) as server:
        assert jwt.get_unverified_header(after)["kid"] == new_kid != old_kid
        assert server.verify(before)["sub"] == server.verify(after)["sub"]
        clock.advance(seconds=TTL - 200 - 1)
        assert server.verify(before)["sub"]  # the last second of its life
        assert [key.key_id for key in server.jwks_client().get_signing_keys()] == [new_kid, old_kid]

        clock.advance(seconds=1)

        assert [key.key_id for key in server.jwks_client().get_signing_keys()] == [new_kid]
        with pytest.raises(jwt.PyJWKClientError):  # its key is no longer published
            server.verify(before)
        assert server.verify(after)["sub"]  # tokens of the new key carry on


def test_an_expired_token_is_refused(app, ghost, clock):
    token = mint_in_tenant_request(app, ghost)
    clock.advance(seconds=TTL)

    with served(app) as server, pytest.raises(jwt.ExpiredSignatureError):
        server.verify(token)


def test_a_token_for_another_back_end_is_refused_and_no_token_is_minted_for_one_not_allowed(app, ghost):
    token = mint_in_tenant_request(app, ghost)

    with served(app) as server, pytest.raises(jwt.InvalidAudienceError):
        server.verify(token, audience="billing-api")
    with pytest.raises(AudienceNotAllowed):
        mint_in_tenant_request(app, ghost, audience="billing-api")


def test_a_tampered_token_is_refused(app, ghost):
    header, payload, signature = mint_in_tenant_request(app, ghost).split(".")
    claims = jwt.decode(f"{header}.{payload}.{signature}", options={"verify_signature": False})
    forged = base64.urlsafe_b64encode(json.dumps({**claims, "imp_mode": "full"}).encode()).rstrip(b"=")

    with served(app) as server, pytest.raises(jwt.InvalidSignatureError):
        server.verify(f"{header}.{forged.decode()}.{signature}")


# --- no ghost session, no token ------------------------------------------------------------------------


def test_outside_a_ghost_session_nothing_is_minted(app, client, tenants, keyed):
    assert mint_in_tenant_request(app, client) is None  # nobody signed in

    sign_in_customer(client, ACME, "alice@acme.example", "customer password")
    home = client.get("/", base_url=ACME)

    assert home.status_code == 200 and "Hello, Alice" in home.text
    assert mint_in_tenant_request(app, client) is None  # the customer herself
    assert ACT_CARD not in home.text


def test_an_ended_session_mints_nothing(app, ghost):
    assert mint_in_tenant_request(app, ghost)

    end_ghost(ghost)

    assert mint_in_tenant_request(app, ghost) is None


def test_a_session_past_its_end_mints_nothing(app, ghost, clock):
    clock.advance(minutes=60)

    assert mint_in_tenant_request(app, ghost) is None
    assert ENDED_TITLE in ghost.get("/", base_url=ACME).text
    assert the_impersonation(app).end_reason == "expired"


# --- the demo app ---------------------------------------------------------------------------------------


def test_the_demo_home_page_shows_the_verified_token_its_back_end_received(ghost, staff_member, alice, clock):
    page = ghost.get("/", base_url=ACME)

    assert page.status_code == 200 and ACT_CARD in page.text
    assert f"user {alice}, acted on by Support Person (staff member {staff_member.id})" in page.text
    assert "read-only, valid until" in page.text
    expires = (clock.now() + timedelta(seconds=TTL)).strftime("%H:%M:%S UTC")
    assert f">{expires}</time>" in page.text


def test_the_demo_home_page_still_works_before_the_first_key(app, client, staff_member, alice, clock):
    sign_in(client, staff_member, clock)
    launch_and_redeem(client, staff_member, clock, alice)

    page = client.get("/", base_url=ACME)

    assert page.status_code == 200 and ACT_CARD not in page.text


def test_the_demo_seed_creates_the_first_signing_key_once(app, clock):
    with app.app_context():
        seed_demo(now=clock.now(), issuer="Impersonator")
        seed_demo(now=clock.now(), issuer="Impersonator")

        assert db.session.scalar(select(func.count()).select_from(SigningKey)) == 1
        assert signing_keys.signing_key()[0]
