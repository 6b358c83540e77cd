"""I11: every error is a friendly page in the face's own layout, never a stack trace, and every response
of both faces carries the security headers."""

from __future__ import annotations

import re

import pytest
from flask import abort
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from impersonator.extensions import db
from impersonator.models import Tenant
from impersonator.services import audit
from impersonator.services import tenants as tenant_registry
from impersonator.web import ERROR_TEXT, public
from tests.support.web import ACME, CONSOLE, post_form, sign_in, sign_in_customer, sign_in_password

FACES = {"console": CONSOLE, "tenant": ACME}


def tenant_face(app):
    return app.extensions["impersonator.tenant_app"]


def face_app(app, face: str):
    return app if face == "console" else tenant_face(app)


def assert_friendly_page(response, face: str, code: int, message: str | None = None) -> None:
    """The shared error page, drawn in the face's own layout, with no trace of the code behind it."""
    title, default_message = ERROR_TEXT[code]
    assert response.status_code == code
    assert response.mimetype == "text/html"
    assert f"<h1>{title}</h1>" in response.text
    assert (message or default_message) in response.text
    assert f"Error {code}" in response.text
    assert "Traceback" not in response.text
    if face == "console":
        assert 'class="face-console"' in response.text
        assert 'Impersonator <span class="brand-sub">console</span>' in response.text
    else:
        assert 'class="face-tenant"' in response.text
        assert re.search(r'class="brand"[^>]*>Acme</a>', response.text)


def add_routes(target, routes: dict) -> None:
    """Register public test routes on a face before its first request."""
    for path, view in routes.items():
        target.add_url_rule(path, path.strip("/").replace("/", "_"), public(view), methods=["GET", "POST"])


# --- the friendly pages --------------------------------------------------------------------------


@pytest.mark.parametrize("face", FACES)
def test_i11_a_missing_csrf_token_gets_a_friendly_400(client, tenants, face):
    response = client.post("/sign-in", base_url=FACES[face], data={"email": "a@b.example"})

    assert_friendly_page(
        response,
        face,
        400,
        "This form has expired or was not sent from this site. Reload the page and try again.",
    )


def test_i11_a_forbidden_console_page_gets_a_friendly_403(client, make_staff, clock):
    sign_in(client, make_staff("support"), clock)

    response = client.get("/admin/staff/", base_url=CONSOLE)

    assert_friendly_page(response, "console", 403)
    assert "Sign out" in response.text  # the layout still knows who is signed in


@pytest.mark.parametrize("face", FACES)
def test_i11_an_unknown_address_gets_a_friendly_404(client, tenants, face):
    assert_friendly_page(client.get("/no/such/page", base_url=FACES[face]), face, 404)


_MAIN_NAV = re.compile(r'<nav class="nav" aria-label="Main">(.*?)</nav>', re.S)


def main_nav_links(response) -> list[str]:
    [nav] = _MAIN_NAV.findall(response.text)
    return re.findall(r'<a href="([^"]+)"', nav)


def test_i11_a_signed_in_customers_error_page_offers_the_pages_header_links(client, tenants):
    """An error inside a page draws the header from plain values (no database), in a template of its
    own: it must not fall behind the pages' header when a page is added (Billing once did)."""
    assert sign_in_customer(client, ACME, "alice@acme.example", "customer password").status_code == 303

    page = client.get("/", base_url=ACME)
    refused = post_form(client, ACME, "/", "/projects/999999/rename", {"name": "Nobody's project"})

    assert refused.status_code == 404
    assert main_nav_links(refused) == main_nav_links(page)
    assert "/billing" in main_nav_links(page)


@pytest.mark.parametrize("face", FACES)
def test_i11_get_on_sign_out_gets_a_friendly_405_with_allow(client, tenants, face):
    response = client.get("/sign-out", base_url=FACES[face])

    assert_friendly_page(response, face, 405)
    assert "POST" in response.headers["Allow"]
    assert "GET" not in response.headers["Allow"]


@pytest.mark.parametrize("face", FACES)
def test_i11_a_body_over_max_content_length_gets_a_friendly_413(make_app, tenants, face):
    small = make_app(MAX_CONTENT_LENGTH=1024)
    client = small.test_client()

    response = post_form(
        client, FACES[face], "/sign-in", "/sign-in", {"email": "a@b.example", "password": "x" * 2048}
    )

    assert_friendly_page(response, face, 413)


