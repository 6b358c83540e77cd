"""Issue 13: reloading after a POST never repeats it. Every POST of both faces answers a success with a
redirect (Post/Redirect/Get), so the browser's reload asks for the page it landed on, not the change
again; the few exceptions are listed below with their reason. Where a page shows a one-time secret
(a support access code, a webhook's signing secret, an enrolment link), it shows it on the GET after
the redirect, once: a reload says it was shown once and how to get a new one.

The POSTs are test_csrf.py's cases (each signs in whoever the form needs and posts data that succeeds),
so a new POST rule is covered here as soon as it gets its CSRF case.
"""

from __future__ import annotations

import html
import json
import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from impersonator import web_once
from impersonator.extensions import db
from impersonator.models import AccessCode, AuditEvent, StaffInvite, WebhookEndpoint
from tests.support.customer import NEW_CODE, SETTINGS, settings_post, sign_in_as
from tests.support.impersonation import REDEEM_PATH, launch
from tests.support.staff_admin import admin_post, member_id
from tests.support.web import ACME, CONSOLE, csrf_token, sign_in
from tests.web.cases import Case
from tests.web.test_csrf import CASES, CSRF_EXEMPT, opted_in_alice, post_rules, snapshot

REDIRECTS = {302, 303}

# The POSTs whose success is not a redirect, each for a reason.
NOT_REDIRECTED = {
    ("console", "staff_invites.open_link"): (
        "The enrolment link's token moves from the address's fragment into this POST's body, and the "
        "answer is the password form carrying it on in a hidden field: a redirect could carry it only in "
        "an address (logged, kept in history) or in the cookie. The POST changes nothing, so a reload "
        "shows the same form again."
    ),
}


# The console's JSON API (security tooling, called with an API key): a program's request answered with
# JSON, which no browser reloads; its own tests hold what it answers.
API_BLUEPRINT = "api."


def for_browsers(key: tuple[str, str]) -> bool:
    return not key[1].startswith(API_BLUEPRINT)


def redeem_case(bed) -> Case:
    """The handoff's cross-site form POST (CSRF-exempt: the token is the credential). It must land in
    the ghost session on the tenant's home page, so it redirects like any other POST."""
    alice = opted_in_alice(bed)
    member = bed.make_staff("support")
    sign_in(bed.client, member, bed.clock)
    _, token = launch(bed.client, member, bed.clock, alice)
    return Case(ACME, REDEEM_PATH, "/sign-in", {"token": token}, accepted_status=303)


ALL_CASES = {
    **{key: case for key, case in CASES.items() if for_browsers(key)},
    ("tenant", "impersonation.redeem"): redeem_case,
}


def test_every_post_rule_of_both_faces_is_checked_here(app, tenant_app):
    rules = {("console", e) for e in post_rules(app)} | {("tenant", e) for e in post_rules(tenant_app)}

    assert {rule for rule in rules if for_browsers(rule)} == set(ALL_CASES)
    assert set(NOT_REDIRECTED) <= rules
    assert {key for key in CSRF_EXEMPT if for_browsers(key)} <= set(ALL_CASES)


# The views' answers do not depend on the database (test_csrf.py runs each case on both): SQLite only.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("case", ALL_CASES.values(), ids=[endpoint for _, endpoint in ALL_CASES])
def test_a_successful_post_redirects_and_reloading_the_page_it_lands_on_repeats_nothing(bed, case):
    key = next(k for k, v in ALL_CASES.items() if v is case)
    post = case(bed)
    token = csrf_token(bed.client.get(post.token_page, base_url=post.base_url).text)

    response = bed.client.post(post.path, base_url=post.base_url, data={"csrf_token": token, **post.data})

    if key in NOT_REDIRECTED:
        assert response.status_code == 200 and "Location" not in response.headers
        return
    assert response.status_code in REDIRECTS, response.text
    location = response.headers["Location"]
    after = snapshot(bed.app)
    landed = bed.client.get(location, base_url=post.base_url)
    assert landed.status_code in (200, 302, 303), landed.text
    # A reload asks for that page again; it may say that what it showed once is gone (the handoff
    # page: 410), but it changes nothing.
    assert bed.client.get(location, base_url=post.base_url).status_code < 500
    assert snapshot(bed.app) == after


