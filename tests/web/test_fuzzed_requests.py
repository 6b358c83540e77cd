"""I11, issue 19: requests a fuzzer (or curl) can send and a browser never does get a clear 4xx with
the app's own page, never a 500: file parts where text is expected, multipart parts without a name,
ids no table can hold, raw bytes in a query string, host names that cannot be encoded, and webhook
addresses that the URL parser itself refuses.

The form and route cases are read from the CSRF registry and the URL maps, so a new form or a new
`<int:…>` route is covered without touching this file."""

from __future__ import annotations

import importlib
import io
import pkgutil
import re
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from werkzeug.test import EnvironBuilder

import impersonator
from impersonator.extensions import db
from impersonator.forms import TextForm
from impersonator.models import WebhookEndpoint
from impersonator.services.delivery import webhooks
from impersonator.services.errors import InvalidInput
from impersonator.services.staff.roles import allows
from impersonator.web_input import BIG_ID_MAX, ID_MAX, IdConverter
from tests.support.impersonation import REDEEM_PATH, launch, the_impersonation
from tests.support.multipart import CONTENT_TYPE, multipart
from tests.support.staff_admin import admin_post
from tests.support.web import ACME, CONSOLE, csrf_token, sign_in, sign_in_customer
from tests.web.test_csrf import CASES, REFUSAL, opted_in_alice, signed_in_somewhere, snapshot

NOT_TEXT = "must be typed text, not a file."


def form_fields(data: dict) -> list[str]:
    """The fields a case posts, and the CSRF token every form carries."""
    return ["csrf_token", *data]


def assert_our_page(response, statuses: set[int]) -> None:
    assert response.status_code in statuses, response.text[:500]
    assert "Traceback" not in response.text
    assert "<!doctype html>" in response.text


# --- 1. a file part where text is expected ------------------------------------------------------


def _import_all_modules() -> None:
    for module in pkgutil.walk_packages(impersonator.__path__, "impersonator."):
        importlib.import_module(module.name)


def _subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_subclasses(sub)}
    return found


def test_i11_every_form_of_the_app_takes_text_only():
    _import_all_modules()
    ours = {form for form in _subclasses(FlaskForm) if form.__module__.startswith("impersonator.")}

    assert ours, "no forms found"
    assert {form.__qualname__ for form in ours if not issubclass(form, TextForm)} == set()


@pytest.mark.parametrize("case", CASES.values(), ids=[endpoint for _, endpoint in CASES])
def test_i11_a_file_sent_for_any_text_field_of_any_form_is_refused(bed, case):
    post = case(bed)
    before, signed_in = snapshot(bed.app), signed_in_somewhere(bed.client)

    for field in form_fields(post.data):
        token = csrf_token(bed.client.get(post.token_page, base_url=post.base_url).text)
        data = {"csrf_token": token, **post.data}
        data[field] = (io.BytesIO(b"not typed text"), "field.txt")

        response = bed.client.post(
            post.path, base_url=post.base_url, data=data, content_type="multipart/form-data"
        )

        assert_our_page(response, {400})
        # The CSRF token sent as a file is no token at all; for any other field the page names it.
        assert (REFUSAL if field == "csrf_token" else NOT_TEXT) in response.text, field
        assert snapshot(bed.app) == before
        assert signed_in_somewhere(bed.client) == signed_in


def test_i11_a_file_for_a_text_field_gets_a_page_naming_the_field(bed):
    token = csrf_token(bed.client.get("/sign-in", base_url=CONSOLE).text)

    response = bed.client.post(
        "/sign-in",
        base_url=CONSOLE,
        data={"csrf_token": token, "email": (io.BytesIO(b"a@b.example"), "email.txt"), "password": "pw"},
    )

    assert_our_page(response, {400})
    assert f"<p>Email {NOT_TEXT}</p>" in response.text