def test_i11_a_locked_console_sign_in_gets_a_429(app, client, make_staff, clock):
    member = make_staff("support")
    for _ in range(app.config["LOCKOUT_THRESHOLD"]):
        assert sign_in_password(client, member.email, "a wrong password").status_code == 401

    response = sign_in_password(client, member.email, member.password)

    assert response.status_code == 429
    assert "Too many failed attempts. Try again after 12:16 UTC." in response.text
    assert 'class="face-console"' in response.text
    assert "Traceback" not in response.text


def test_i11_a_locked_customer_sign_in_gets_a_429(app, client, tenants):
    for _ in range(app.config["LOCKOUT_THRESHOLD"]):
        assert sign_in_customer(client, ACME, "alice@acme.example", "wrong").status_code == 401

    response = sign_in_customer(client, ACME, "alice@acme.example", "customer password")

    assert response.status_code == 429
    assert "Too many failed attempts. Try again after 12:16 UTC." in response.text
    assert re.search(r'class="brand"[^>]*>Acme</a>', response.text)
    assert client.get("/", base_url=ACME).status_code == 302


@pytest.mark.parametrize("code", [400, 401, 403, 404, 410, 413, 429])
@pytest.mark.parametrize("face", FACES)
def test_i11_every_http_error_has_a_friendly_page(make_app, tenants, face, code):
    built = make_app()
    add_routes(face_app(built, face), {"/fails": lambda: abort(code)})

    assert_friendly_page(built.test_client().get("/fails", base_url=FACES[face]), face, code)


def row_counts(app) -> dict[str, int]:
    with app.app_context():
        return {
            table.name: db.session.scalar(select(func.count()).select_from(table))
            for table in db.metadata.sorted_tables
        }


def half_written_tenant() -> None:
    """Flush a row, as a view does half-way through its work."""
    db.session.add(Tenant(slug="half-written", name="Half written"))
    db.session.flush()


def commit_whatever_is_left(response):
    """A later commit in the same request must not carry what the failed one left behind."""
    db.session.commit()
    return response


def half_written_rows(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Tenant.slug).where(Tenant.slug == "half-written")))


@pytest.mark.parametrize("face", FACES)
def test_i11_an_unexpected_error_gets_a_friendly_500_and_is_rolled_back(make_app, tenants, face):
    built = make_app(PROPAGATE_EXCEPTIONS=False, TESTING=False)
    target = face_app(built, face)

    def crash():
        half_written_tenant()
        raise RuntimeError("boom: internal detail /srv/secret.py")

    add_routes(target, {"/crash": crash})
    target.after_request(commit_whatever_is_left)

    response = built.test_client().get("/crash", base_url=FACES[face])

    assert_friendly_page(response, face, 500)
    assert "boom" not in response.text
    assert "RuntimeError" not in response.text
    assert half_written_rows(built) == []


@pytest.mark.parametrize("face", FACES)
def test_i11_a_database_error_gets_a_friendly_503_and_is_rolled_back(make_app, tenants, face):
    built = make_app()
    target = face_app(built, face)

    def database_fails():
        half_written_tenant()
        db.session.execute(text("SELECT * FROM no_such_table"))

    def still_works():
        return str(db.session.scalar(select(func.count()).select_from(Tenant)))

    add_routes(target, {"/database-fails": database_fails, "/still-works": still_works})
    target.after_request(commit_whatever_is_left)
    client = built.test_client()

    response = client.get("/database-fails", base_url=FACES[face])

    assert_friendly_page(response, face, 503)
    assert "no_such_table" not in response.text
    assert half_written_rows(built) == []
    assert client.get("/still-works", base_url=FACES[face]).text == "2"  # Acme and Globex


def test_i1_a_failing_audit_write_is_a_503_and_nothing_is_counted(
    app, client, make_staff, clock, monkeypatch
):
    member = make_staff("support")
    before = row_counts(app)

    def audit_fails(*args, **kwargs):
        raise OperationalError("INSERT INTO audit_event", {}, Exception("disk full"))

    monkeypatch.setattr(audit, "record", audit_fails)
    response = sign_in_password(client, member.email, "a wrong password")

    assert_friendly_page(response, "console", 503)
    assert row_counts(app) == before


