"""Real email (issue 4, DESIGN I7, I10): a real SMTP server (aiosmtpd) on 127.0.0.1 receives what the
outbox worker sends. The access notice arrives with the right recipient and content; a mail server
that is down delays it and loses nothing; while a ghost is in the account, nothing but the access
notice reaches the customer."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from impersonator.extensions import db
from impersonator.models import Notification, OutboxMessage
from impersonator.services.delivery import senders
from tests.support.customer import generate_code as generate_code_on_page
from tests.support.customer import ghost_in, settings_post, sign_in_as, staff_browser
from tests.support.impersonation import (
    JUSTIFICATION,
    end_ghost,
    minutes,
    opt_in,
    request_impersonation,
    the_impersonation,
    update_tenant,
    user_id,
)
from tests.support.smtp import SmtpServer
from tests.support.web import ACME, csrf_token

ALICE = "alice@acme.example"
HISTORY_URL = "http://acme.localhost/settings/support-access/history"


@pytest.fixture
def smtp():
    server = SmtpServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def app(make_app, smtp):
    """The app sending mail by SMTP to the test's server, without TLS or login."""
    return make_app(**smtp.config())


@pytest.fixture
def alice_id(app, tenants, clock) -> int:
    uid = user_id(app, ALICE)
    opt_in(app, uid, clock.now() + minutes(24 * 60))
    return uid


def work(app, clock):
    """One pass of the outbox worker, as `flask outbox work --once` runs it."""
    with app.app_context():
        return senders.work_once(clock.now())


def mail_rows(app) -> list[OutboxMessage]:
    with app.app_context():
        rows = list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "mail")))
        for row in rows:
            db.session.expunge(row)
        return rows


def notifications_of(app, uid: int) -> list[tuple[str, str]]:
    with app.app_context():
        return [
            (n.kind, n.status)
            for n in db.session.scalars(
                select(Notification).where(Notification.user_id == uid).order_by(Notification.id)
            )
        ]


def test_the_access_notice_arrives_with_the_right_recipient_and_content(
    app, smtp, make_staff, clock, alice_id
):
    member = make_staff("support")
    ghost_in(app, member, clock, alice_id, ticket="SUP-9")
    imp = the_impersonation(app)
    assert smtp.inbox == []  # queued, not sent while the redemption waited

    done = work(app, clock)

    assert (done.delivered, done.retried, done.failed) == (1, 0, 0)
    [received] = smtp.inbox
    assert received.rcpt_tos == (ALICE,)
    assert received.mail_from == "no-reply@impersonator.example"
    assert received.message["To"] == ALICE
    assert received.subject == "Support is accessing your Acme account"
    for words in (
        "Hello Alice,",
        "Support Person from Acme support signed in to your account as you at",
        f"{imp.redeemed_at:%Y-%m-%d %H:%M UTC}",
        "Reason: You asked for help",
        f"Why: {JUSTIFICATION}",
        "Ticket: SUP-9",
        "Mode: read-only (no changes)",
        f"Ends at the latest: {imp.expires_at:%Y-%m-%d %H:%M UTC} (60 minutes)",
        '"Revoke now"',
        HISTORY_URL,
    ):
        assert words in received.text, words
    assert f'<a href="{HISTORY_URL}">open your access history</a>' in received.html
    assert member.email not in received.text
    [row] = mail_rows(app)
    assert (row.status, row.attempts, row.event_type) == ("delivered", 1, "support.access_started")