# --- one-time secrets --------------------------------------------------------------------------


def words(page) -> str:
    """The page's text without its tags, line breaks and indents as single spaces, as a person reads it."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", page.text)).split())


def rows(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def audit_count(app, action: str) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).where(AuditEvent.action == action))


def session_text(app, client, face: str) -> str:
    """The face's session cookie of `client`, decoded (it is signed, not encrypted), as text."""
    face_app = app if face == "console" else app.extensions["impersonator.tenant_app"]
    domain, base_url = ("console.localhost", CONSOLE) if face == "console" else ("acme.localhost", ACME)
    cookie = client.get_cookie(face_app.config["SESSION_COOKIE_NAME"], domain=domain)
    with face_app.test_request_context("/", base_url=base_url):
        return json.dumps(face_app.session_interface.get_signing_serializer(face_app).loads(cookie.value))


def test_a_support_access_code_is_shown_once_after_the_redirect_and_a_reload_says_so(app, tenants, clock):
    customer = app.test_client()
    sign_in_as(customer, "alice@acme.example")

    posted = settings_post(customer, "/code")

    assert posted.status_code == 303 and posted.headers["Location"] == SETTINGS
    shown = customer.get(SETTINGS, base_url=ACME)
    code = NEW_CODE.search(shown.text).group(1)
    assert shown.headers["Cache-Control"] == "no-store"
    assert code not in posted.text and code not in str(posted.headers)
    # Waiting for the GET it was encrypted in the session; now it is gone from there too.
    assert code not in session_text(app, customer, "tenant")
    assert web_once.SLOT not in session_text(app, customer, "tenant")

    reload = customer.get(SETTINGS, base_url=ACME)

    assert reload.status_code == 200
    assert code not in reload.text and NEW_CODE.search(reload.text) is None
    assert "It was shown once, when you generated it" in words(reload)
    assert "generate a new one: it replaces this one" in words(reload)
    assert rows(app, AccessCode) == 1 and audit_count(app, "access_code.generated") == 1


def test_a_kept_code_is_not_shown_once_revoked_nor_after_a_few_minutes(app, tenants, clock):
    customer = app.test_client()
    sign_in_as(customer, "alice@acme.example")

    assert settings_post(customer, "/code").status_code == 303
    clock.advance(seconds=web_once.MAX_AGE_SECONDS + 1)  # the browser never came back in time
    assert NEW_CODE.search(customer.get(SETTINGS, base_url=ACME).text) is None

    assert settings_post(customer, "/code").status_code == 303
    token = csrf_token(customer.get("/account", base_url=ACME).text)
    # Revoked before the redirect's GET (another tab): nothing left to read out.
    customer.post(f"{SETTINGS}/code/revoke", base_url=ACME, data={"csrf_token": token})
    page = customer.get(SETTINGS, base_url=ACME)
    assert NEW_CODE.search(page.text) is None and "You have no active code." in page.text


def test_a_webhook_secret_is_shown_once_after_the_redirect_and_a_reload_says_so(app, admin):
    data = {"url": "http://127.0.0.1:9/hooks", "description": "SIEM", "events": ["security.alert"]}

    posted = admin.post(
        "/admin/webhooks/",
        base_url=CONSOLE,
        data={"csrf_token": csrf_token(admin.get("/admin/webhooks/", base_url=CONSOLE).text), **data},
    )

    assert posted.status_code == 303
    [endpoint_id] = [row.id for row in endpoint_rows(app)]
    assert urlsplit(posted.headers["Location"]).path == f"/admin/webhooks/{endpoint_id}/secret"
    shown = admin.get(posted.headers["Location"], base_url=CONSOLE)
    secret = re.search(r'id="webhook-secret"[^>]*>([^<]+)</code>', shown.text).group(1)
    assert secret.startswith("whsec_") and shown.headers["Cache-Control"] == "no-store"
    assert secret not in posted.text and secret not in str(posted.headers)
    assert secret not in session_text(app, admin, "console")

    reload = admin.get(posted.headers["Location"], base_url=CONSOLE)

    assert reload.status_code == 200 and reload.headers["Cache-Control"] == "no-store"
    assert secret not in reload.text and 'id="webhook-secret"' not in reload.text
    assert "was shown once, when the endpoint was added" in words(reload)
    assert "delete the endpoint on the webhooks page and add it again" in words(reload)
    assert rows(app, WebhookEndpoint) == 1 and audit_count(app, "webhook.created") == 1


