"""I10 against a real HTTP receiver (pytest-httpserver on the loopback): webhooks signed the Standard
Webhooks way with the same id on every retry, nothing lost while a receiver is down, only the events an
endpoint chose, and every webhook event emitted by the real flows. SSRF: test_webhook_delivery_ssrf.py;
Slack and the security alerts: test_webhook_delivery_alerts.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from impersonator.extensions import db
from impersonator.models import WEBHOOK_EVENTS, OutboxMessage
from impersonator.services import audit
from impersonator.services.audit import Actor
from impersonator.services.delivery import webhooks
from tests.support.approvals import every_approval_event
from tests.support.impersonation import (
    end_ghost,
    launch,
    launch_and_redeem,
    minutes,
    opt_in,
    redeem,
    request_impersonation,
    user_id,
)
from tests.support.masking import reveal
from tests.support.web import from_address, sign_in, sign_in_password, submit_code
from tests.support.webhook_receiver import HOOK, answer, types_received, wrong_code
from tests.support.webhooks import (
    arrivals,
    messages,
    signature_verifies,
    standard_webhooks_signature,
    subscribe,
    work,
)

WORST_WAIT = timedelta(hours=1)  # OUTBOX_RETRY_MAX_SECONDS: every pending message is due after this


# --- the signature ---------------------------------------------------------------------------------


def test_i10_a_webhook_is_signed_the_standard_webhooks_way(
    app, httpserver, hook_url, client, agent, alice, clock
):
    answer(httpserver)
    _, secret = subscribe(app, hook_url, clock.now(), events=["impersonation.requested"])
    launch(client, agent, clock, alice)
    clock.advance(seconds=7)

    done = work(app, clock.now())

    assert done.delivered == 1
    [arrival] = arrivals(httpserver, HOOK)
    [message] = messages(app, "webhook")
    assert arrival.webhook_id == message.message_id
    assert arrival.headers["webhook-timestamp"] == str(int(clock.now().timestamp()))
    assert arrival.headers["content-type"] == "application/json"
    assert arrival.headers["webhook-signature"] == standard_webhooks_signature(
        secret, arrival.webhook_id, arrival.headers["webhook-timestamp"], arrival.body
    )
    body = arrival.json
    assert body["type"] == "impersonation.requested"
    assert body["data"]["actor"] == {"type": "staff", "id": agent.id, "label": agent.email}
    assert body["data"]["target"] == {"type": "user", "id": alice}
    assert body["data"]["details"]["mode"] == "read_only"
    # The control: any change to what was signed breaks the signature.
    tampered = arrival.__class__(
        arrival.path, arrival.headers, arrival.body.replace("read_only", "full"), 200
    )
    assert not signature_verifies(secret, tampered)
    assert not signature_verifies(secret[:-4] + "AAA=", arrival)


def test_i10_the_app_verifier_agrees_with_the_independent_one(app, clock):
    secret = webhooks.new_secret()
    header = standard_webhooks_signature(secret, "msg_x", "1700000000", '{"a":"ü"}')

    assert webhooks.sign(secret, "msg_x", 1700000000, '{"a":"ü"}') == header
    assert webhooks.verify(secret, "msg_x", 1700000000, '{"a":"ü"}', f"v1,bogus {header}")
    assert not webhooks.verify(secret, "msg_y", 1700000000, '{"a":"ü"}', header)
    # A header is input: text that is not ASCII is a wrong signature, not an error.
    assert not webhooks.verify(secret, "msg_x", 1700000000, '{"a":"ü"}', "v1,é\x80 v1,\ud800")


def test_i10_a_receiver_answering_500_then_200_gets_the_same_id_and_body(
    app, httpserver, hook_url, client, agent, alice, clock
):
    answer(httpserver, 500, once=True)
    answer(httpserver)
    _, secret = subscribe(app, hook_url, clock.now(), events=["impersonation.requested"])
    launch(client, agent, clock, alice)

    first = work(app, clock.now())
    clock.advance(minutes=1)
    second = work(app, clock.now())

    assert (first.retried, second.delivered) == (1, 1)
    failed, delivered = arrivals(httpserver, HOOK)
    assert (failed.status, delivered.status) == (500, 200)
    assert failed.webhook_id == delivered.webhook_id
    assert failed.body == delivered.body
    assert int(delivered.headers["webhook-timestamp"]) - int(failed.headers["webhook-timestamp"]) == 60
    assert signature_verifies(secret, failed) and signature_verifies(secret, delivered)
    [message] = messages(app, "webhook")
    assert (message.status, message.attempts, message.last_error) == ("delivered", 2, None)


def test_i10_a_receiver_down_for_an_hour_loses_nothing(app, receiver, client, agent, alice, clock):
    receiver.expect_request(HOOK, method="POST").respond_with_data("ok")
    _, secret = subscribe(app, receiver.url_for(HOOK), clock.now())
    receiver.stop()  # down: connections are refused
    launch_and_redeem(client, agent, clock, alice)
    end_ghost(client)
    queued = {m.message_id: m.event_type for m in messages(app, "webhook")}
    assert sorted(queued.values()) == [
        "impersonation.ended",
        "impersonation.requested",
        "impersonation.started",
    ]

    for _ in range(12):  # an hour of the worker polling, five minutes apart
        work(app, clock.now())
        clock.advance(minutes=5)
    down = messages(app, "webhook")
    assert {m.status for m in down} == {"pending"}
    assert all(m.attempts >= 5 for m in down)
    assert all(m.last_error == "ConnectionError reaching the endpoint" for m in down)

    receiver.start()
    clock.advance(seconds=WORST_WAIT.total_seconds())
    work(app, clock.now())

    got = arrivals(receiver, HOOK)
    assert {arrival.webhook_id: arrival.json["type"] for arrival in got} == queued
    assert len(got) == len(queued)  # each once: nothing reached the receiver while it was down
    assert all(signature_verifies(secret, arrival) for arrival in got)
    assert {m.status for m in messages(app, "webhook")} == {"delivered"}


def test_i10_a_receiver_answering_503_for_an_hour_gets_everything_once_it_is_back(
    app, httpserver, hook_url, client, agent, alice, clock
):
    httpserver.expect_request(HOOK, method="POST").respond_with_data("busy", status=503)
    subscribe(app, hook_url, clock.now())
    launch_and_redeem(client, agent, clock, alice)
    queued = {m.message_id for m in messages(app, "webhook")}
    assert len(queued) == 2

    for _ in range(60):  # an hour, one pass a minute
        work(app, clock.now())
        clock.advance(minutes=1)
    assert {m.status for m in messages(app, "webhook")} == {"pending"}
    assert {m.last_error for m in messages(app, "webhook")} == {"the endpoint answered 503"}

    httpserver.clear()
    answer(httpserver)
    clock.advance(seconds=WORST_WAIT.total_seconds())
    work(app, clock.now())

    assert {arrival.webhook_id for arrival in arrivals(httpserver, HOOK)} == queued
    assert {m.status for m in messages(app, "webhook")} == {"delivered"}


def test_i10_an_event_whose_commit_fails_sends_nothing(app, hook_url, clock):
    subscribe(app, hook_url, clock.now())
    queued = []

    def commit_fails_after_the_append(session) -> None:  # runs after the audit service's own hook
        queued.append(session.scalar(select(func.count()).select_from(OutboxMessage)))
        raise OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))

    with app.app_context():
        audit.record("security.alert", actor=Actor.system("test"), at=clock.now(), details={"kind": "x"})
        sa_event.listen(Session, "before_commit", commit_fails_after_the_append)
        try:
            with pytest.raises(OperationalError):
                db.session.commit()
        finally:
            sa_event.remove(Session, "before_commit", commit_fails_after_the_append)
        db.session.rollback()

    assert queued == [1]  # queued with the event…
    assert messages(app) == []  # …and gone with it


def test_i10_an_event_rolled_back_before_its_commit_sends_nothing(app, hook_url, clock):
    subscribe(app, hook_url, clock.now())
    with app.app_context():
        audit.record("security.alert", actor=Actor.system("test"), at=clock.now(), details={"kind": "x"})
        db.session.rollback()
        db.session.commit()  # a later commit in the same session appends nothing of it

    assert messages(app) == []


def test_i10_an_endpoint_gets_only_the_events_it_chose(
    app, httpserver, hook_url, client, agent, alice, clock
):
    answer(httpserver)
    subscribe(app, hook_url, clock.now(), events=["impersonation.started"])

    launch_and_redeem(client, agent, clock, alice)
    work(app, clock.now())

    assert types_received(httpserver) == ["impersonation.started"]


def test_i10_the_flask_outbox_work_command_delivers_once(
    app, httpserver, hook_url, runner, client, agent, alice, clock
):
    answer(httpserver)
    subscribe(app, hook_url, clock.now(), events=["impersonation.requested"])
    launch(client, agent, clock, alice)

    result = runner.invoke(args=["outbox", "work", "--once"])
    again = runner.invoke(args=["outbox", "work", "--once"])
    status = runner.invoke(args=["outbox", "status"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "delivered 1, retrying 0, failed 0"
    assert again.output.strip() == "delivered 0, retrying 0, failed 0"
    assert status.output.strip() == "pending: 0, delivered: 1, failed: 0"
    assert types_received(httpserver) == ["impersonation.requested"]


# --- every event, from the real flows --------------------------------------------------------------


def test_i10_every_webhook_event_is_emitted_by_the_real_flows(
    make_app, httpserver, hook_url, make_staff, tenants, clock
):
    app = make_app(LOCKOUT_THRESHOLD=3, ACCOUNT_LOCK_FAILURES=3, ACCOUNT_LOCK_ADDRESSES=2)
    answer(httpserver)
    _, secret = subscribe(app, hook_url, clock.now())
    alice = user_id(app, "alice@acme.example")
    opt_in(app, alice, clock.now() + minutes(120))
    browser = app.test_client()
    member = make_staff("support")
    sign_in(browser, member, clock)

    denied = request_impersonation(browser, member, clock, alice, totp_code="12345")  # .denied
    launched = launch_and_redeem(browser, member, clock, alice)  # .requested, .started
    redeem(browser, launched.token)  # replayed: .redeem_failed and security.alert
    assert reveal(browser, category="payment", key="card", page="/").status_code == 303  # .revealed
    end_ghost(browser)  # .ended
    intruder = make_staff("support")
    stranger = app.test_client()
    clock.next_totp_step()
    sign_in_password(stranger, intruder.email, intruder.password)
    for address in ("198.51.100.1", "198.51.100.1", "198.51.100.2"):  # the lock takes two addresses
        submit_code(from_address(stranger, address), wrong_code(intruder, clock))  # staff.locked, alert
    approver, officer = make_staff("security"), make_staff("admin")
    every_approval_event(app, clock, make_staff("impersonator").id, approver.id, officer.id, alice)
    work(app, clock.now())

    assert denied.status_code == 400  # a malformed code: refused, and audited as denied
    assert set(types_received(httpserver)) == set(WEBHOOK_EVENTS)
    assert all(signature_verifies(secret, arrival) for arrival in arrivals(httpserver, HOOK))
    assert len({arrival.webhook_id for arrival in arrivals(httpserver, HOOK)}) == len(
        arrivals(httpserver, HOOK)
    )
