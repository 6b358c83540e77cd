"""A cookie's contents are input too (issue 19): whoever holds the signing key (development's is
public) can sign any value. Whatever a face's session cookie holds, the answer is the ordinary
signed-out path (a sign-in page or its redirect), never a 500 or a 503. The cases are the fuzz
run's minimal reproducers (tests/fuzz/)."""

from __future__ import annotations

import pytest

from tests.support.customer import ghost_in
from tests.support.web import ACME, CONSOLE

NOT_A_SESSION = {
    "zero": "0",
    "huge int": 10**30,
    "list of pairs": [[None, None]],
    "tuple": ("x", (None, None)),
}
CONSOLE_STATES = {
    **NOT_A_SESSION,
    "sid a list": {"console_sid": [None]},
    "sid a bool": {"console_sid": True},
    "sid huge": {"console_sid": "x" * 5000},
    "pending a list": {"pending": ["step"]},
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