def test_i11_json_values_that_are_not_text_are_refused_at_their_field(bed):
    """Flask-WTF also reads a JSON body into the form: a number where text is expected is the same
    case as a file."""
    token = csrf_token(bed.client.get("/sign-in", base_url=ACME).text)

    response = bed.client.post(
        "/sign-in",
        base_url=ACME,
        json={"email": "alice@acme.example", "password": 12345},
        headers={"X-CSRFToken": token},
    )

    assert response.status_code == 400
    assert f"Password {NOT_TEXT}" in response.text
    assert signed_in_somewhere(bed.client)[1] == 302


def test_i11_a_file_for_the_redemption_token_redeems_nothing(bed):
    alice = opted_in_alice(bed)
    member = bed.make_staff("support")
    sign_in(bed.client, member, bed.clock)
    _, token = launch(bed.client, member, bed.clock, alice)

    response = bed.client.post(
        REDEEM_PATH, base_url=ACME, data={"token": (io.BytesIO(token.encode()), "token.txt")}
    )

    assert 400 <= response.status_code < 500
    assert "Traceback" not in response.text
    assert the_impersonation(bed.app).redeemed_at is None


# --- 2. a multipart part without a name ---------------------------------------------------------


@pytest.mark.parametrize("case", CASES.values(), ids=[endpoint for _, endpoint in CASES])
def test_i11_a_multipart_part_without_a_name_is_refused(bed, case):
    post = case(bed)
    token = csrf_token(bed.client.get(post.token_page, base_url=post.base_url).text)
    fields = [
        (name, value, None)
        for name, values in {"csrf_token": token, **post.data}.items()
        for value in (values if isinstance(values, list) else [values])
    ]
    before, signed_in = snapshot(bed.app), signed_in_somewhere(bed.client)

    response = bed.client.post(
        post.path,
        base_url=post.base_url,
        data=multipart([*fields, (None, "who am I", None)]),
        content_type=CONTENT_TYPE,
    )

    # A body that breaks the multipart rules cannot be read, so the form (and its token) is refused
    # whole, as a body that is not UTF-8 is.
    assert_our_page(response, {400})
    assert REFUSAL in response.text
    assert snapshot(bed.app) == before
    assert signed_in_somewhere(bed.client) == signed_in


@pytest.mark.parametrize("nameless", [(None, "x", None), (None, "x", "f.txt")], ids=["field", "file"])
@pytest.mark.parametrize("base_url", [CONSOLE, ACME])
def test_i11_a_nameless_part_is_refused_before_anyone_signs_in(client, tenants, base_url, nameless):
    response = client.post(
        "/sign-in",
        base_url=base_url,
        data=multipart([("email", "a@b.example", None), nameless]),
        content_type=CONTENT_TYPE,
    )

    assert_our_page(response, {400})
    assert REFUSAL in response.text


def test_i11_a_nameless_part_next_to_a_redemption_token_redeems_nothing(bed):
    alice = opted_in_alice(bed)
    member = bed.make_staff("support")
    sign_in(bed.client, member, bed.clock)
    _, token = launch(bed.client, member, bed.clock, alice)

    response = bed.client.post(
        REDEEM_PATH,
        base_url=ACME,
        data=multipart([("token", token, None), (None, "x", None)]),
        content_type=CONTENT_TYPE,
    )

    assert 400 <= response.status_code < 500
    assert "Traceback" not in response.text
    assert the_impersonation(bed.app).redeemed_at is None


# --- 3. ids no table can hold --------------------------------------------------------------------

ID_VARIABLE = re.compile(r"<(int|bigint):\w+>")
LARGEST = {"int": ID_MAX, "bigint": BIG_ID_MAX}
TOO_LARGE = {
    "one past the largest": lambda largest: str(largest + 1),
    "2**63": lambda largest: str(2**63),
    "10**30": lambda largest: "1" + "0" * 30,
    "5000 digits": lambda largest: "9" * 5000,
}


def id_rules(face_app) -> list:
    """The pages' id routes (the JSON API answers in JSON: tests/web/test_api_errors.py checks its ids)."""
    return [
        rule
        for rule in face_app.url_map.iter_rules()
        if ID_VARIABLE.search(rule.rule) and not rule.rule.startswith("/api/")
    ]


def with_ids(rule, value: Callable[[int], str]) -> str:
    return ID_VARIABLE.sub(lambda match: value(LARGEST[match.group(1)]), rule.rule)


