"""The admin's webhook page (DESIGN I10, issue 5 §6): endpoints with their events and delivery state;
creating one shows its signing secret once (stored encrypted, never audited); SSRF refused; enable,
disable, delete and a test event, all audited."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from impersonator.extensions import db
from impersonator.models import WEBHOOK_EVENTS, AuditEvent, WebhookEndpoint
from impersonator.services import audit, secret_box
from impersonator.services.audit import Actor
from tests.support.impersonation import launch
from tests.support.records import audit_actions, audit_events
from tests.support.web import CONSOLE, csrf_token, flashes, sign_in
from tests.support.webhooks import arrivals, messages, signature_verifies, subscribe, work

PAGE = "/admin/webhooks/"
HOOK = "/hooks"
_SECRET = re.compile(r'id="webhook-secret"[^>]*>([^<]+)</code>')


def post(browser, path: str, data: dict | None = None, **kwargs):
    token = csrf_token(browser.get(PAGE, base_url=CONSOLE).text)
    return browser.post(path, base_url=CONSOLE, data={"csrf_token": token, **(data or {})}, **kwargs)


def create(browser, url: str, events=("security.alert",), description: str = "SIEM"):
    # A success redirects to the page that shows the secret once (PRG): followed, as a browser does.
    data = {"url": url, "description": description, "events": list(events)}
    return post(browser, PAGE, data, follow_redirects=True)


def endpoint_rows(app) -> list[WebhookEndpoint]:
    with app.app_context():
        rows = list(db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))
        for row in rows:
            db.session.expunge(row)
        return rows


def alert(app, clock) -> None:
    with app.app_context():
        audit.record("security.alert", actor=Actor.system("test"), at=clock.now(), details={"kind": "test"})
        db.session.commit()


# --- create ----------------------------------------------------------------------------------------


def test_i12_the_secret_is_shown_once_stored_encrypted_and_never_audited(app, admin, httpserver, clock):
    httpserver.expect_request(HOOK, method="POST").respond_with_data("ok")

    response = create(admin, httpserver.url_for(HOOK), events=["security.alert", "impersonation.started"])

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    secret = html.unescape(_SECRET.search(response.text).group(1))
    assert secret.startswith("whsec_")
    [row] = endpoint_rows(app)
    assert secret not in row.secret_encrypted
    with app.app_context():
        assert secret_box.decrypt(row.secret_encrypted) == secret
        assert all(secret not in e.details for e in db.session.scalars(select(AuditEvent)))
    assert row.event_names == ["impersonation.started", "security.alert"]
    assert secret not in admin.get(PAGE, base_url=CONSOLE).text
    [created] = audit_events(app, "webhook.created")
    assert created["details"]["url"] == httpserver.url_for(HOOK)
    assert created["details"]["events"] == ["impersonation.started", "security.alert"]
    assert created["target_id"] == row.id and created["actor_type"] == "staff"

    # The secret the admin copied verifies what the receiver gets.
    alert(app, clock)
    work(app, clock.now())
    [arrival] = arrivals(httpserver, HOOK)
    assert signature_verifies(secret, arrival)


def test_the_list_shows_url_events_state_and_how_delivery_goes(app, admin, httpserver, clock):
    httpserver.expect_oneshot_request(HOOK, method="POST").respond_with_data("", status=500)
    httpserver.expect_request(HOOK, method="POST").respond_with_data("ok")
    endpoint_id, _ = subscribe(app, httpserver.url_for(HOOK), clock.now(), events=["security.alert"])
    assert "nothing delivered yet" in admin.get(PAGE, base_url=CONSOLE).text

    alert(app, clock)
    work(app, clock.now())
    failing = admin.get(PAGE, base_url=CONSOLE).text
    clock.advance(minutes=2)
    work(app, clock.now())
    healthy = admin.get(PAGE, base_url=CONSOLE).text

    assert httpserver.url_for(HOOK) in failing
    assert ">security.alert</span>" in failing
    assert "failing" in failing and "1 retrying, 0 failed" in failing
    assert "failing" not in healthy
    # Times in the console's one style (issue 13): UTC on hover, the browser's zone in the text.
    assert f'last delivered <time datetime="{clock.now():%Y-%m-%dT%H:%M:%S}Z"' in healthy
    assert f'action="/admin/webhooks/{endpoint_id}/disable"' in healthy


def test_i10_a_private_url_is_refused_next_to_the_field_outside_development(make_app, make_staff, clock):
    app = make_app(WEBHOOK_ALLOW_PRIVATE_URLS=False)
    browser = app.test_client()
    sign_in(browser, make_staff("admin"), clock)
    before = audit_actions(app)

    response = create(browser, "http://169.254.169.254/latest/meta-data/")

    assert response.status_code == 400
    assert "only go to public addresses" in response.text
    assert 'class="field field-invalid"' in response.text
    assert endpoint_rows(app) == []
    assert audit_actions(app) == before


@pytest.mark.parametrize(
    ("events", "message"),
    [([], "Choose at least one event."), (["security.alert", "user.deleted"], "is not a valid choice")],
    ids=["none", "unknown"],
)
def test_i11_the_events_must_come_from_the_list(app, admin, events, message):
    response = create(admin, "http://127.0.0.1:9/hooks", events=events)

    assert response.status_code == 400
    assert message in html.unescape(response.text)
    assert endpoint_rows(app) == []


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com/x", "Enter the full address, such as https://example.com/hooks."),
        ("http://user:pw@example.com/x", "Put no user name or password in the address."),
        ("", "Endpoint URL is required."),
        ("http://example.com/" + "a" * 2100, "Endpoint URL must be at most 2000 characters."),
    ],
    ids=["scheme", "credentials", "empty", "huge"],
)
def test_i11_a_bad_url_is_refused_with_a_clear_message(app, admin, url, message):
    response = create(admin, url)

    assert response.status_code == 400
    assert message in html.unescape(response.text)
    assert endpoint_rows(app) == []


def test_i11_url_and_description_are_escaped(app, admin):
    create(admin, "http://127.0.0.1:9/hooks?a=<script>", description="<b>bold</b> & co")

    page = admin.get(PAGE, base_url=CONSOLE).text

    assert "<script>" not in page and "<b>bold</b>" not in page
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in page


def test_the_form_offers_every_webhook_event(admin):
    page = admin.get(PAGE, base_url=CONSOLE).text

    for event in WEBHOOK_EVENTS:
        assert f'value="{event}"' in page


# --- enable, disable, delete, test ----------------------------------------------------------------


def test_i1_disable_and_enable_are_audited_and_a_disabled_endpoint_gets_nothing_new(
    app, admin, httpserver, clock
):
    httpserver.expect_request(HOOK, method="POST").respond_with_data("ok")
    endpoint_id, _ = subscribe(app, httpserver.url_for(HOOK), clock.now(), events=["security.alert"])

    disabled = post(admin, f"{PAGE}{endpoint_id}/disable", follow_redirects=True)
    alert(app, clock)
    again = post(admin, f"{PAGE}{endpoint_id}/disable", follow_redirects=True)

    assert flashes(disabled) == ["The endpoint is disabled: it gets no new events."]
    assert flashes(again) == ["It was already disabled."]
    assert messages(app, "webhook") == []
    enabled = post(admin, f"{PAGE}{endpoint_id}/enable", follow_redirects=True)
    alert(app, clock)
    work(app, clock.now())
    assert flashes(enabled) == ["The endpoint is enabled."]
    assert len(arrivals(httpserver, HOOK)) == 1
    changes = [
        (e["details"]["active"])
        for e in audit_events(app, "webhook.disabled") + audit_events(app, "webhook.enabled")
    ]
    assert changes == [{"old": True, "new": False}, {"old": False, "new": True}]


def test_i10_a_message_queued_before_a_disable_waits_and_goes_out_after_enable(app, admin, httpserver, clock):
    httpserver.expect_request(HOOK, method="POST").respond_with_data("ok")
    endpoint_id, _ = subscribe(app, httpserver.url_for(HOOK), clock.now(), events=["security.alert"])
    alert(app, clock)
    post(admin, f"{PAGE}{endpoint_id}/disable")

    work(app, clock.now())
    [waiting] = messages(app, "webhook")
    assert (waiting.status, waiting.last_error) == ("pending", "the endpoint is disabled")
    assert arrivals(httpserver, HOOK) == []

    post(admin, f"{PAGE}{endpoint_id}/enable")
    clock.advance(hours=1)
    work(app, clock.now())

    assert [a.webhook_id for a in arrivals(httpserver, HOOK)] == [waiting.message_id]


def test_delete_removes_the_endpoint_and_fails_what_was_waiting_for_it(app, admin, clock):
    endpoint_id, _ = subscribe(app, "http://127.0.0.1:9/hooks", clock.now(), events=["security.alert"])
    alert(app, clock)

    response = post(admin, f"{PAGE}{endpoint_id}/delete", follow_redirects=True)

    assert flashes(response) == ["The endpoint is deleted. 1 undelivered message(s) to it are marked failed."]
    assert endpoint_rows(app) == []
    [message] = messages(app, "webhook")
    assert (message.status, message.last_error, message.endpoint_id) == (
        "failed",
        "the endpoint was deleted",
        None,
    )
    [deleted] = audit_events(app, "webhook.deleted")
    assert deleted["details"]["undelivered_dropped"] == 1
    # …and an admin's Retry cannot bring it back to life: there is nowhere to send it.
    token = csrf_token(admin.get("/admin/outbox/", base_url=CONSOLE).text)
    retried = admin.post(
        f"/admin/outbox/{message.id}/retry",
        base_url=CONSOLE,
        data={"csrf_token": token},
        follow_redirects=True,
    )
    assert flashes(retried) == ["The webhook endpoint of this message was deleted; it cannot be sent."]


def test_a_test_event_reaches_the_endpoint_signed(app, admin, httpserver, clock):
    httpserver.expect_request(HOOK, method="POST").respond_with_data("ok")
    created = create(admin, httpserver.url_for(HOOK))
    secret = html.unescape(_SECRET.search(created.text).group(1))
    [row] = endpoint_rows(app)

    response = post(admin, f"{PAGE}{row.id}/test", follow_redirects=True)
    work(app, clock.now())

    assert flashes(response) == [
        "A test event is queued; it goes out with the next pass of the outbox worker."
    ]
    [arrival] = arrivals(httpserver, HOOK)
    assert arrival.json["type"] == "webhook.test"
    assert signature_verifies(secret, arrival)
    assert len(audit_events(app, "webhook.test_queued")) == 1


def test_unknown_endpoints_are_404(app, admin):
    for action in ("enable", "disable", "delete", "test"):
        assert post(admin, f"{PAGE}999999/{action}").status_code == 404


@pytest.mark.parametrize("role", ["support", "impersonator", "security"])
def test_roles_only_an_admin_may_manage_webhooks(app, client, make_staff, clock, role):
    endpoint_id, _ = subscribe(app, "http://127.0.0.1:9/hooks", clock.now())
    sign_in(client, make_staff(role), clock)
    token = csrf_token(client.get("/", base_url=CONSOLE).text)
    before = audit_actions(app)

    created = client.post(
        PAGE,
        base_url=CONSOLE,
        data={"csrf_token": token, "url": "http://127.0.0.1:9/x", "events": ["security.alert"]},
    )
    deleted = client.post(f"{PAGE}{endpoint_id}/delete", base_url=CONSOLE, data={"csrf_token": token})

    assert (created.status_code, deleted.status_code) == (403, 403)
    assert len(endpoint_rows(app)) == 1
    # Nothing changed; the refusals are on the record, the second coalesced into the first (issue 11).
    assert audit_actions(app) == [*before, ("authz.denied", "denied")]


def test_a_real_flow_reaches_an_endpoint_made_on_the_page(
    app, admin, httpserver, client, agent, alice, clock
):
    httpserver.expect_request(HOOK, method="POST").respond_with_data("ok")
    secret = html.unescape(
        _SECRET.search(
            create(admin, httpserver.url_for(HOOK), events=["impersonation.requested"]).text
        ).group(1)
    )

    launch(client, agent, clock, alice)
    work(app, clock.now())

    [arrival] = arrivals(httpserver, HOOK)
    assert arrival.json["type"] == "impersonation.requested"
    assert signature_verifies(secret, arrival)
