"""A cookie's contents are input too (issue 19): whoever holds the signing key (development's is
public) can sign any value. Whatever a face's session cookie holds, the answer is the ordinary
signed-out path (a sign-in page or its redirect), never a 500 or a 503. The cases are the fuzz
run's minimal reproducers (tests/fuzz/)."""

from __future__ import annotations

import pytest
from itsdangerous import URLSafeTimedSerializer

from impersonator.console.access import SESSION_TOKEN_KEY
from impersonator.console.sign_in import PENDING_KEY
from impersonator.faces import CSRF_SECRET_KEY
from impersonator.web import CSRF_REFUSAL
from tests.support.customer import ghost_in
from tests.support.impersonation import the_impersonation
from tests.support.web import ACME, CONSOLE

# Text a signed cookie can carry and a plain `.encode()` or `hmac.compare_digest` cannot take.
NOT_ASCII = ["\x80é", "\ud800"]

NOT_A_SESSION = {
    "zero": "0",
    "huge int": 10**30,
    "list of pairs": [[None, None]],
    "tuple": ("x", (None, None)),
    # Flask-WTF's CSRF secret, signed into the token of every form the page shows
    "csrf secret a list": {CSRF_SECRET_KEY: ["\ud800"]},
    "csrf secret not ascii": {CSRF_SECRET_KEY: "\x80é"},
    "csrf secret a lone surrogate": {CSRF_SECRET_KEY: "\ud800"},
}
CONSOLE_STATES = {
    **NOT_A_SESSION,
    "sid a list": {SESSION_TOKEN_KEY: [None]},
    "sid a bool": {SESSION_TOKEN_KEY: True},
    "sid huge": {SESSION_TOKEN_KEY: "x" * 5000},
    "sid a lone surrogate": {SESSION_TOKEN_KEY: "\ud800"},
    "pending a list": {PENDING_KEY: ["step"]},
    "pending step a list": {PENDING_KEY: {"step": [None]}},
    "pending step a lone surrogate": {PENDING_KEY: {"step": "\ud800"}},
}
TENANT_STATES = {
    **NOT_A_SESSION,
    "ghost a bool": {"ghost": True},
    "ghost id none": {"ghost": {"impersonation_id": None, "secret": "s"}},
    "ghost id a list": {"ghost": {"impersonation_id": [1], "secret": "s"}},
    "ghost id text": {"ghost": {"impersonation_id": "1", "secret": "s"}},
    "ghost id a bool": {"ghost": {"impersonation_id": True, "secret": "s"}},
    "ghost id huge": {"ghost": {"impersonation_id": 10**30, "secret": "s"}},
    "ghost of no row": {"ghost": {"impersonation_id": 987654, "secret": "s"}},
    "customer text": {"customer": "alice"},
    "customer a list": {"customer": [1]},
    "customer id huge": {"customer": {"user_id": 10**19, "at": 1.0, "pw": "x"}},
    "customer id a bool": {"customer": {"user_id": True, "at": 1.0, "pw": "x"}},
}


def signed_cookie(app, face_app, base_url: str, payload) -> str:
    with face_app.test_request_context("/", base_url=base_url):
        return face_app.session_interface.get_signing_serializer(face_app).dumps(payload)


@pytest.mark.parametrize("payload", CONSOLE_STATES.values(), ids=list(CONSOLE_STATES))
def test_i11_any_console_cookie_contents_read_as_signed_out(app, tenants, payload):
    client = app.test_client()
    client.set_cookie(
        app.config["SESSION_COOKIE_NAME"],
        signed_cookie(app, app, CONSOLE, payload),
        domain="console.localhost",
    )

    for path in ("/", "/search?q=a", "/sign-in", "/sign-in/code"):
        response = client.get(path, base_url=CONSOLE)
        assert response.status_code in (200, 302), (path, response.status_code)
        if response.status_code == 302:
            assert "/sign-in" in response.headers["Location"]


@pytest.mark.parametrize("payload", TENANT_STATES.values(), ids=list(TENANT_STATES))
def test_i11_any_tenant_cookie_contents_read_as_signed_out(app, tenants, alice, payload):
    tenant_app = app.extensions["impersonator.tenant_app"]
    client = app.test_client()
    value = signed_cookie(app, tenant_app, ACME, payload)
    client.set_cookie(tenant_app.config["SESSION_COOKIE_NAME"], value, domain="acme.localhost")

    for path in ("/", "/account", "/sign-in"):
        response = client.get(path, base_url=ACME)
        assert response.status_code in (200, 302), (path, response.status_code)
        if response.status_code == 302:
            assert response.headers["Location"].endswith("/sign-in")


def test_i11_a_ghost_request_with_a_nul_in_its_path_is_logged_not_a_503(app, alice, make_staff, clock):
    """PostgreSQL's text refuses NUL: the ghost's request log stores the path with it spelt out."""
    ghost = ghost_in(app, make_staff("support"), clock, alice)

    response = ghost.get("/%00", base_url=ACME)

    assert response.status_code == 404
    assert ghost.get("/", base_url=ACME).status_code == 200


def tenant_cookie(app, client, payload) -> None:
    tenant_app = app.extensions["impersonator.tenant_app"]
    value = signed_cookie(app, tenant_app, ACME, payload)
    client.set_cookie(tenant_app.config["SESSION_COOKIE_NAME"], value, domain="acme.localhost")


@pytest.mark.parametrize("fingerprint", NOT_ASCII)
def test_i11_a_customer_cookie_of_a_real_user_with_an_odd_fingerprint_reads_as_signed_out(
    app, tenants, alice, clock, fingerprint
):
    client = app.test_client()
    tenant_cookie(
        app, client, {"customer": {"user_id": alice, "at": clock.now().timestamp(), "pw": fingerprint}}
    )

    response = client.get("/account", base_url=ACME)

    assert response.status_code == 302 and response.headers["Location"].endswith("/sign-in")


@pytest.mark.parametrize("secret", NOT_ASCII)
def test_i11_a_ghost_cookie_of_a_real_impersonation_with_an_odd_secret_is_no_ghost(
    app, alice, make_staff, clock, secret
):
    ghost_in(app, make_staff("support"), clock, alice)
    client = app.test_client()
    tenant_cookie(app, client, {"ghost": {"impersonation_id": the_impersonation(app).id, "secret": secret}})

    response = client.get("/account", base_url=ACME)

    assert response.status_code == 302 and response.headers["Location"].endswith("/sign-in")


def test_i11_a_form_token_made_for_an_odd_csrf_secret_is_refused_as_expired(app, client, tenants):
    """Whoever holds the key can also sign a form token over the odd secret: the form refuses it as
    it refuses any token that does not match the session (Flask-WTF compares them as text)."""
    odd = "\x80é"
    client.set_cookie(
        app.config["SESSION_COOKIE_NAME"],
        signed_cookie(app, app, CONSOLE, {CSRF_SECRET_KEY: odd}),
        domain="console.localhost",
    )
    token = URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token").dumps(odd)

    response = client.post("/sign-in", base_url=CONSOLE, data={"csrf_token": token, "email": "a@b.c"})

    assert response.status_code == 400
    assert CSRF_REFUSAL in response.text
