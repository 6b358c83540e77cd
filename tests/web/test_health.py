"""Health probes: `/healthz` (the process answers, no database) and `/readyz` (database
reachable, migrations at head, outbox workers keeping up) on the console host only, without sign-in,
without cookies, naming a failing check by one word. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from alembic.script import ScriptDirectory

from impersonator import create_app
from impersonator.extensions import db
from impersonator.models import OutboxMessage
from impersonator.services.delivery import mail
from tests.conftest import MIGRATIONS, _dispose, config_for, flask_db
from tests.support.web import ACME, CONSOLE


def probe(client, path: str, base_url: str = CONSOLE):
    response = client.get(path, base_url=base_url)
    assert "Set-Cookie" not in response.headers  # a probe every few seconds must not mint sessions
    return response


def readiness(client) -> tuple[int, dict]:
    response = probe(client, "/readyz")
    assert response.mimetype == "application/json"
    return response.status_code, response.get_json()


def queue_mails(app, now, count: int, *, next_attempt_at=None) -> None:
    """`count` mails through the real outbox, as a change would queue them."""
    with app.app_context():
        for n in range(count):
            message = mail.enqueue(
                mail.Mail(f"user{n}@customer.example", "Hello", "text", "<p>html</p>"),
                event_type="test.health",
                now=now,
            )
            if next_attempt_at is not None:
                message.next_attempt_at = next_attempt_at
        db.session.commit()


# --- /healthz -------------------------------------------------------------------------------------


def test_healthz_answers_ok_to_anyone(client):
    response = probe(client, "/healthz")

    assert (response.status_code, response.text, response.mimetype) == (200, "ok\n", "text/plain")
    assert response.headers["Cache-Control"] == "no-store"


# --- /readyz --------------------------------------------------------------------------------------


def test_readyz_is_ok_when_migrated_and_the_outbox_keeps_up(client, clock):
    assert readiness(client) == (200, {"ok": True})


def test_the_probes_are_not_on_tenant_hosts(client, tenants):
    for path in ("/healthz", "/readyz"):
        assert probe(client, path, ACME).status_code == 404
        assert probe(client, path, "http://unknown.example").status_code == 404


def head_and_one_before() -> tuple[str, str]:
    script = ScriptDirectory(MIGRATIONS)
    head = script.get_revision(script.get_current_head())
    return head.revision, head.down_revision


def test_readyz_names_migrations_until_the_database_is_at_head(fresh_app):
    head, older = head_and_one_before()
    client = fresh_app.test_client()
    assert readiness(client) == (503, {"ok": False, "failing": ["migrations"]})  # never upgraded

    flask_db(fresh_app, "upgrade")
    assert readiness(client) == (200, {"ok": True})

    flask_db(fresh_app, "stamp", older)  # code newer than the schema: a deployment mid-way
    assert readiness(client) == (503, {"ok": False, "failing": ["migrations"]})
    flask_db(fresh_app, "stamp", head)
    assert readiness(client) == (200, {"ok": True})


def test_readyz_names_outbox_when_more_messages_are_due_than_allowed(make_app, clock):
    app = make_app(READY_MAX_OUTBOX_BACKLOG=3, READY_MAX_OUTBOX_AGE_SECONDS=0)
    client = app.test_client()
    queue_mails(app, clock.now(), 3)
    assert readiness(client) == (200, {"ok": True})

    queue_mails(app, clock.now(), 1)
    assert readiness(client) == (503, {"ok": False, "failing": ["outbox"]})


def test_readyz_names_outbox_when_a_due_message_waits_too_long(make_app, clock):
    app = make_app(READY_MAX_OUTBOX_AGE_SECONDS=60)
    client = app.test_client()
    queue_mails(app, clock.now(), 1)
    clock.advance(seconds=60)
    assert readiness(client) == (200, {"ok": True})

    clock.advance(seconds=1)  # no worker has taken it for over a minute
    assert readiness(client) == (503, {"ok": False, "failing": ["outbox"]})


def test_messages_waiting_out_a_retry_do_not_make_the_app_unready(make_app, clock):
    """A webhook receiver that is down for hours keeps its messages pending (backoff), not overdue:
    the web processes stay in the load balancer."""
    app = make_app(READY_MAX_OUTBOX_BACKLOG=2, READY_MAX_OUTBOX_AGE_SECONDS=60)
    later = clock.now() + timedelta(hours=1)
    queue_mails(app, clock.now() - timedelta(hours=5), 10, next_attempt_at=later)
    clock.advance(minutes=59)

    assert readiness(app.test_client()) == (200, {"ok": True})
    with app.app_context():
        assert db.session.query(OutboxMessage).filter_by(status="pending").count() == 10


def test_zero_turns_the_outbox_checks_off(make_app, clock):
    app = make_app(READY_MAX_OUTBOX_BACKLOG=0, READY_MAX_OUTBOX_AGE_SECONDS=0)
    queue_mails(app, clock.now(), 5)
    clock.advance(days=1)

    assert readiness(app.test_client()) == (200, {"ok": True})


# --- the database away ----------------------------------------------------------------------------


def test_readyz_says_database_when_it_is_away_and_healthz_still_answers(outage, caplog):
    app = create_app(config_for(outage.url, PROPAGATE_EXCEPTIONS=False))
    client = app.test_client()
    try:
        assert readiness(client) == (200, {"ok": True})
        outage.begin()
        try:
            assert readiness(client) == (503, {"ok": False, "failing": ["database"]})
            assert probe(client, "/healthz").status_code == 200
        finally:
            outage.end()
        if outage.recovers:
            assert readiness(client) == (200, {"ok": True})
    finally:
        _dispose(app)
    assert any("readiness: database unavailable" in record.getMessage() for record in caplog.records)
