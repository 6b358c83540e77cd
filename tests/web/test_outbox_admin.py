"""The admin's outbox page (DESIGN I10): counts, failed messages with their last error and *Retry*,
pending ones with their next attempt, and never a message's body, a full address or a URL's secrets."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from impersonator.extensions import db
from impersonator.services import audit
from impersonator.services.audit import Actor
from impersonator.services.delivery import mail, outbox
from tests.support.records import audit_actions, audit_events
from tests.support.web import CONSOLE, csrf_token, flashes, sign_in
from tests.support.webhooks import arrivals, messages, subscribe, work

PAGE = "/admin/outbox/"
HOOK = "/hooks"
BODY_TEXT = "The secret body of this mail: do not show it"


def queue_mail(app, now, to: str = "alice@acme.example") -> int:
    with app.app_context():
        message = mail.enqueue(
            mail.Mail(to, "Support accessed your account", BODY_TEXT, f"<p>{BODY_TEXT}</p>"),
            event_type="support.access_started",
            now=now,
        )
        db.session.commit()
        return message.id


def give_up(app, message_pk: int, now, error: str) -> None:
    with app.app_context():
        message = db.session.get(outbox.OutboxMessage, message_pk)
        message.status, message.failed_at, message.attempts, message.last_error = "failed", now, 31, error
        db.session.commit()


def raise_alert(app, clock) -> None:
    """A security alert: one webhook message per subscribed endpoint."""
    with app.app_context():
        audit.record("security.alert", actor=Actor.system("t"), at=clock.now(), details={"kind": "x"})
        db.session.commit()


def retry(admin, message_pk: int, **kwargs):
    token = csrf_token(admin.get(PAGE, base_url=CONSOLE).text)
    return admin.post(f"{PAGE}{message_pk}/retry", base_url=CONSOLE, data={"csrf_token": token}, **kwargs)


def test_the_page_shows_counts_failed_and_pending_without_bodies_or_addresses(app, admin, clock):
    failed_mail = queue_mail(app, clock.now() - timedelta(hours=25))
    give_up(
        app,
        failed_mail,
        clock.now(),
        "SMTP mail:25: SMTPRecipientsRefused: {'alice@acme.example': (550, b'no')}",
    )
    queue_mail(app, clock.now(), to="bob@acme.example")
    subscribe(app, "http://127.0.0.1:9/hooks?token=s3cr3t-in-the-url", clock.now(), events=["security.alert"])
    raise_alert(app, clock)

    page = admin.get(PAGE, base_url=CONSOLE)

    assert page.status_code == 200
    text = page.text
    assert re.search(r'id="count-pending">2<', text) and re.search(r'id="count-failed">1<', text)
    assert re.search(r'id="count-delivered">0<', text)
    assert BODY_TEXT not in text
    assert "alice@acme.example" not in text and "bob@acme.example" not in text
    assert "a•••@acme.example" in text and "b•••@acme.example" in text
    assert "s3cr3t-in-the-url" not in text
    assert "127.0.0.1 (endpoint" in text
    assert "SMTPRecipientsRefused" in text and "31" in text
    assert f'action="{PAGE}{failed_mail}/retry"' in text
    assert "support.access_started" in text and "security.alert" in text


def test_i10_retry_is_audited_and_the_worker_delivers_the_message_again(app, admin, httpserver, clock):
    httpserver.expect_request(HOOK, method="POST").respond_with_data("ok")
    subscribe(app, httpserver.url_for(HOOK), clock.now(), events=["security.alert"])
    raise_alert(app, clock)
    [message] = messages(app, "webhook")
    give_up(app, message.id, clock.now(), "the endpoint answered 503")

    response = retry(admin, message.id, follow_redirects=True)
    work(app, clock.now())

    assert flashes(response) == [
        f"Message {message.message_id} will be sent again with the next pass of the worker."
    ]
    [event] = audit_events(app, "outbox.retried")
    assert event["target_id"] == message.id and event["actor_type"] == "staff"
    assert event["details"]["message_id"] == message.message_id
    assert event["details"]["last_error"] == "the endpoint answered 503"
    assert [a.webhook_id for a in arrivals(httpserver, HOOK)] == [message.message_id]
    assert messages(app, "webhook")[0].status == "delivered"
    assert re.search(r'id="count-delivered">1<', admin.get(PAGE, base_url=CONSOLE).text)


def test_only_a_failed_message_can_be_retried(app, admin, clock):
    pending = queue_mail(app, clock.now())
    before = audit_actions(app)

    response = retry(admin, pending, follow_redirects=True)

    assert flashes(response) == ["Only a failed message can be retried."]
    assert audit_actions(app) == before


def test_an_unknown_message_is_404(app, admin):
    assert retry(admin, 999999).status_code == 404


@pytest.mark.parametrize("role", ["support", "impersonator", "security"])
def test_roles_only_an_admin_may_retry(app, client, make_staff, clock, role):
    message_pk = queue_mail(app, clock.now())
    give_up(app, message_pk, clock.now(), "SMTP down")
    sign_in(client, make_staff(role), clock)
    token = csrf_token(client.get("/", base_url=CONSOLE).text)

    response = client.post(f"{PAGE}{message_pk}/retry", base_url=CONSOLE, data={"csrf_token": token})

    assert response.status_code == 403
    assert messages(app)[0].status == "failed"
    assert audit_events(app, "outbox.retried") == []
