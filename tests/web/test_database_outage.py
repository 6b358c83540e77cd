"""DESIGN §8, I11: error pages never touch the database.

With the database locked (SQLite: another connection holds the write lock) or gone (PostgreSQL:
its server stopped), every page of both faces, whoever asks (nobody, a staff member, a customer, a
ghost), answers the styled 503 page within a few seconds, naming the request id of its
`X-Request-Id` header, and the app logs one line saying so. Under the old bug the 503 page loaded
the signed-in person again from the database: a bare 500, after the busy timeout a second time.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import NamedTuple

import pytest

from impersonator import create_app
from impersonator.logs import JsonFormatter
from tests.conftest import _dispose, config_for
from tests.support.customer import CUSTOMER_PASSWORD, ghost_in, sign_in_as, staff_browser
from tests.support.impersonation import BANNER, END_PATH
from tests.support.web import ACME, CONSOLE, csrf_token

STYLESHEET = '<link rel="stylesheet" href="/static/css/app.css">'
TITLE = "<h1>Temporarily unavailable</h1>"


@pytest.fixture
def app(outage):
    """This module's app, on the outage's own database (it shadows tests/conftest.py's `app`)."""
    # As in production: an exception the 503 handler fails to answer goes to the 500 handler.
    app = create_app(config_for(outage.url, PROPAGATE_EXCEPTIONS=False))
    yield app
    _dispose(app)


class Visit(NamedTuple):
    who: str
    browser: object
    method: str
    base: str
    path: str
    data: dict | None = None
    needs_database: bool = True


def get_pages(face) -> list[tuple[str, bool]]:
    """(address, public) of every GET page of a face but its static files, ids filled with 1."""
    return sorted(
        (
            rule.build(dict.fromkeys(rule.arguments, 1))[1],
            getattr(face.view_functions[rule.endpoint], "public", False),
        )
        for rule in face.url_map.iter_rules()
        # The probes answer machines in JSON, not with the error page: tests/web/test_health.py.
        if "GET" in rule.methods and rule.endpoint != "static" and not rule.endpoint.startswith("health.")
    )


def timed(visit: Visit):
    started = time.perf_counter()
    response = visit.browser.open(visit.path, method=visit.method, base_url=visit.base, data=visit.data)
    return response, time.perf_counter() - started


def problems(visit: Visit, response, elapsed: float, bound: float) -> list[str]:
    """What is wrong with this answer during the outage (nothing: an empty list)."""
    found, text, status = [], response.text, response.status_code
    request_id = response.headers.get("X-Request-Id")
    if elapsed >= bound:
        found.append(f"took {elapsed:.1f} s")
    if status != 503 and (visit.needs_database or status >= 500):
        found.append(f"answered {status}")
    if visit.path.startswith("/api/"):
        # The JSON API answers programs: its own JSON error, never the HTML page (console/api/).
        if status >= 400 and not (response.is_json and "error" in response.get_json() and request_id):
            found.append("not the API's JSON error with a request id")
    else:
        if status == 503 and TITLE not in text:
            found.append("no 'Temporarily unavailable'")
        if status >= 400 and (STYLESHEET not in text or f"request id <code>{request_id}</code>" not in text):
            found.append("not the styled error page with its request id")
    if "Traceback" in text:
        found.append("a traceback")
    return [f"{visit.who} {visit.method} {visit.base}{visit.path}: {problem}" for problem in found]


def test_i11_error_pages_never_touch_the_database(app, outage, tenants, alice, make_staff, clock):
    admin = make_staff("admin")
    anonymous, customer = app.test_client(), app.test_client()
    staff = staff_browser(app, admin, clock)
    sign_in_as(customer, "alice@acme.example")
    ghost = ghost_in(app, make_staff("support"), clock, alice)
    # The forms' tokens, read while the database answers (the console checks them before anything).
    console_token = csrf_token(anonymous.get("/sign-in", base_url=CONSOLE).text)
    tenant_token = csrf_token(anonymous.get("/sign-in", base_url=ACME).text)
    staff_token = csrf_token(staff.get("/", base_url=CONSOLE).text)
    customer_token = csrf_token(customer.get("/", base_url=ACME).text)
    ghost_page = ghost.get("/", base_url=ACME)
    assert BANNER in ghost_page.text
    ghost_token = csrf_token(ghost_page.text)

    # On the console, a page behind sign-in needs the database for a signed-in staff member only (an
    # anonymous browser is sent to the sign-in form, which needs none). Every tenant page needs its tenant.
    visits = [
        Visit(who, browser, "GET", CONSOLE, path, needs_database=who == "staff" and not public)
        for path, public in get_pages(app)
        for who, browser in (("anonymous", anonymous), ("staff", staff))
    ]
    visits += [
        Visit(who, browser, "GET", ACME, path)
        for path, _ in get_pages(app.extensions["impersonator.tenant_app"])
        for who, browser in (("anonymous", anonymous), ("customer", customer), ("ghost", ghost))
    ]
    sign_in_form = {"email": admin.email, "password": admin.password, "csrf_token": console_token}
    visits += [
        Visit("anonymous", anonymous, "POST", CONSOLE, "/sign-in", sign_in_form),
        Visit("staff", staff, "POST", CONSOLE, "/sign-out", {"csrf_token": staff_token}),
        Visit(
            "anonymous",
            anonymous,
            "POST",
            ACME,
            "/sign-in",
            {"email": "alice@acme.example", "password": CUSTOMER_PASSWORD, "csrf_token": tenant_token},
        ),
        Visit(
            "customer", customer, "POST", ACME, "/projects", {"name": "Outage", "csrf_token": customer_token}
        ),
        Visit("ghost", ghost, "POST", ACME, END_PATH, {"csrf_token": ghost_token}),
    ]

    found, ghost_answers = [], []
    outage.begin()
    try:
        for visit in visits:
            try:
                response, elapsed = timed(visit)
            except Exception as error:  # out of every handler: the server's bare 500
                found.append(f"{visit.who} {visit.method} {visit.base}{visit.path}: raised {error!r:.80}")
                continue
            found += problems(visit, response, elapsed, outage.bound)
            if visit.who == "ghost":
                ghost_answers.append(response.text)
        # The console's stylesheet needs no database (the tenant's: the test below).
        static = anonymous.get("/static/css/app.css", base_url=CONSOLE)
        assert static.status_code == 200
        static.close()
    finally:
        outage.end()

    assert not found, "\n".join(found)
    # No banner on the ghost's 503: the first query of a tenant request reads the tenant together
    # with the ghost session, so when the database is away nobody knows (yet) who is impersonating.
    assert not any(BANNER in text for text in ghost_answers)
    if outage.recovers:
        assert staff.get("/", base_url=CONSOLE).status_code == 200
        assert customer.get("/", base_url=ACME).status_code == 200
        assert BANNER in ghost.get("/", base_url=ACME).text


def test_i11_the_tenant_stylesheet_needs_no_database(app, outage, tenants):
    """The 503 page keeps its styles: static files are served without the tenant lookup."""
    outage.begin()
    try:
        responses = [
            app.test_client().get(path, base_url=ACME)
            for path in ("/static/css/app.css", "/static/js/ghost-countdown.js")
        ]
        for response in responses:
            response.close()
    finally:
        outage.end()
    assert [response.status_code for response in responses] == [200, 200]


def json_log_handler() -> logging.Handler:
    [handler] = [
        handler
        for handler in logging.getLogger("impersonator").handlers
        if isinstance(handler.formatter, JsonFormatter)
    ]
    return handler


def test_i11_a_database_outage_logs_one_line_with_the_request_id(
    app, outage, make_staff, clock, capsys, monkeypatch
):
    staff = staff_browser(app, make_staff("support"), clock)
    # The handler keeps the sys.stdout of the first create_app of the session: point it at capsys's.
    monkeypatch.setattr(json_log_handler(), "stream", sys.stdout)
    capsys.readouterr()
    outage.begin()
    try:
        response = staff.get("/", base_url=CONSOLE)
    finally:
        outage.end()
    out = capsys.readouterr().out

    assert response.status_code == 503
    [line] = out.splitlines()
    entry = json.loads(line)
    assert entry["level"] == "error"
    assert entry["logger"] == "impersonator"
    assert entry["message"].startswith("database unavailable: OperationalError: ")
    assert entry["request_id"] == response.headers["X-Request-Id"]
    assert "exception" not in entry
    assert "Traceback" not in out


@pytest.mark.parametrize("outage", ["postgres_stopped"], indirect=True)
@pytest.mark.parametrize("who", ["staff", "customer", "ghost"])
def test_i11_postgresql_stopped_mid_request_answers_the_503_page_naming_who_is_signed_in(
    app, outage, who, tenants, alice, make_staff, clock
):
    """The request's first queries (who is signed in, the tenant, the ghost session) succeed; then
    the server stops, and the page's own queries fail. The 503 page still names the person already
    read, and the ghost still sees the banner, without a query of its own."""
    armed, stopped = [], []

    def stop_the_server_now():  # runs after sign-in and the ghost guard: their queries went through
        if armed and not stopped:
            outage.begin()
            stopped.append(True)

    for face in (app, app.extensions["impersonator.tenant_app"]):
        face.before_request(stop_the_server_now)  # registered before any request, armed below
    if who == "staff":
        browser, base, path = staff_browser(app, make_staff("support"), clock), CONSOLE, "/search?q=a"
        name = "Support Person"
    elif who == "customer":
        browser, base, path, name = app.test_client(), ACME, "/", "Alice"
        sign_in_as(browser, "alice@acme.example")
    else:
        browser, base, path, name = ghost_in(app, make_staff("support"), clock, alice), ACME, "/", "Alice"
    armed.append(True)
    started = time.perf_counter()
    response = browser.get(path, base_url=base)
    elapsed = time.perf_counter() - started

    assert stopped, "the server was not stopped inside the request"
    assert response.status_code == 503, response.text
    assert TITLE in response.text and STYLESHEET in response.text
    assert f"request id <code>{response.headers['X-Request-Id']}</code>" in response.text
    assert name in response.text  # who is signed in, as read before the outage
    assert (BANNER in response.text) == (who == "ghost")
    assert elapsed < outage.bound