def test_i11_a_database_failure_while_finding_the_tenant_is_a_friendly_503(client, tenants, monkeypatch):
    def registry_fails(hostname):
        raise OperationalError("SELECT tenant", {}, Exception("connection refused"))

    monkeypatch.setattr(tenant_registry, "tenant_for_host", registry_fails)

    response = client.get("/sign-in", base_url=ACME)

    assert response.status_code == 503
    assert "Temporarily unavailable" in response.text
    assert 'class="face-tenant"' in response.text
    assert "connection refused" not in response.text


# --- security headers ----------------------------------------------------------------------------


REQUESTS = {
    "console sign-in page": ("GET", CONSOLE, "/sign-in", None),
    "console redirect to sign-in": ("GET", CONSOLE, "/", None),
    "console 404": ("GET", CONSOLE, "/nope", None),
    "console 405": ("GET", CONSOLE, "/sign-out", None),
    "console csrf refusal": ("POST", CONSOLE, "/sign-in", None),
    "console home": ("GET", CONSOLE, "/", "staff"),
    "console staff list": ("GET", CONSOLE, "/admin/staff/", "staff"),
    "console 403": ("GET", CONSOLE, "/admin/staff/", "support"),
    "tenant sign-in page": ("GET", ACME, "/sign-in", None),
    "tenant redirect to sign-in": ("GET", ACME, "/", None),
    "tenant 404": ("GET", ACME, "/nope", None),
    "tenant 405": ("GET", ACME, "/sign-out", None),
    "tenant csrf refusal": ("POST", ACME, "/sign-in", None),
    "tenant home": ("GET", ACME, "/", "customer"),
    "unknown host": ("GET", "http://evil.localhost", "/", None),
}


@pytest.fixture
def send(client, make_staff, clock, tenants):
    def send(method: str, base_url: str, path: str, who: str | None):
        if who == "staff":
            sign_in(client, make_staff("admin"), clock)
        elif who == "support":
            sign_in(client, make_staff("support"), clock)
        elif who == "customer":
            sign_in_customer(client, ACME, "alice@acme.example", "customer password")
        return client.open(path, method=method, base_url=base_url)

    return send


def assert_security_headers(response, *, page: bool = True) -> None:
    csp = response.headers["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert "'unsafe-inline'" not in csp
    assert "'unsafe-eval'" not in csp
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"
    if page:
        assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("request_", REQUESTS.values(), ids=list(REQUESTS))
def test_i11_every_response_carries_the_security_headers(send, request_):
    response = send(*request_)

    assert_security_headers(response)
    assert "Strict-Transport-Security" not in response.headers


@pytest.mark.parametrize("base_url", FACES.values())
def test_i11_static_files_carry_the_security_headers(client, tenants, base_url):
    response = client.get("/static/css/app.css", base_url=base_url)

    assert response.status_code == 200
    assert_security_headers(response, page=False)


@pytest.mark.parametrize("face", FACES)
def test_i11_error_pages_of_failures_carry_the_security_headers(make_app, tenants, face):
    built = make_app(PROPAGATE_EXCEPTIONS=False, TESTING=False)

    def crash():
        raise RuntimeError("boom")

    add_routes(face_app(built, face), {"/crash": crash})

    assert_security_headers(built.test_client().get("/crash", base_url=FACES[face]))


@pytest.mark.parametrize("base_url", [*FACES.values(), "http://evil.localhost"])
def test_i11_hsts_is_sent_when_configured(make_app, tenants, base_url):
    secure = make_app(SECURITY_HSTS=True)

    response = secure.test_client().get("/sign-in", base_url=base_url)

    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


@pytest.mark.parametrize(
    ("base_url", "path"),
    [(CONSOLE, "/sign-in"), (CONSOLE, "/sign-in/enrol"), (CONSOLE, "/"), (ACME, "/sign-in")],
)
def test_i11_pages_need_no_inline_script_or_style(client, make_staff, clock, tenants, base_url, path):
    if path == "/sign-in/enrol":
        member = make_staff("support", enrolled=False)
        sign_in_password(client, member.email, member.password)
    elif path == "/":
        sign_in(client, make_staff("admin"), clock)

    html = client.get(path, base_url=base_url).text

    # Scripts only from files of our own (the CSP allows 'self'): never a script body in the page.
    scripts = re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.S)
    assert all(body.strip() == "" for body in scripts)
    assert all(
        re.match(r'<script src="/static/js/[a-z-]+\.js" defer>', tag)
        for tag in re.findall(r"<script\b[^>]*>", html)
    )
    assert "<style" not in html
    assert " style=" not in html
    assert not re.search(r"\son[a-z]+=", html)  # no onclick= and friends
