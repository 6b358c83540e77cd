"""I7: notifications to a customer are suppressed (and recorded) while their account is impersonated;
analytics are never recorded for a ghost; the account's email and password are never the ghost's."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from impersonator.extensions import db
from impersonator.models import AnalyticsEvent, Impersonation, Notification, User
from impersonator.services import account, analytics, notifications, projects
from impersonator.services.passwords import verify_password

MAIL_LOGGER = "impersonator.mail"


def user_by_email(email: str) -> User:
    return db.session.scalar(select(User).where(User.email == email))


def impersonation(staff_id: int, user: User, now, **changes) -> Impersonation:
    """An impersonation of `user`, redeemed a minute ago and active for 29 more minutes, unless told."""
    fields = {
        "staff_id": staff_id,
        "user_id": user.id,
        "tenant_id": user.tenant_id,
        "reason": "Looking into the customer's report of a missing project",
        "mode": "full",
        "duration_minutes": 30,
        "access_via": "opt_in",
        "token_jti": secrets.token_urlsafe(16),
        "audience": user.tenant.primary_domain,
        "issued_at": now - timedelta(minutes=1, seconds=10),
        "token_expires_at": now - timedelta(seconds=10),
        "redeemed_at": now - timedelta(minutes=1),
        "expires_at": now + timedelta(minutes=29),
        **changes,
    }
    imp = Impersonation(**fields)
    db.session.add(imp)
    db.session.commit()
    return imp


def notify(user: User, now) -> Notification:
    return notifications.notify(
        user, kind="project.created", subject="Project “Atlas” created", body="Atlas was created.", now=now
    )


def mail_lines(caplog) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == MAIL_LOGGER]


@pytest.fixture
def mail_log(caplog):
    caplog.set_level(logging.INFO, logger=MAIL_LOGGER)
    return caplog


def test_a_notification_is_sent_and_recorded_when_nobody_impersonates(app, tenants, clock, mail_log):
    with app.app_context():
        alice = user_by_email("alice@acme.example")
        notification = notify(alice, clock.now())
        assert mail_lines(mail_log) == []  # nothing leaves before the caller's transaction commits
        db.session.commit()

        row = db.session.get(Notification, notification.id)
        assert (row.status, row.impersonation_id, row.kind) == ("sent", None, "project.created")
        assert row.user_id == alice.id
        assert row.created_at == clock.now()

    [line] = mail_lines(mail_log)
    assert f"id={notification.id}" in line
    assert "kind=project.created" in line
    assert "alice@acme.example" not in line  # the log carries no address and no body


def test_i7_notifications_are_suppressed_during_an_active_ghost_session(
    app, tenants, clock, make_staff, mail_log
):
    staff = make_staff("impersonator")
    with app.app_context():
        alice = user_by_email("alice@acme.example")
        imp = impersonation(staff.id, alice, clock.now())

        notification = notify(alice, clock.now())
        db.session.commit()

        row = db.session.get(Notification, notification.id)
        assert (row.status, row.impersonation_id) == ("suppressed", imp.id)
    assert mail_lines(mail_log) == []


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
def test_an_impersonation_that_is_not_active_does_not_suppress(
    app, tenants, clock, make_staff, mail_log, state
):
    staff = make_staff("impersonator")
    now = clock.now()
    with app.app_context():
        alice = user_by_email("alice@acme.example")
        impersonation(staff.id, alice, now, **not_active(state, now))

        notification = notify(alice, now)
        db.session.commit()

        assert (notification.status, notification.impersonation_id) == ("sent", None)
    assert len(mail_lines(mail_log)) == 1


def test_a_ghost_on_another_account_does_not_suppress_this_one(app, tenants, clock, make_staff):
    staff = make_staff("impersonator")
    with app.app_context():
        impersonation(staff.id, user_by_email("gina@globex.example"), clock.now())

        notification = notify(user_by_email("alice@acme.example"), clock.now())

        assert notification.status == "sent"


def test_a_rolled_back_notification_is_never_delivered(app, tenants, clock, mail_log):
    with app.app_context():
        notify(user_by_email("alice@acme.example"), clock.now())
        db.session.rollback()
        db.session.commit()  # a later, unrelated commit must not deliver it either

        assert db.session.scalar(select(func.count()).select_from(Notification)) == 0
    assert mail_lines(mail_log) == []


def test_a_long_subject_is_shortened_to_fit(app, tenants, clock):
    with app.app_context():
        notification = notifications.notify(
            user_by_email("alice@acme.example"),
            kind="project.created",
            subject="x" * 500,
            body="",
            now=clock.now(),
        )
        db.session.commit()

        assert len(db.session.get(Notification, notification.id).subject) == notifications.SUBJECT_MAX


def test_i7_analytics_are_recorded_for_the_customer_and_never_for_a_ghost(app, tenants, clock):
    with app.app_context():
        alice = user_by_email("alice@acme.example")
        assert analytics.track(alice, "project.created", ghost=True, now=clock.now()) is None
        analytics.track(alice, "project.renamed", ghost=False, now=clock.now())
        db.session.commit()

        events = [(e.user_id, e.name) for e in db.session.scalars(select(AnalyticsEvent))]
        assert events == [(alice.id, "project.renamed")]


def test_i7_a_ghost_creating_a_project_leaves_a_suppressed_notification_and_no_analytics(
    app, tenants, clock, make_staff, mail_log
):
    staff = make_staff("impersonator")
    with app.app_context():
        alice = user_by_email("alice@acme.example")
        imp = impersonation(staff.id, alice, clock.now())

        project = projects.create_project(alice, "  Atlas  ", ghost=True, now=clock.now())

        assert project.name == "Atlas"
        [row] = db.session.scalars(select(Notification)).all()
        assert (row.kind, row.status, row.impersonation_id) == ("project.created", "suppressed", imp.id)
        assert db.session.scalar(select(func.count()).select_from(AnalyticsEvent)) == 0
    assert mail_lines(mail_log) == []


def test_a_customer_creating_a_project_is_notified_and_counted(app, tenants, clock, mail_log):
    with app.app_context():
        alice = user_by_email("alice@acme.example")

        project = projects.create_project(alice, "Atlas", ghost=False, now=clock.now())
        projects.rename_project(alice, project.id, "Atlas 2", ghost=False, now=clock.now())

        rows = [
            (n.kind, n.status) for n in db.session.scalars(select(Notification).order_by(Notification.id))
        ]
        assert rows == [("project.created", "sent"), ("project.renamed", "sent")]
        names = [e.name for e in db.session.scalars(select(AnalyticsEvent).order_by(AnalyticsEvent.id))]
        assert names == ["project.created", "project.renamed"]
    assert len(mail_lines(mail_log)) == 2


def test_the_backend_is_one_function_and_an_email_change_notice_goes_to_the_old_address(
    app, tenants, clock, monkeypatch
):
    delivered = []
    monkeypatch.setattr(notifications, "deliver", delivered.append)
    with app.app_context():
        alice = user_by_email("alice@acme.example")

        account.change_email(alice, "alice@new.example", "customer password", ghost=False, now=clock.now())

    [message] = delivered
    assert (message.to, message.kind) == ("alice@acme.example", "account.email_changed")
    assert "alice@new.example" in message.body


def test_account_changes_are_refused_to_a_ghost_by_the_service_too(app, tenants, clock):
    with app.app_context():
        alice = user_by_email("alice@acme.example")
        with pytest.raises(account.NotForGhost):
            account.change_email(
                alice, "ghost@evil.example", "customer password", ghost=True, now=clock.now()
            )
        with pytest.raises(account.NotForGhost):
            account.change_password(
                alice,
                "customer password",
                "the ghost's password",
                "the ghost's password",
                ghost=True,
                now=clock.now(),
            )
        db.session.rollback()

        assert verify_password(user_by_email("alice@acme.example").password_hash, "customer password")
        assert db.session.scalar(select(func.count()).select_from(Notification)) == 0