def test_a_mail_server_that_is_down_for_an_hour_delays_the_notice_and_loses_nothing(
    app, smtp, make_staff, clock, alice_id
):
    smtp.stop()
    ghost_in(app, make_staff("support"), clock, alice_id)

    first = work(app, clock)

    assert (first.delivered, first.retried) == (0, 1)
    [row] = mail_rows(app)
    assert (row.status, row.attempts) == ("pending", 1)
    assert f"SMTP 127.0.0.1:{smtp.port}" in row.last_error
    assert clock.now() < row.next_attempt_at <= clock.now() + minutes(1)
    assert work(app, clock).total == 0  # not due yet: no hammering of a server that is down

    for _ in range(6):  # an hour passes, retried with backoff, the server still down
        clock.advance(minutes=10)
        work(app, clock)
    [row] = mail_rows(app)
    assert row.status == "pending" and row.attempts > 1
    assert smtp.inbox == []

    smtp.start()
    clock.advance(seconds=app.config["OUTBOX_RETRY_MAX_SECONDS"])

    assert work(app, clock).delivered == 1
    [received] = smtp.to(ALICE)
    assert received.subject == "Support is accessing your Acme account"
    [row] = mail_rows(app)
    assert (row.status, row.last_error) == ("delivered", None)


def test_while_a_ghost_is_in_the_account_only_the_access_notice_reaches_the_customer(
    app, smtp, tenants, make_staff, clock
):
    alice = user_id(app, ALICE)
    update_tenant(app, tenants["acme"], access_policy="code_always")
    customer = app.test_client()
    sign_in_as(customer, ALICE)
    code = generate_code_on_page(customer)
    ghost = ghost_in(app, make_staff("impersonator"), clock, alice, mode="full", access_code=code)

    # The ghost makes a change; the customer makes one herself; someone else tries five wrong codes.
    token = csrf_token(ghost.get("/", base_url=ACME).text)
    assert (
        ghost.post("/projects", base_url=ACME, data={"csrf_token": token, "name": "Ghost"}).status_code == 303
    )
    token = csrf_token(customer.get("/", base_url=ACME).text)
    assert (
        customer.post("/projects", base_url=ACME, data={"csrf_token": token, "name": "Mine"}).status_code
        == 303
    )
    other = make_staff("support")
    other_browser = staff_browser(app, other, clock)
    for _ in range(5):
        request_impersonation(other_browser, other, clock, alice, access_code="ZZZZ-ZZZZ")

    work(app, clock)

    assert [r.subject for r in smtp.to(ALICE)] == ["Support is accessing your Acme account"]
    assert notifications_of(app, alice) == [
        ("support.access_started", "sent"),
        ("project.created", "suppressed"),
        ("project.created", "suppressed"),
        ("support.access_code_locked", "suppressed"),
    ]

    # Once the ghost has left, the customer's notifications reach her again.
    end_ghost(ghost)
    token = csrf_token(customer.get("/", base_url=ACME).text)
    customer.post("/projects", base_url=ACME, data={"csrf_token": token, "name": "After"})
    work(app, clock)

    assert [r.subject for r in smtp.to(ALICE)] == [
        "Support is accessing your Acme account",
        "Project “After” created",
    ]


def test_the_code_lockout_notice_arrives(app, smtp, tenants, make_staff, clock):
    alice = user_id(app, ALICE)
    customer = app.test_client()
    sign_in_as(customer, ALICE)
    generate_code_on_page(customer)
    member = make_staff("support")
    browser = staff_browser(app, member, clock)
    for _ in range(5):
        request_impersonation(browser, member, clock, alice, access_code="ZZZZ-ZZZZ")

    work(app, clock)

    [received] = smtp.to(ALICE)
    assert received.subject == "Support access codes for your Acme account are locked"
    assert "Several wrong support access codes were entered" in received.text
    assert "http://acme.localhost/settings/support-access" in received.text


def test_no_access_notice_for_a_customer_who_turned_it_off(app, smtp, make_staff, clock, alice_id):
    customer = app.test_client()
    sign_in_as(customer, ALICE)
    assert settings_post(customer, "/notifications", {}).status_code == 303

    ghost_in(app, make_staff("support"), clock, alice_id)
    work(app, clock)

    assert smtp.inbox == []
    assert mail_rows(app) == []
