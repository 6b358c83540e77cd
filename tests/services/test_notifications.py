"""I7 and issue 4: every notification to a customer is a row, `sent` (its email queued in the outbox
in the same transaction) or `suppressed` while their account is impersonated, except the access
notice, which exists to say that support is there. Analytics are never recorded for a ghost; the
account's email and password are never the ghost's."""

from __future__ import annotations

import email
import email.policy
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from impersonator.extensions import db
from impersonator.models import AnalyticsEvent, Notification, OutboxMessage
from impersonator.services.customer import account, analytics, notifications, projects
from impersonator.services.delivery import senders
from impersonator.services.delivery.mail import Mail
from impersonator.services.passwords import verify_password
from tests.support.ghost_rows import ghost_session, user_by_email

HISTORY_URL = "http://acme.localhost/settings/support-access/history"
SETTINGS_URL = "http://acme.localhost/settings/support-access"


@pytest.fixture
def app(make_app, tmp_path):
    """The file mail backend, writing into this test's own folder."""
    return make_app(MAIL_DIR=str(tmp_path / "mail"))


def notify(user, now) -> Notification:
    return notifications.notify(
        user, kind="project.created", subject="Project “Atlas” created", body="Atlas was created.", now=now
    )


def outbox() -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def queued_mail() -> list[Mail]:
    return [Mail.from_json(m.payload) for m in outbox() if m.kind == "mail"]


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def alice():
    return user_by_email("alice@acme.example")


def test_a_notification_is_sent_recorded_and_mailed_through_the_outbox(app, tenants, clock, tmp_path):
    with app.app_context():
        notification = notify(alice(), clock.now())
        db.session.commit()

        row = db.session.get(Notification, notification.id)
        assert (row.status, row.impersonation_id, row.kind) == ("sent", None, "project.created")
        assert (row.user_id, row.created_at) == (alice().id, clock.now())
        [message] = outbox()
        assert (message.kind, message.event_type, message.destination) == (
            "mail",
            "project.created",
            "alice@acme.example",
        )
        assert (message.status, message.attempts, message.next_attempt_at) == ("pending", 0, clock.now())
        [mail] = queued_mail()
        assert (mail.to, mail.subject) == ("alice@acme.example", "Project “Atlas” created")
        assert "Atlas was created." in mail.text and "Atlas was created." in mail.html

        done = senders.work_once(clock.now())

        assert (done.delivered, done.retried, done.failed) == (1, 0, 0)
        assert db.session.get(OutboxMessage, message.id).status == "delivered"
    [written] = (tmp_path / "mail").iterdir()
    sent = email.message_from_bytes(written.read_bytes(), policy=email.policy.default)
    assert (sent["To"], sent["Subject"]) == ("alice@acme.example", "Project “Atlas” created")
    assert "Atlas was created." in sent.get_body(("plain",)).get_content()


def test_i7_notifications_are_suppressed_during_an_active_ghost_session(app, tenants, clock, make_staff):
    staff = make_staff("impersonator")
    with app.app_context():
        imp = ghost_session(staff.id, alice(), clock.now())

        notification = notify(alice(), clock.now())
        db.session.commit()

        row = db.session.get(Notification, notification.id)
        assert (row.status, row.impersonation_id) == ("suppressed", imp.id)
        assert outbox() == []


def not_active(state: str, now) -> dict:
    return {
        "ended": {"ended_at": now, "end_reason": "staff_ended"},
        "expired": {"expires_at": now},
        "never redeemed": {
            "redeemed_at": None,
            "expires_at": None,
            "token_expires_at": now + timedelta(seconds=30),
        },
    }[state]


@pytest.mark.parametrize("state", ["ended", "expired", "never redeemed"])
def test_an_impersonation_that_is_not_active_does_not_suppress(app, tenants, clock, make_staff, state):
    staff = make_staff("impersonator")
    now = clock.now()
    with app.app_context():
        ghost_session(staff.id, alice(), now, **not_active(state, now))

        notification = notify(alice(), now)
        db.session.commit()

        assert (notification.status, notification.impersonation_id) == ("sent", None)
        assert [m.destination for m in outbox()] == ["alice@acme.example"]


def test_a_ghost_on_another_account_does_not_suppress_this_one(app, tenants, clock, make_staff):
    staff = make_staff("impersonator")
    with app.app_context():
        ghost_session(staff.id, user_by_email("gina@globex.example"), clock.now())

        notification = notify(alice(), clock.now())

        assert notification.status == "sent"
        assert [m.destination for m in outbox()] == ["alice@acme.example"]