def test_i11_both_faces_bound_their_ids(app, tenant_app):
    for face_app in (app, tenant_app):
        assert id_rules(face_app)
        assert face_app.url_map.converters["int"] is IdConverter


def signed_in_on_both_faces(client, make_staff, clock) -> None:
    sign_in(client, make_staff("admin"), clock)
    assert sign_in_customer(client, ACME, "alice@acme.example", "customer password").status_code == 303


@pytest.mark.parametrize("value", TOO_LARGE.values(), ids=list(TOO_LARGE))
def test_i11_an_id_no_table_can_hold_is_a_404_on_every_id_route(
    app, tenant_app, client, make_staff, clock, tenants, value
):
    signed_in_on_both_faces(client, make_staff, clock)

    for face_app, base_url in ((app, CONSOLE), (tenant_app, ACME)):
        for rule in id_rules(face_app):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                response = client.open(with_ids(rule, value), method=method, base_url=base_url)
                assert_our_page(response, {404})


def test_i11_the_largest_ids_are_still_looked_up(app, tenant_app, client, make_staff, clock, tenants):
    """The largest id of each kind fits its column: the view runs, and finds no such row (404).
    POSTs carry their CSRF token, so it is the view that answers, not the CSRF check."""
    signed_in_on_both_faces(client, make_staff, clock)

    for face_app, base_url in ((app, CONSOLE), (tenant_app, ACME)):
        token = csrf_token(client.get("/", base_url=base_url).text)
        for rule in id_rules(face_app):
            path = with_ids(rule, str)
            if "GET" in rule.methods:
                # 403 where the admin's role lacks the page's permission (checked before any lookup).
                permission = getattr(face_app.view_functions[rule.endpoint], "permission", None)
                refused = permission is not None and not allows("admin", permission)
                assert_our_page(client.get(path, base_url=base_url), {403} if refused else {404})
            if "POST" in rule.methods:
                response = client.post(path, base_url=base_url, data={"csrf_token": token})
                # 403: an admin may not impersonate (checked before the user is looked up).
                assert response.status_code in {400, 403, 404}, (path, response.status_code)
                assert REFUSAL not in response.text, path
                assert "Traceback" not in response.text


# --- 4. raw bytes in a query string ---------------------------------------------------------------

RAW_QUERIES = {
    "invalid UTF-8 in next": b"next=/\xff\xfe",
    "invalid UTF-8 elsewhere": b"q=\xc3(&next=/",
    "raw UTF-8": "q=caf\u00e9".encode(),
    "lone continuation byte": b"\x80",
}


def raw(query: bytes) -> dict:
    """What a WSGI server puts in the environ for these bytes (PEP 3333: latin-1)."""
    return {"QUERY_STRING": query.decode("latin-1")}


def get_pages(face_app) -> list[str]:
    return sorted(
        rule.rule
        for rule in face_app.url_map.iter_rules()
        if "GET" in rule.methods and not rule.arguments and rule.endpoint != "static"
    )


@pytest.mark.parametrize("query", RAW_QUERIES.values(), ids=list(RAW_QUERIES))
@pytest.mark.parametrize("signed_in", [False, True], ids=["signed out", "signed in"])
def test_i11_raw_bytes_in_a_query_string_never_error_on_any_page(
    app, tenant_app, client, make_staff, clock, tenants, query, signed_in
):
    if signed_in:
        signed_in_on_both_faces(client, make_staff, clock)

    for face_app, base_url in ((app, CONSOLE), (tenant_app, ACME)):
        for path in get_pages(face_app):
            response = client.get(path, base_url=base_url, environ_overrides=raw(query))
            assert response.status_code < 500, (base_url, path, response.status_code)
            assert "Traceback" not in response.text