def test_a_secret_kept_for_one_page_never_shows_on_another(app, admin):
    token = csrf_token(admin.get("/admin/webhooks/", base_url=CONSOLE).text)
    data = {"csrf_token": token, "url": "http://127.0.0.1:9/a", "events": ["security.alert"]}
    first = admin.post("/admin/webhooks/", base_url=CONSOLE, data=data)
    second = admin.post("/admin/webhooks/", base_url=CONSOLE, data={**data, "url": "http://127.0.0.1:9/b"})
    first_path, second_path = first.headers["Location"], second.headers["Location"]

    # Only the newest secret waits: the first endpoint's page says its secret was shown once.
    assert 'id="webhook-secret"' not in admin.get(first_path, base_url=CONSOLE).text
    assert 'id="webhook-secret"' in admin.get(second_path, base_url=CONSOLE).text


def test_an_enrolment_link_is_shown_once_after_the_redirect_and_a_reload_offers_a_new_one(app, admin):
    data = {"email": "newcomer@staff.example", "name": "Nina Newcomer", "role": "support"}

    posted = admin_post(admin, "/admin/staff/", data)

    assert posted.status_code == 303
    newcomer = member_id(app, "newcomer@staff.example")
    assert urlsplit(posted.headers["Location"]).path == f"/admin/staff/{newcomer}/enrolment-link"
    shown = admin.get(posted.headers["Location"], base_url=CONSOLE)
    link = re.search(r'id="enrolment-link"[^>]*>([^<]+)</code>', shown.text).group(1)
    assert "Nina Newcomer is created" in shown.text and shown.headers["Cache-Control"] == "no-store"
    token = urlsplit(link).fragment
    assert token not in posted.text and token not in str(posted.headers)
    assert token not in session_text(app, admin, "console")

    reload = admin.get(posted.headers["Location"], base_url=CONSOLE)

    assert reload.status_code == 200 and token not in reload.text
    assert "was shown once, when it was made, and is not shown again" in words(reload)
    assert f'action="/admin/staff/{newcomer}/invite"' in reload.text  # how to get a new one
    assert rows(app, StaffInvite) == 1

    # The offered button makes a new link (the old one stops working), shown once too.
    again = admin_post(admin, f"/admin/staff/{newcomer}/invite", follow_redirects=True)
    assert "A new enrolment link for Nina Newcomer" in again.text and 'id="enrolment-link"' in again.text
    assert rows(app, StaffInvite) == 2
    assert 'id="enrolment-link"' not in admin.get(posted.headers["Location"], base_url=CONSOLE).text


@pytest.mark.parametrize(
    "slot",
    [None, "x", [1], {"kind": "new_webhook"}, {"kind": "new_webhook", "ref": 1, "box": "not fernet"}],
    ids=["none", "text", "list", "no ref", "bad box"],
)
def test_any_cookie_contents_in_the_slot_read_as_nothing_to_show(app, admin, slot):
    """A cookie's contents are input: whatever sits in the slot, the page answers, without a secret."""
    token = csrf_token(admin.get("/admin/webhooks/", base_url=CONSOLE).text)
    data = {"csrf_token": token, "url": "http://127.0.0.1:9/a", "events": ["security.alert"]}
    path = admin.post("/admin/webhooks/", base_url=CONSOLE, data=data).headers["Location"]
    with admin.session_transaction(base_url=CONSOLE) as state:
        state[web_once.SLOT] = slot

    page = admin.get(path, base_url=CONSOLE)

    assert page.status_code == 200 and 'id="webhook-secret"' not in page.text


def endpoint_rows(app) -> list[WebhookEndpoint]:
    with app.app_context():
        return list(db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))