def test_a_rolled_back_notification_is_never_delivered(app, tenants, clock):
    with app.app_context():
        notify(alice(), clock.now())
        db.session.rollback()
        db.session.commit()  # a later, unrelated commit must not deliver it either

        assert count(Notification) == 0
        assert outbox() == []
        assert senders.work_once(clock.now()).total == 0


def test_a_long_subject_is_shortened_to_fit(app, tenants, clock):
    with app.app_context():
        notification = notifications.notify(
            alice(), kind="project.created", subject="x" * 500, body="", now=clock.now()
        )
        db.session.commit()

        assert len(db.session.get(Notification, notification.id).subject) == notifications.SUBJECT_MAX
        assert len(queued_mail()[0].subject) == notifications.SUBJECT_MAX


def test_a_subject_cannot_smuggle_mail_headers(app, tenants, clock):
    with app.app_context():
        notifications.notify(
            alice(), kind="project.created", subject="Hi\r\nBcc: evil@example.com", body="", now=clock.now()
        )
        db.session.commit()

        [mail] = queued_mail()
        assert mail.subject == "Hi Bcc: evil@example.com"


def test_i7_analytics_are_recorded_for_the_customer_and_never_for_a_ghost(app, tenants, clock):
    with app.app_context():
        user = alice()
        assert analytics.track(user, "project.created", ghost=True, now=clock.now()) is None
        analytics.track(user, "project.renamed", ghost=False, now=clock.now())
        db.session.commit()

        events = [(e.user_id, e.name) for e in db.session.scalars(select(AnalyticsEvent))]
        assert events == [(user.id, "project.renamed")]


def test_i7_a_ghost_creating_a_project_leaves_a_suppressed_notification_and_no_mail_or_analytics(
    app, tenants, clock, make_staff
):
    staff = make_staff("impersonator")
    with app.app_context():
        imp = ghost_session(staff.id, alice(), clock.now())

        project = projects.create_project(alice(), "  Atlas  ", ghost=True, now=clock.now())

        assert project.name == "Atlas"
        [row] = db.session.scalars(select(Notification)).all()
        assert (row.kind, row.status, row.impersonation_id) == ("project.created", "suppressed", imp.id)
        assert count(AnalyticsEvent) == 0
        assert outbox() == []


def test_a_customer_creating_a_project_is_notified_and_counted(app, tenants, clock):
    with app.app_context():
        project = projects.create_project(alice(), "Atlas", ghost=False, now=clock.now())
        projects.rename_project(alice(), project.id, "Atlas 2", ghost=False, now=clock.now())

        rows = [
            (n.kind, n.status) for n in db.session.scalars(select(Notification).order_by(Notification.id))
        ]
        assert rows == [("project.created", "sent"), ("project.renamed", "sent")]
        names = [e.name for e in db.session.scalars(select(AnalyticsEvent).order_by(AnalyticsEvent.id))]
        assert names == ["project.created", "project.renamed"]
        assert [m.event_type for m in outbox()] == ["project.created", "project.renamed"]


def test_an_email_change_notice_goes_to_the_old_address(app, tenants, clock):
    with app.app_context():
        account.change_email(alice(), "alice@new.example", "customer password", ghost=False, now=clock.now())

        [message] = outbox()
        assert (message.destination, message.event_type) == ("alice@acme.example", "account.email_changed")
        [mail] = queued_mail()
        assert mail.to == "alice@acme.example" and "alice@new.example" in mail.text


def test_account_changes_are_refused_to_a_ghost_by_the_service_too(app, tenants, clock):
    with app.app_context():
        with pytest.raises(account.NotForGhost):
            account.change_email(
                alice(), "ghost@evil.example", "customer password", ghost=True, now=clock.now()
            )
        with pytest.raises(account.NotForGhost):
            account.change_password(
                alice(),
                "customer password",
                "the ghost's password",
                "the ghost's password",
                ghost=True,
                now=clock.now(),
            )
        db.session.rollback()

        assert verify_password(alice().password_hash, "customer password")
        assert count(Notification) == 0
        assert outbox() == []


# --- the access notice --------------------------------------------------------------------------