def test_i11_raw_bytes_are_read_as_their_percent_encoding(client):
    """One policy: `\\xff` means what `%FF` means, as in the address a browser would have sent."""
    raw_answer = client.get("/admin/staff/", base_url=CONSOLE, environ_overrides=raw(b"q=\xff&x=\xc3\xa9"))
    encoded_answer = client.get("/admin/staff/?q=%FF&x=%C3%A9", base_url=CONSOLE)

    assert raw_answer.status_code == encoded_answer.status_code == 302
    assert raw_answer.headers["Location"] == encoded_answer.headers["Location"]
    (next_path,) = parse_qs(urlsplit(raw_answer.headers["Location"]).query)["next"]
    assert next_path == "/admin/staff/?q=%FF&x=%C3%A9"


def test_i11_raw_bytes_in_next_lead_home_after_sign_in(client, make_staff, clock):
    member = make_staff("support")
    clock.next_totp_step()
    page = client.get("/sign-in", base_url=CONSOLE, environ_overrides=raw(b"next=/\xff"))
    assert page.status_code == 200

    response = client.post(
        "/sign-in",
        base_url=CONSOLE,
        environ_overrides=raw(b"next=/\xff"),
        data={"csrf_token": csrf_token(page.text), "email": member.email, "password": member.password},
    )

    assert response.status_code == 302
    assert "\xff" not in response.headers["Location"]


# --- 5. host names that cannot be encoded ---------------------------------------------------------

ODD_HOSTS = {
    "64-character label": "a" * 64 + ".localhost",
    "64-character label with port": "a" * 64 + ".localhost:5000",
    "empty label": "acme..localhost",
    "leading dot": ".localhost",
    "only a dot": ".",
    "non-ASCII": "\u00e9cole.localhost",
    "broken punycode": "xn--zz.localhost",
    "space": "ac me.localhost",
    "very long": ("a" * 63 + ".") * 8 + "localhost",
    "10,000 characters": "a" * 10_000,
    "empty": "",
}


def call_with_host(app, method: str, path: str, host: str) -> tuple[int, str]:
    """Send a request straight to the WSGI app: the test client itself cannot build a URL (for its
    cookies, for its response) from every such host."""
    environ = EnvironBuilder(path=path, method=method).get_environ()
    environ["HTTP_HOST"] = host
    started = []
    body = b"".join(app(environ, lambda status, headers, exc_info=None: started.append(status)))
    return int(started[0].split()[0]), body.decode()


@pytest.mark.parametrize("host", ODD_HOSTS.values(), ids=list(ODD_HOSTS))
@pytest.mark.parametrize(("method", "path"), [("GET", "/"), ("GET", "/sign-in"), ("POST", "/sign-in")])
def test_i11_any_host_gets_the_styled_error_page(app, tenants, host, method, path):
    status, page = call_with_host(app, method, path, host)

    assert status in {400, 404}, page[:500]
    assert "Traceback" not in page
    assert 'href="/static/css/app.css' in page
    assert "Unknown site" in page or "<h1>Bad request</h1>" in page


# --- 6. webhook addresses the URL parser refuses ----------------------------------------------------

BROKEN_URLS = ["http://[", "http://[::1", "https://[zz]/hooks", "https://example.com]/", "http://[1.2.3.4]/"]


@pytest.mark.parametrize("allow_private", [True, False])
@pytest.mark.parametrize("url", BROKEN_URLS)
def test_i11_a_webhook_url_the_parser_refuses_is_a_clear_refusal(url, allow_private):
    with pytest.raises(InvalidInput) as refused:
        webhooks.checked_target(url, allow_private=allow_private)

    assert refused.value.reason == "webhook_url_invalid"
    assert "Enter the full address" in refused.value.message


@pytest.mark.parametrize("url", BROKEN_URLS)
def test_i11_the_webhook_form_refuses_a_url_the_parser_refuses(app, admin, url):
    response = admin_post(
        admin, "/admin/webhooks/", {"url": url, "description": "", "events": ["security.alert"]}
    )

    assert_our_page(response, {400})
    assert "Enter the full address, such as https://example.com/hooks." in response.text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 0


def test_i11_audit_anchor_refuses_a_url_the_parser_refuses(runner):
    result = runner.invoke(args=["audit", "anchor", "--url", "http://["])

    assert result.exit_code != 0
    assert "Enter the full address" in result.output
    assert not isinstance(result.exception, ValueError)
