"""Redemption on the tenant domain (DESIGN I2, I3; issue 3 item 5): POST only, the token is the
credential, it works once, on its own tenant, within its time to live, and every failure is audited."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta

import pytest
from itsdangerous import URLSafeTimedSerializer

from impersonator.services.impersonation import tokens
from impersonator.services.impersonation.tokens import Claims
from impersonator.services.keys import derived_key
from tests.support.impersonation import (
    BANNER,
    REDEEM_PATH,
    launch,
    minutes,
    redeem,
    the_impersonation,
    update_tenant,
)
from tests.support.records import audit_events
from tests.support.web import ACME, GLOBEX, sign_in, sign_in_customer


@pytest.fixture
def token(client, agent, alice, clock) -> str:
    """A fresh token for Alice, issued to the signed-in support agent."""
    return launch(client, agent, clock, alice)[1]


def failures(app) -> list[str]:
    return [event["details"]["reason"] for event in audit_events(app, "impersonation.redeem_failed")]


def alerts(app) -> list[str]:
    return [event["details"]["kind"] for event in audit_events(app, "security.alert")]


def is_ghost(client, host: str = ACME) -> bool:
    page = client.get("/", base_url=host)
    return page.status_code == 200 and BANNER in page.text


def cookie_payload(client, domain: str = "acme.localhost") -> dict:
    """What the tenant session cookie holds (read without its key: the payload is only signed)."""
    cookie = client.get_cookie("impersonator_tenant", domain=domain)
    return URLSafeTimedSerializer("unused").load_payload(cookie.value.rsplit(".", 2)[0].encode())


def test_i3_redeeming_starts_the_ghost_session_and_lands_on_home(app, client, token, alice, clock):
    response = redeem(client, token)

    assert response.status_code == 303
    assert response.headers["Location"] in ("/", f"{ACME}/")
    assert is_ghost(client)
    row = the_impersonation(app)
    assert row.redeemed_at == clock.now()
    assert row.expires_at == clock.now() + minutes(60)
    [event] = audit_events(app, "impersonation.started")
    assert event["details"]["impersonation_id"] == row.id and event["target_id"] == alice


def test_i3_a_redemption_starts_a_fresh_tenant_session_holding_only_the_ghost(app, client, token):
    assert sign_in_customer(client, ACME, "alice@acme.example", "customer password").status_code == 303
    assert "customer" in cookie_payload(client)

    redeem(client, token)

    ghost = cookie_payload(client)["ghost"]
    assert cookie_payload(client) == {"ghost": ghost}
    assert set(ghost) == {"impersonation_id", "secret"}
    row = the_impersonation(app)
    assert ghost["impersonation_id"] == row.id
    # The database keeps only the secret's hash: the cookie alone proves nothing to a key holder.
    assert len(ghost["secret"]) >= 40 and ghost["secret"] not in row.ghost_secret_hash
    assert row.ghost_secret_hash == hashlib.sha256(ghost["secret"].encode()).hexdigest()


def test_i3_the_token_carries_no_personal_data(token):
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))

    assert set(payload) == {"i", "j", "a"}
    assert payload["a"] == "acme.localhost"
    assert "alice" not in token.lower() and "alice" not in json.dumps(payload).lower()


def test_i2_a_token_redeems_once_and_a_replay_is_410_with_a_security_alert(app, client, token):
    assert redeem(client, token).status_code == 303
    attacker = app.test_client()

    replay = redeem(attacker, token)

    assert replay.status_code == 410
    assert "already used" in replay.text
    assert not is_ghost(attacker)
    assert is_ghost(client)  # the real session goes on
    assert failures(app) == ["replayed"]
    assert alerts(app) == ["token_replay"]
    assert len(audit_events(app, "impersonation.started")) == 1


# --- forged and tampered tokens: 400, audited, and the real token is not burned ------------------


def flip_a_character(app, token: str) -> str:
    index = len(token) // 3
    swapped = "A" if token[index] != "A" else "B"
    return token[:index] + swapped + token[index + 1 :]


def our_key(app) -> str:
    """The key redirect tokens are signed with in the tests (derived: TOKEN_SIGNING_KEYS is empty)."""
    with app.app_context():
        return derived_key("redirect-tokens").hex()


def signed(app, token: str, *, key: str, salt: str) -> str:
    """The same claims, signed the way tokens.issue signs them but with this key and salt."""
    claims = claims_of(app, token)
    payload = {"i": claims.impersonation_id, "j": claims.jti, "a": claims.audience}
    return URLSafeTimedSerializer([key], salt=salt).dumps(payload)


def signed_with_another_key(app, token: str) -> str:
    return signed(app, token, key="a key that is not ours", salt=tokens.SALT)


def signed_with_another_salt(app, token: str) -> str:
    return signed(app, token, key=our_key(app), salt="impersonator.some-other-purpose")


def signed_again_by_us(app, token: str) -> str:
    """The control: the same recipe with our key and salt is a good token."""
    return signed(app, token, key=our_key(app), salt=tokens.SALT)


def with_another_jti(app, token: str) -> str:
    claims = claims_of(app, token)
    with app.app_context():
        return tokens.issue(Claims(claims.impersonation_id, "not-the-jti", claims.audience))


def with_a_jti_of_other_characters(app, token: str) -> str:
    """Signed by whoever holds the key (development's is public): text that is not ASCII, and a lone
    surrogate, which JSON can carry."""
    claims = claims_of(app, token)
    payload = {"i": claims.impersonation_id, "j": "\x80é\ud800", "a": claims.audience}
    # The standard library's JSON writes a lone surrogate as an escape; itsdangerous's own refuses it.
    return URLSafeTimedSerializer([our_key(app)], salt=tokens.SALT, serializer=json).dumps(payload)


def garbage(app, token: str) -> str:
    return "not a token at all"


def far_too_long(app, token: str) -> str:
    return token + "A" * 1000


def claims_of(app, token: str) -> Claims:
    with app.app_context():
        return tokens.read(token)


FORGERIES = [flip_a_character, signed_with_another_key, signed_with_another_salt, with_another_jti]
FORGERIES += [with_a_jti_of_other_characters]
FORGERIES += [garbage, far_too_long]


@pytest.mark.parametrize("forge", FORGERIES, ids=lambda forge: forge.__name__)
def test_i3_a_forged_or_tampered_token_is_400_and_burns_nothing(app, client, token, forge):
    forged = forge(app, token)
    assert forged != token

    response = redeem(client, forged)

    assert response.status_code == 400
    assert "This impersonation link is not valid." in response.text
    assert not is_ghost(client)
    assert failures(app) == ["forged"]
    assert the_impersonation(app).redeemed_at is None
    assert redeem(client, token).status_code == 303  # the genuine token still works


@pytest.mark.parametrize("data", [{}, {"token": ""}], ids=["no field", "empty"])
def test_i3_redeeming_without_a_token_is_400(app, client, tenants, data):
    response = client.post(REDEEM_PATH, base_url=ACME, data=data)

    assert response.status_code == 400
    assert failures(app) == ["forged"]


def test_i3_get_on_the_redemption_address_is_405(client, token):
    response = client.get(f"{REDEEM_PATH}?token={token}", base_url=ACME)

    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert not is_ghost(client)


def test_i3_redemption_on_an_unknown_host_is_404(app, client, token):
    response = redeem(client, token, host="http://unknown.localhost")

    assert response.status_code == 404
    assert the_impersonation(app).redeemed_at is None


def test_i3_the_forgeries_differ_from_a_good_token_only_in_key_or_salt(app, client, token, clock):
    clock.advance(seconds=1)  # a new timestamp, so the re-signed token differs from the original

    response = redeem(client, signed_again_by_us(app, token))

    assert response.status_code == 303


# --- time to live ------------------------------------------------------------------------------


def test_i3_an_expired_token_is_410(app, client, token, clock):
    clock.advance(seconds=61)

    response = redeem(client, token)

    assert response.status_code == 410
    assert "has expired" in response.text
    assert not is_ghost(client)
    assert failures(app) == ["expired"]
    assert the_impersonation(app).redeemed_at is None


def test_i3_token_ttl_seconds_is_honoured(make_app, make_staff, alice, clock):
    app = make_app(TOKEN_TTL_SECONDS=120)
    client = app.test_client()
    member = make_staff("support")
    sign_in(client, member, clock)
    first = launch(client, member, clock, alice)[1]
    clock.advance(seconds=110)
    assert redeem(client, first).status_code == 303
    second = launch(client, member, clock, alice)[1]

    clock.advance(seconds=121)

    assert redeem(app.test_client(), second).status_code == 410
    assert failures(app) == ["expired"]


# --- clocks: the console and the tenant may run on two machines ---------------------------------


def test_i3_a_token_from_a_few_seconds_ahead_redeems(app, client, token, clock):
    """The console's clock ran ahead of this site's by up to TOKEN_CLOCK_SKEW_SECONDS."""
    clock.advance(seconds=-5)

    assert redeem(client, token).status_code == 303


def test_i3_a_token_from_further_ahead_is_refused_and_audited(app, client, token, clock):
    clock.advance(seconds=-6)

    response = redeem(client, token)

    assert response.status_code == 400
    assert "not valid yet" in response.text
    assert failures(app) == ["clock_skew"]
    assert the_impersonation(app).redeemed_at is None  # not burned: the staff member starts again


def test_i3_the_allowed_skew_is_read_from_the_config(make_app, make_staff, alice, clock):
    app = make_app(TOKEN_CLOCK_SKEW_SECONDS=0)
    client = app.test_client()
    member = make_staff("support")
    sign_in(client, member, clock)
    token = launch(client, member, clock, alice)[1]
    clock.advance(seconds=-1)

    assert redeem(client, token).status_code == 400
    assert failures(app) == ["clock_skew"]


# --- the audience: a token works on its own tenant only -------------------------------------------


def test_i3_a_token_redeemed_on_the_wrong_tenant_is_403_and_burned(app, client, token):
    response = redeem(client, token, host=GLOBEX)

    assert response.status_code == 403
    assert "belongs to another site" in response.text
    assert not is_ghost(client, GLOBEX)
    row = the_impersonation(app)
    assert (row.redeemed_at, row.end_reason) == (None, "wrong_tenant")
    assert failures(app) == ["wrong_tenant"]
    assert alerts(app) == ["wrong_tenant_redemption"]
    assert redeem(client, token).status_code == 410  # burned: useless on acme afterwards
    assert not is_ghost(client)


def test_i3_a_token_burned_on_the_wrong_tenant_says_it_was_cancelled_not_used(app, client, token):
    redeem(client, token, host=GLOBEX)

    again = redeem(client, token)

    # Not "already used": nobody used it. It says it can no longer be used, and why, in general words.
    assert again.status_code == 410
    assert "can no longer be used" in again.text
    assert "cancelled for safety" in again.text
    assert "already used" not in again.text
    assert failures(app) == ["wrong_tenant", "cancelled"]
    assert alerts(app) == ["wrong_tenant_redemption", "token_replay"]  # someone holds a stray token


# --- the world may change between issue and redemption -----------------------------------------


def test_i4_redemption_rechecks_the_staff_member(app, client, runner, agent, token):
    assert runner.invoke(args=["staff", "disable", "--email", agent.email]).exit_code == 0

    response = redeem(client, token)

    assert response.status_code == 403
    assert not is_ghost(client)
    assert the_impersonation(app).end_reason == "staff_disabled"
    assert failures(app) == ["staff_inactive"]


def test_i5_redemption_rechecks_the_tenant(app, client, tenants, token):
    update_tenant(app, tenants["acme"], impersonation_enabled=False)

    response = redeem(client, token)

    assert response.status_code == 403
    assert not is_ghost(client)
    assert the_impersonation(app).end_reason == "policy_changed"
    assert failures(app) == ["tenant_off"]


def test_i4_session_max_minutes_caps_the_session_at_redemption(make_app, app, client, token, clock):
    """A token issued for 60 minutes, redeemed where SESSION_MAX_MINUTES is 15: 15 minutes."""
    stricter = make_app(SESSION_MAX_MINUTES=15)

    assert redeem(stricter.test_client(), token).status_code == 303

    row = the_impersonation(app)
    assert row.duration_minutes == 60
    assert row.expires_at - row.redeemed_at == timedelta(minutes=15)


# --- a token in a web address is cancelled, never redeemed -----------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_i3_a_token_sent_in_the_address_is_cancelled_and_raises_an_alert(app, client, token, method):
    response = client.open(f"{REDEEM_PATH}?token={token}", method=method, base_url=ACME)

    assert response.status_code == (405 if method == "GET" else 400)
    assert "must not be opened as a web address" in response.text
    if method == "GET":
        assert response.headers["Allow"] == "POST"
    row = the_impersonation(app)
    assert (row.redeemed_at, row.end_reason) == (None, "token_exposed")
    assert failures(app) == ["token_in_address"]
    assert alerts(app) == ["token_in_address"]
    # The same token in a form's body, afterwards: cancelled, and worded so.
    again = redeem(client, token)
    assert again.status_code == 410
    assert "cancelled for safety" in again.text
    assert not is_ghost(client)


def test_i3_a_forged_token_in_the_address_cancels_nothing_but_is_audited(app, client, token):
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")

    response = client.get(f"{REDEEM_PATH}?token={forged}", base_url=ACME)

    assert response.status_code == 405
    assert the_impersonation(app).end_reason is None
    assert failures(app) == ["token_in_address"]
    assert redeem(client, token).status_code == 303  # the real one still works


def test_i3_a_get_without_a_token_is_a_plain_405(app, client, token):
    response = client.get(REDEEM_PATH, base_url=ACME)

    assert response.status_code == 405
    assert failures(app) == []
    assert redeem(client, token).status_code == 303
