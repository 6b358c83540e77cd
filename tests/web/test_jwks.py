"""The console's JWKS (DESIGN §12): public keys only, at /.well-known/jwks.json on the console, without
sign-in or cookie, briefly cacheable, never on a tenant host; and `flask act-keys` to create, rotate and
list the keys, audited."""

from __future__ import annotations

import json
import urllib.request

import pytest
from sqlalchemy import select

from impersonator.extensions import db
from impersonator.models import SigningKey
from impersonator.services import signing_keys
from impersonator.services.audit import Actor
from tests.support.act_tokens import JWKS_PATH, served
from tests.support.records import audit_events
from tests.support.web import ACME, CONSOLE, GLOBEX

PUBLIC_MEMBERS = {"kty", "crv", "x", "kid", "use", "alg"}


def keys_now(app, clock) -> list[str]:
    with app.app_context():
        return [key["kid"] for key in signing_keys.jwks(clock.now())["keys"]]


def act_keys(runner, *args: str):
    result = runner.invoke(args=["act-keys", *args])
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_the_jwks_is_public_json_with_the_signing_key_and_no_private_part(app, client, runner, clock):
    act_keys(runner, "rotate")
    with app.app_context():
        [row] = db.session.scalars(select(SigningKey)).all()

    response = client.get(JWKS_PATH, base_url=CONSOLE)

    assert response.status_code == 200 and response.mimetype == "application/json"
    [key] = response.get_json()["keys"]
    assert set(key) == PUBLIC_MEMBERS and '"d"' not in response.text  # `d`: a JWK's private key
    assert key == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": row.public_key,
        "kid": row.kid,
        "use": "sig",
        "alg": "EdDSA",
    }
    assert response.headers["Cache-Control"] == "public, max-age=60"
    assert "Set-Cookie" not in response.headers  # no session is started for it
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_jwks_is_empty_before_the_first_key(client):
    response = client.get(JWKS_PATH, base_url=CONSOLE)

    assert response.status_code == 200 and response.get_json() == {"keys": []}


@pytest.mark.parametrize("host", [ACME, GLOBEX])
def test_the_jwks_is_not_served_on_tenant_hosts(client, runner, tenants, host):
    act_keys(runner, "rotate")

    response = client.get(JWKS_PATH, base_url=host)

    assert response.status_code == 404 and '"keys"' not in response.text


def test_the_jwks_over_http_from_a_real_server(app, runner, clock):
    act_keys(runner, "rotate")

    with served(app) as server:
        request = urllib.request.Request(  # noqa: S310  (a loopback http URL)
            server.url(JWKS_PATH), headers=server.host("console.localhost")
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            body, cache = json.loads(response.read()), response.headers["Cache-Control"]
        fetched = [key.key_id for key in server.jwks_client().get_signing_keys()]

    assert [key["kid"] for key in body["keys"]] == keys_now(app, clock) == fetched
    assert cache == "public, max-age=60"


def test_act_keys_rotate_creates_the_first_key_then_rotates_audited(app, runner, clock):
    first = act_keys(runner, "rotate")
    [kid_1] = keys_now(app, clock)
    second = act_keys(runner, "rotate")
    kid_2, retired = keys_now(app, clock)

    assert f"Signing with {kid_1} from now on." in first and "Retired" not in first
    assert f"Signing with {kid_2} from now on." in second
    assert retired == kid_1 and f"Retired {kid_1}: published until 2026-11-23 12:05:05 UTC" in second
    rotated = audit_events(app, "signing_key.rotated")
    assert [(e["actor_label"], e["details"]["kid"], e["details"]["retired"]) for e in rotated] == [
        ("cli", kid_1, []),
        ("cli", kid_2, [kid_1]),
    ]


def test_act_keys_ensure_creates_only_the_first_key(app, runner, clock):
    created = act_keys(runner, "ensure")
    unchanged = act_keys(runner, "ensure")

    [kid] = keys_now(app, clock)
    assert created == f"Created the first signing key {kid}.\n"
    assert unchanged == "A key signs already; nothing changed.\n"
    assert [e["details"]["kid"] for e in audit_events(app, "signing_key.created")] == [kid]


def test_act_keys_list_shows_signing_published_and_gone(app, runner, clock):
    assert "No signing keys yet" in act_keys(runner, "list")
    act_keys(runner, "rotate")
    act_keys(runner, "rotate")
    clock.advance(seconds=299)
    act_keys(runner, "rotate")

    lines = act_keys(runner, "list").splitlines()

    assert [line.split()[1] for line in lines] == ["signing", "published", "published"]
    clock.advance(seconds=1)
    assert [line.split()[1] for line in act_keys(runner, "list").splitlines()] == [
        "signing",
        "published",
        "gone",
    ]
    assert keys_now(app, clock) == [line.split()[0] for line in lines[:2]]


def test_a_retired_key_leaves_the_jwks_when_its_last_token_has_expired(app, client, clock):
    with app.app_context():
        old = signing_keys.ensure_key(actor=Actor.system("cli"), ip=None, now=clock.now())
        new = signing_keys.rotate(actor=Actor.system("cli"), ip=None, now=clock.now()).kid

    clock.advance(seconds=299)
    assert [k["kid"] for k in client.get(JWKS_PATH, base_url=CONSOLE).get_json()["keys"]] == [new, old]
    clock.advance(seconds=1)
    assert [k["kid"] for k in client.get(JWKS_PATH, base_url=CONSOLE).get_json()["keys"]] == [new]