def test_the_access_notice_goes_out_even_while_the_ghost_is_there(app, tenants, clock, make_staff):
    staff = make_staff("impersonator")
    now = clock.now()
    with app.app_context():
        imp = ghost_session(staff.id, alice(), now, ticket="SUP-7", mode="read_only")

        notification = notifications.access_notice(imp, ends_at=imp.expires_at, now=now)
        db.session.commit()

        row = db.session.get(Notification, notification.id)
        assert (row.kind, row.status, row.impersonation_id) == ("support.access_started", "sent", imp.id)
        [mail] = queued_mail()
        assert (mail.to, mail.subject) == ("alice@acme.example", "Support is accessing your Acme account")
        for words in (
            "Impersonator Person from Acme support signed in to your account as you",
            now.strftime("%Y-%m-%d %H:%M UTC"),
            f"Why: {imp.reason}",
            "Ticket: SUP-7",
            "Mode: read-only (no changes)",
            f"Ends at the latest: {imp.expires_at:%Y-%m-%d %H:%M UTC} (30 minutes)",
            '"Revoke now"',
            HISTORY_URL,
            SETTINGS_URL,
        ):
            assert words in mail.text, words
        assert f'href="{HISTORY_URL}"' in mail.html and f'href="{SETTINGS_URL}"' in mail.html
        assert staff.email not in mail.text and staff.email not in mail.html  # the display name only
        assert row.body == mail.text


def test_the_access_notice_escapes_the_justification_in_html(app, tenants, clock, make_staff):
    staff = make_staff("impersonator")
    with app.app_context():
        imp = ghost_session(
            staff.id, alice(), clock.now(), reason='Check <a href="https://evil.example">this</a>'
        )

        notifications.access_notice(imp, ends_at=imp.expires_at, now=clock.now())

        [mail] = queued_mail()
        assert '<a href="https://evil.example">' not in mail.html
        assert "&lt;a href=&#34;https://evil.example&#34;&gt;" in mail.html
        assert 'Why: Check <a href="https://evil.example">this</a>' in mail.text  # plain text stays plain


def test_the_access_notice_leaves_out_a_hidden_justification(app, tenants, clock, make_staff):
    staff = make_staff("impersonator")
    with app.app_context():
        alice().tenant.hide_justification = True
        db.session.commit()
        imp = ghost_session(staff.id, alice(), clock.now(), ticket="SUP-7")

        notifications.access_notice(imp, ends_at=imp.expires_at, now=clock.now())

        [mail] = queued_mail()
        for text in (mail.text, mail.html):
            assert imp.reason not in text and "SUP-7" not in text and "Why:" not in text
        assert "Impersonator Person" in mail.text


@pytest.mark.parametrize(
    ("tenant_default", "choice", "sent"),
    [(True, None, True), (True, False, False), (False, None, False), (False, True, True)],
)
def test_the_access_notice_respects_the_customers_choice(
    app, tenants, clock, make_staff, tenant_default, choice, sent
):
    staff = make_staff("impersonator")
    with app.app_context():
        user = alice()
        user.tenant.notify_on_access_default = tenant_default
        user.notify_on_access = choice
        db.session.commit()
        imp = ghost_session(staff.id, alice(), clock.now())

        notification = notifications.access_notice(imp, ends_at=imp.expires_at, now=clock.now())
        db.session.commit()

        assert (notification is not None) is sent
        assert len(outbox()) == int(sent)


# --- the code-lockout notice --------------------------------------------------------------------


def test_the_code_lockout_notice_says_until_when_and_where_to_go(app, tenants, clock):
    until = clock.now() + timedelta(hours=1)
    with app.app_context():
        notification = notifications.code_lockout_notice(alice(), until=until, now=clock.now())
        db.session.commit()

        assert (notification.kind, notification.status) == ("support.access_code_locked", "sent")
        [mail] = queued_mail()
        assert mail.subject == "Support access codes for your Acme account are locked"
        assert until.strftime("%Y-%m-%d %H:%M UTC") in mail.text
        assert "Your account was not opened." in mail.text
        assert SETTINGS_URL in mail.text and f'href="{SETTINGS_URL}"' in mail.html


def test_i7_the_code_lockout_notice_is_held_back_while_a_ghost_is_there(app, tenants, clock, make_staff):
    """Issue 4: while a ghost session is active, every notification but the access notice is held back."""
    staff = make_staff("impersonator")
    with app.app_context():
        imp = ghost_session(staff.id, alice(), clock.now())

        notification = notifications.code_lockout_notice(
            alice(), until=clock.now() + timedelta(hours=1), now=clock.now()
        )
        db.session.commit()

        assert (notification.status, notification.impersonation_id) == ("suppressed", imp.id)
        assert outbox() == []
