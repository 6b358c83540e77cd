"""I8: each face answers only on its own hosts, and a cookie minted on one host is worthless on another."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from config import DevelopmentConfig, ProductionConfig, TestingConfig
from impersonator.extensions import db
from impersonator.models import User
from impersonator.services.customer import sign_in as customer_auth
from tests.support.web import (
    ACME,
    CONSOLE,
    GLOBEX,
    csrf_token,
    flashes,
    post_form,
    sign_in,
    sign_in_customer,
)

GENERIC_FAILURE = "Incorrect email or password."


def location_path(response) -> str:
    return urlsplit(response.headers["Location"]).path


def cookie_name(face_app) -> str:
    return face_app.config["SESSION_COOKIE_NAME"]


def user_id(app, email: str) -> int:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.email == email))


def mint(face_app, base_url: str, payload: dict) -> str:
    """A session cookie value exactly as `face_app` would sign it for a request on `base_url`."""
    with face_app.test_request_context("/", base_url=base_url):
        return face_app.session_interface.get_signing_serializer(face_app).dumps(payload)


def read(face_app, base_url: str, value: str) -> dict:
    """What `face_app` reads from a cookie value on `base_url` (raises if the signature fails)."""
    with face_app.test_request_context("/", base_url=base_url):
        return face_app.session_interface.get_signing_serializer(face_app).loads(value)


def replay(client, name: str, value: str, base_url: str) -> None:
    client.set_cookie(name, value, domain=urlsplit(base_url).hostname)


def customer_state(app, email: str, clock) -> dict:
    """The session a real sign-in of this customer would hold."""
    with app.app_context():
        user = db.session.get(User, user_id(app, email))
        return {"customer": customer_auth.session_state(user, clock.now())}


def is_customer_signed_in(client, base_url: str) -> bool:
    response = client.get("/", base_url=base_url)
    if response.status_code == 302:
        assert location_path(response) == "/sign-in"
        return False
    assert response.status_code == 200
    return True


def is_staff_signed_in(client) -> bool:
    response = client.get("/", base_url=CONSOLE)
    if response.status_code == 302:
        assert location_path(response) == "/sign-in"
        return False
    assert response.status_code == 200
    return True


# --- each face on its own hosts -----------------------------------------------------------------

CONSOLE_ONLY = ["/admin/staff/", "/sign-in/code", "/sign-in/enrol", "/admin/staff/1/disable"]


@pytest.mark.parametrize("path", CONSOLE_ONLY)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_i8_console_pages_are_not_served_on_a_tenant_host(client, tenants, path, method):
    response = client.open(path, method=method, base_url=ACME)

    assert response.status_code == 404
    assert 'class="face-tenant"' in response.text
    assert "Not found" in response.text


def test_i8_every_console_only_rule_is_404_on_a_tenant_host(app, tenant_app, client, tenants):
    tenant_rules = {rule.rule for rule in tenant_app.url_map.iter_rules()}
    console_only = [
        re.sub(r"<[^>]+>", "1", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule not in tenant_rules
    ]
    assert set(CONSOLE_ONLY) <= set(console_only)

    for path in console_only:
        assert client.get(path, base_url=ACME).status_code == 404, path


def test_i8_the_console_does_not_serve_the_tenant_sign_in(client, tenants):
    console = client.get("/sign-in", base_url=CONSOLE)
    tenant = client.get("/sign-in", base_url=ACME)

    assert 'class="face-console"' in console.text
    assert "Staff sign-in" in console.text
    assert "Sign in to Acme" not in console.text
    assert 'class="face-tenant"' in tenant.text
    assert "Sign in to Acme" in tenant.text


def test_i8_a_customer_cannot_sign_in_on_the_console(client, tenants):
    response = post_form(
        client,
        CONSOLE,
        "/sign-in",
        "/sign-in",
        {"email": "alice@acme.example", "password": "customer password"},
    )

    assert response.status_code == 401
    assert flashes(response) == [GENERIC_FAILURE]
    assert not is_staff_signed_in(client)


UNKNOWN_HOSTS = [
    "evil.localhost",
    "127.0.0.1",
    "127.0.0.1:5000",
    "[::1]:5000",
    "localhost",
    "acme.localhost.evil.example",
    "console.localhost.evil.example",
    "evil.example",
]


@pytest.mark.parametrize("host", UNKNOWN_HOSTS)
@pytest.mark.parametrize(("method", "path"), [("GET", "/"), ("GET", "/sign-in"), ("POST", "/sign-in")])
def test_i8_an_unknown_host_gets_404(client, tenants, host, method, path):
    response = client.open(path, method=method, base_url=f"http://{host}")

    assert response.status_code == 404
    assert "Not found" in response.text
    assert "Unknown site" in response.text
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize("host", ["127.0.0.1:5000", "localhost:5000", "LOCALHOST"])
@pytest.mark.parametrize("path", ["/", "/sign-in", "/users/1?next=//evil.example"])
def test_i8_in_development_the_address_flask_prints_leads_to_the_consoles_home(make_app, tenants, host, path):
    app = make_app(REDIRECT_TO_CONSOLE_HOSTS=("127.0.0.1", "localhost"), PUBLIC_PORT=5000)

    response = app.test_client().get(path, base_url=f"http://{host}")

    # Always the configured console's home: nothing from the request's path, query or host is kept.
    assert response.status_code == 302
    assert response.headers["Location"] == "http://console.localhost:5000/"
    assert "Set-Cookie" not in response.headers


def test_i8_only_development_redirects_loopback_names():
    assert DevelopmentConfig.REDIRECT_TO_CONSOLE_HOSTS == ("127.0.0.1", "localhost")
    assert ProductionConfig.REDIRECT_TO_CONSOLE_HOSTS == TestingConfig.REDIRECT_TO_CONSOLE_HOSTS == ()


@pytest.mark.parametrize("base_url", [CONSOLE, ACME, "http://evil.localhost"])
def test_every_response_carries_its_own_request_id(client, tenants, base_url):
    ids = [client.get("/sign-in", base_url=base_url).headers["X-Request-Id"] for _ in range(3)]

    assert all(re.fullmatch(r"[0-9a-f]{16}", rid) for rid in ids)
    assert len(set(ids)) == 3


def test_i8_an_empty_host_gets_404(client, tenants):
    response = client.get("/sign-in", environ_overrides={"HTTP_HOST": ""})

    assert response.status_code == 404
    assert "Not found" in response.text


@pytest.mark.parametrize(
    ("base_url", "heading"),
    [
        ("http://console.localhost:5000", "Staff sign-in"),
        ("http://console.localhost:443", "Staff sign-in"),
        ("http://acme.localhost:8443", "Sign in to Acme"),
        ("http://ACME.Localhost", "Sign in to Acme"),
        ("http://globex.localhost:5000", "Sign in to Globex"),
    ],
)
def test_i8_the_host_port_and_case_are_ignored(client, tenants, base_url, heading):
    response = client.get("/sign-in", base_url=base_url)

    assert response.status_code == 200
    assert heading in response.text


def test_i8_a_console_session_holds_whatever_the_port(client, make_staff, clock):
    sign_in(client, make_staff("support"), clock)

    assert client.get("/", base_url="http://console.localhost:5000").status_code == 200


# --- cookies stay home ------------------------------------------------------------------------


def test_i8_console_cookie_is_not_accepted_on_a_tenant_domain(
    app, tenant_app, client, make_staff, tenants, clock
):
    sign_in(client, make_staff("admin"), clock)
    console_cookie = client.get_cookie(cookie_name(app), domain="console.localhost")
    assert console_cookie is not None

    replay(client, cookie_name(tenant_app), console_cookie.value, ACME)

    assert not is_customer_signed_in(client, ACME)


def test_i8_a_session_signed_on_the_console_cannot_sign_a_customer_in(
    app, tenant_app, client, tenants, clock
):
    alice = customer_state(app, "alice@acme.example", clock)

    replay(client, cookie_name(tenant_app), mint(app, CONSOLE, alice), ACME)
    assert not is_customer_signed_in(client, ACME)

    # The same state signed by the tenant face for its own host is accepted: the host is what failed.
    replay(client, cookie_name(tenant_app), mint(tenant_app, ACME, alice), ACME)
    assert is_customer_signed_in(client, ACME)


def test_i8_tenant_cookie_from_one_tenant_is_refused_on_another(app, tenant_app, client, tenants):
    response = sign_in_customer(client, ACME, "alice@acme.example", "customer password")
    assert response.status_code == 303
    assert is_customer_signed_in(client, ACME)
    acme_cookie = client.get_cookie(cookie_name(tenant_app), domain="acme.localhost")

    replay(client, cookie_name(tenant_app), acme_cookie.value, GLOBEX)

    assert not is_customer_signed_in(client, GLOBEX)


def test_i8_a_session_signed_for_one_tenant_cannot_sign_in_on_another(
    app, tenant_app, client, tenants, clock
):
    gina = customer_state(app, "gina@globex.example", clock)

    replay(client, cookie_name(tenant_app), mint(tenant_app, ACME, gina), GLOBEX)
    assert not is_customer_signed_in(client, GLOBEX)

    replay(client, cookie_name(tenant_app), mint(tenant_app, GLOBEX, gina), GLOBEX)
    assert is_customer_signed_in(client, GLOBEX)


def test_i8_tenant_cookie_is_not_a_staff_session_on_the_console(app, tenant_app, client, tenants):
    sign_in_customer(client, ACME, "alice@acme.example", "customer password")
    acme_cookie = client.get_cookie(cookie_name(tenant_app), domain="acme.localhost")

    replay(client, cookie_name(app), acme_cookie.value, CONSOLE)

    assert not is_staff_signed_in(client)


def test_i8_a_staff_session_signed_on_a_tenant_domain_is_refused_on_the_console(
    app, tenant_app, client, make_staff, clock
):
    staff_client = app.test_client()
    sign_in(staff_client, make_staff("admin"), clock)
    state = read(app, CONSOLE, staff_client.get_cookie(cookie_name(app), domain="console.localhost").value)
    assert state.get("console_sid")

    replay(client, cookie_name(app), mint(tenant_app, ACME, state), CONSOLE)
    assert not is_staff_signed_in(client)

    replay(client, cookie_name(app), mint(app, CONSOLE, state), CONSOLE)
    assert is_staff_signed_in(client)


def test_i8_each_face_names_its_cookie_differently(app, tenant_app, client, tenants):
    assert cookie_name(app) != cookie_name(tenant_app)

    client.get("/sign-in", base_url=CONSOLE)
    client.get("/sign-in", base_url=ACME)

    assert client.get_cookie(cookie_name(app), domain="console.localhost") is not None
    assert client.get_cookie(cookie_name(tenant_app), domain="acme.localhost") is not None
    assert client.get_cookie(cookie_name(tenant_app), domain="console.localhost") is None
    assert client.get_cookie(cookie_name(app), domain="acme.localhost") is None


def session_set_cookies(response, name: str) -> list[str]:
    return [value for value in response.headers.getlist("Set-Cookie") if value.startswith(f"{name}=")]


def assert_host_only_httponly_lax(header: str) -> None:
    attributes = [part.strip().lower() for part in header.split(";")[1:]]
    assert not any(a.startswith("domain=") for a in attributes), header
    assert "httponly" in attributes, header
    assert "samesite=lax" in attributes, header
    assert "path=/" in attributes, header
    # No remember-me: a browser-session cookie, gone when the browser closes.
    assert not any(a.startswith(("expires=", "max-age=")) for a in attributes), header


def test_i8_console_cookie_is_host_only_httponly_and_lax(app, client, make_staff, clock):
    member = make_staff("support")
    clock.next_totp_step()

    response = post_form(
        client, CONSOLE, "/sign-in", "/sign-in", {"email": member.email, "password": member.password}
    )
    headers = session_set_cookies(response, cookie_name(app))
    response = post_form(client, CONSOLE, "/sign-in/code", "/sign-in/code", {"code": member.code()})
    headers += session_set_cookies(response, cookie_name(app))

    assert len(headers) == 2
    for header in headers:
        assert_host_only_httponly_lax(header)


def test_i8_tenant_cookie_is_host_only_httponly_and_lax(tenant_app, client, tenants):
    response = sign_in_customer(client, ACME, "alice@acme.example", "customer password")

    headers = session_set_cookies(response, cookie_name(tenant_app))
    assert len(headers) == 1
    assert_host_only_httponly_lax(headers[0])


@pytest.mark.parametrize("base_url", ["https://console.localhost", "https://acme.localhost"])
def test_i8_cookies_are_secure_host_prefixed_outside_development(make_app, tenants, base_url):
    secure_app = make_app(SESSION_COOKIE_SECURE=True)

    response = secure_app.test_client().get("/sign-in", base_url=base_url)

    (header,) = response.headers.getlist("Set-Cookie")
    assert header.startswith("__Host-impersonator_")
    assert "secure" in [part.strip().lower() for part in header.split(";")]
    assert_host_only_httponly_lax(header)


# --- customers sign in on their own tenant ------------------------------------------------------


def test_i8_a_customer_signs_in_on_her_own_tenant_only(client, tenants):
    response = sign_in_customer(client, ACME, "alice@acme.example", "customer password")
    assert response.status_code == 303
    assert location_path(response) == "/"
    assert "Hello, Alice" in client.get("/", base_url=ACME).text

    response = sign_in_customer(client, GLOBEX, "alice@acme.example", "customer password")
    assert response.status_code == 401
    assert flashes(response) == [GENERIC_FAILURE]
    assert not is_customer_signed_in(client, GLOBEX)


def test_i11_customer_sign_in_failure_does_not_say_whether_the_account_exists(client, tenants):
    wrong_password = sign_in_customer(client, ACME, "alice@acme.example", "not her password")
    unknown = sign_in_customer(client, ACME, "nobody@acme.example", "customer password")
    other_tenant = sign_in_customer(client, ACME, "gina@globex.example", "customer password")

    for response in (wrong_password, unknown, other_tenant):
        assert response.status_code == 401
        assert flashes(response) == [GENERIC_FAILURE]
    assert not is_customer_signed_in(client, ACME)


def test_i8_a_tenant_sign_in_form_cannot_be_posted_to_the_console(client, tenants):
    token = csrf_token(client.get("/sign-in", base_url=ACME).text)

    response = client.post(
        "/sign-in",
        base_url=CONSOLE,
        data={"csrf_token": token, "email": "alice@acme.example", "password": "customer password"},
    )

    assert response.status_code == 400
    assert "This form has expired or was not sent from this site" in response.text
