"""I10 against a real HTTP receiver (pytest-httpserver on the loopback): webhooks signed the Standard
Webhooks way with the same id on every retry, nothing lost while a receiver is down, SSRF refused,
Slack text escaped, every webhook event emitted by the real flows, and the security alerts."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from impersonator.extensions import db
from impersonator.models import WEBHOOK_EVENTS, OutboxMessage
from impersonator.services import audit, webhook_endpoints, webhooks
from impersonator.services.audit import Actor
from impersonator.services.errors import InvalidInput
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
from tests.support.records import audit_events
from tests.support.web import GLOBEX, sign_in, sign_in_password, submit_code
from tests.support.webhooks import (
    arrivals,
    messages,
    signature_verifies,
    standard_webhooks_signature,
    subscribe,
    work,
)

HOOK = "/hooks"
WORST_WAIT = timedelta(hours=1)  # OUTBOX_RETRY_MAX_SECONDS: every pending message is due after this


@pytest.fixture
def hook_url(httpserver) -> str:
    return httpserver.url_for(HOOK)


def answer(httpserver, status: int = 200, *, once: bool = False, path: str = HOOK) -> None:
    expect = httpserver.expect_oneshot_request if once else httpserver.expect_request
    expect(path, method="POST").respond_with_data("", status=status)


def types_received(httpserver) -> list[str]:
    return [arrival.json["type"] for arrival in arrivals(httpserver, HOOK) if arrival.status == 200]


def wrong_code(account, clock) -> str:
    return f"{(int(account.code()) + 1) % 1_000_000:06d}"


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


@pytest.fixture
def receiver():
    """A receiver of our own on 127.0.0.1 that a test may stop and start again (same port)."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


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


def test_i10_an_event_in_a_rolled_back_transaction_sends_nothing(app, hook_url, clock):
    subscribe(app, hook_url, clock.now())
    with app.app_context():
        audit.record("security.alert", actor=Actor.system("test"), at=clock.now(), details={"kind": "x"})
        assert db.session.scalar(select(OutboxMessage.id)) is not None  # queued with the change…
        db.session.rollback()  # …and gone with it

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


# --- SSRF ------------------------------------------------------------------------------------------

PRIVATE_URLS = [
    "http://127.0.0.1/hooks",
    "http://127.1.2.3:8080/hooks",
    "https://10.0.0.5/hooks",
    "http://172.16.0.1/hooks",
    "http://192.168.1.10/hooks",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/hooks",
    "http://[::ffff:127.0.0.1]/hooks",
    "http://[fe80::1]/hooks",
    "http://[fd00::1]/hooks",
    "http://0.0.0.0/hooks",
    "http://100.64.0.1/hooks",
    "http://localhost/hooks",
    "http://LocalHost:8080/hooks",
]


@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_i10_ssrf_private_loopback_and_link_local_urls_are_refused(make_app, clock, url):
    app = make_app(WEBHOOK_ALLOW_PRIVATE_URLS=False)
    with app.app_context(), pytest.raises(InvalidInput) as refused:
        webhook_endpoints.create(
            url=url,
            description="",
            events=["security.alert"],
            actor=Actor.system("t"),
            ip=None,
            now=clock.now(),
        )

    assert refused.value.reason == "webhook_url_private"
    assert "only go to public addresses" in refused.value.message


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/hooks",
        "javascript:alert(1)",
        "http://user:pw@example.com/hooks",
        "http://exa mple.com/",
        "http://example.com:99999/",
        "https://",
        "",
        "http://example.com/\x00",
    ],
)
def test_i11_malformed_webhook_urls_are_refused(make_app, clock, url):
    app = make_app(WEBHOOK_ALLOW_PRIVATE_URLS=False)
    with app.app_context(), pytest.raises(InvalidInput) as refused:
        webhooks.check_url(url)

    assert refused.value.reason in {"webhook_url_invalid", "webhook_url_credentials"}


def test_i10_a_public_address_passes_the_check(make_app):
    app = make_app(WEBHOOK_ALLOW_PRIVATE_URLS=False)
    with app.app_context():
        assert webhooks.check_url("https://93.184.215.14/hooks") == "https://93.184.215.14/hooks"
        assert webhooks.checked_target("http://[2606:4700::1111]:8443/x").address is not None


def test_i10_ssrf_is_checked_again_at_delivery(make_app, app, httpserver, hook_url, clock):
    answer(httpserver)
    subscribe(app, hook_url, clock.now())  # saved while private addresses were allowed
    with app.app_context():
        audit.record("security.alert", actor=Actor.system("test"), at=clock.now(), details={"kind": "x"})
        db.session.commit()
    strict = make_app(WEBHOOK_ALLOW_PRIVATE_URLS=False)

    done = work(strict, clock.now())

    assert done.retried == 1
    assert arrivals(httpserver) == []
    [message] = messages(app, "webhook")
    assert "only go to public addresses" in message.last_error


def test_i10_delivery_goes_to_the_address_that_was_checked(make_app, app, receiver, clock, monkeypatch):
    """DNS rebinding: the name is resolved once, checked, and that very address is connected to."""
    receiver.expect_request(HOOK, method="POST").respond_with_data("ok")
    url = f"http://hooks.example.invalid:{receiver.port}{HOOK}"
    resolved = []

    def resolve(hostname, port):
        resolved.append(hostname)
        return [webhooks.ipaddress.ip_address("127.0.0.1")]

    subscribe(app, url, clock.now())
    with app.app_context():
        audit.record("security.alert", actor=Actor.system("test"), at=clock.now(), details={"kind": "x"})
        db.session.commit()
    strict = make_app(WEBHOOK_ALLOW_PRIVATE_URLS=False)
    monkeypatch.setattr(webhooks, "_addresses", resolve)
    monkeypatch.setattr(webhooks, "is_public", lambda address: True)  # pretend 127.0.0.1 is public

    assert work(strict, clock.now()).delivered == 1

    assert resolved == ["hooks.example.invalid"]  # once, by the check; the connection used its answer
    [arrival] = arrivals(receiver, HOOK)
    assert arrival.headers["host"] == f"hooks.example.invalid:{receiver.port}"


# --- Slack -----------------------------------------------------------------------------------------


@pytest.fixture
def slack_app(make_app, app, httpserver):
    """The app with Slack's incoming webhook pointing at the receiver."""
    answer(httpserver, path="/slack")
    return make_app(SLACK_WEBHOOK_URL=httpserver.url_for("/slack"))


def slack_texts(httpserver) -> list[str]:
    return [json.loads(arrival.body)["text"] for arrival in arrivals(httpserver, "/slack")]


def test_i10_slack_announces_a_started_impersonation_with_text_escaped(
    slack_app, httpserver, make_staff, alice, clock
):
    browser = slack_app.test_client()
    member = make_staff("support")
    sign_in(browser, member, clock)
    reason = "Customer says <!channel> & <https://evil.example|click here> broke the export"

    launch_and_redeem(browser, member, clock, alice, justification=reason, ticket="T-1 <b>")
    work(slack_app, clock.now())

    [text] = slack_texts(httpserver)
    assert "<!channel>" not in text and "<https://evil" not in text and "<b>" not in text
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click here&gt;" in text
    assert "Ticket: T-1 &lt;b&gt;" in text
    assert member.email in text and "alice@acme.example" in text and "Acme" in text
    assert "read-only" in text
    ends = (clock.now() + timedelta(minutes=60)).strftime("%H:%M UTC")
    assert f"until {ends}" in text
    assert [m.event_type for m in messages(slack_app, "slack")] == ["impersonation.started"]


def test_i10_slack_gets_security_alerts_and_nothing_else(slack_app, httpserver, make_staff, alice, clock):
    browser = slack_app.test_client()
    member = make_staff("support")
    sign_in(browser, member, clock)
    token = launch(browser, member, clock, alice)[1]
    redeem(browser, token)
    redeem(browser, token)  # a replay: a security alert

    work(slack_app, clock.now())

    texts = slack_texts(httpserver)
    assert len(texts) == 2
    assert texts[1].startswith(":rotating_light: Security alert: *token replay*")


def test_i10_without_a_slack_url_nothing_is_queued_for_slack(app, client, agent, alice, clock):
    launch_and_redeem(client, agent, clock, alice)

    assert messages(app, "slack") == []


# --- every event, from the real flows --------------------------------------------------------------


def test_i10_every_webhook_event_is_emitted_by_the_real_flows(
    make_app, httpserver, hook_url, make_staff, tenants, clock
):
    app = make_app(LOCKOUT_THRESHOLD=3)
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
    end_ghost(browser)  # .ended
    intruder = make_staff("support")
    stranger = app.test_client()
    clock.next_totp_step()
    sign_in_password(stranger, intruder.email, intruder.password)
    for _ in range(3):
        submit_code(stranger, wrong_code(intruder, clock))  # staff.locked and security.alert
    work(app, clock.now())

    assert denied.status_code == 400  # a malformed code: refused, and audited as denied
    assert set(types_received(httpserver)) == set(WEBHOOK_EVENTS)
    assert all(signature_verifies(secret, arrival) for arrival in arrivals(httpserver, HOOK))
    assert len({arrival.webhook_id for arrival in arrivals(httpserver, HOOK)}) == len(
        arrivals(httpserver, HOOK)
    )


# --- security alerts -------------------------------------------------------------------------------


def alerts_received(httpserver) -> list[dict]:
    return [a.json["data"] for a in arrivals(httpserver, HOOK) if a.json["type"] == "security.alert"]


@pytest.fixture
def alert_hook(app, httpserver, hook_url, clock):
    answer(httpserver)
    subscribe(app, hook_url, clock.now(), events=["security.alert", "staff.locked"])
    return httpserver


def test_alert_more_starts_in_an_hour_than_allowed_raises_one_alert(
    make_app, alert_hook, make_staff, alice, clock
):
    app = make_app(ALERT_IMPERSONATIONS_PER_HOUR=2)
    browser = app.test_client()
    member = make_staff("support")
    sign_in(browser, member, clock)

    for _ in range(2):
        launch_and_redeem(browser, member, clock, alice)
    assert audit_events(app, "security.alert") == []
    for _ in range(2):  # the third is one too many; the fourth raises nothing new
        launch_and_redeem(browser, member, clock, alice)
    work(app, clock.now())

    [alert] = audit_events(app, "security.alert")
    assert alert["details"] == {"kind": "impersonation_rate", "started_last_hour": 3, "limit": 2}
    assert alert["actor_id"] == member.id
    [sent] = alerts_received(alert_hook)
    assert sent["details"]["kind"] == "impersonation_rate"
    clock.advance(hours=1, minutes=1)
    sign_in(browser, member, clock)  # the console session idled out meanwhile
    for _ in range(3):
        launch_and_redeem(browser, member, clock, alice)
    assert len(audit_events(app, "security.alert")) == 2  # a new hour, a new alert


def test_alert_a_token_replay(app, alert_hook, client, agent, alice, clock):
    launched = launch_and_redeem(client, agent, clock, alice)

    assert redeem(client, launched.token).status_code == 410
    work(app, clock.now())

    [alert] = alerts_received(alert_hook)
    assert alert["details"]["kind"] == "token_replay"
    assert alert["actor"]["id"] == agent.id


def test_alert_a_token_redeemed_on_the_wrong_tenant(app, alert_hook, client, agent, alice, clock):
    token = launch(client, agent, clock, alice)[1]

    assert redeem(client, token, host=GLOBEX).status_code == 403
    work(app, clock.now())

    [alert] = alerts_received(alert_hook)
    assert alert["details"]["kind"] == "wrong_tenant_redemption"
    assert alert["details"]["host"] == "globex.localhost"


def test_alert_a_totp_lockout_sends_staff_locked_and_an_alert(app, alert_hook, client, make_staff, clock):
    member = make_staff("support")
    clock.next_totp_step()
    sign_in_password(client, member.email, member.password)

    for _ in range(app.config["LOCKOUT_THRESHOLD"]):
        submit_code(client, wrong_code(member, clock))
    work(app, clock.now())

    received = [(a.json["type"], a.json["data"]["details"].get("kind")) for a in arrivals(alert_hook, HOOK)]
    assert received == [("staff.locked", None), ("security.alert", "staff_locked")]
    assert [e["details"]["kind"] for e in audit_events(app, "security.alert")] == ["staff_locked"]


def test_alert_an_access_code_lockout(app, alert_hook, client, agent, tenants, clock):
    alice = user_id(app, "alice@acme.example")  # not opted in: a code is needed

    for _ in range(app.config["ACCESS_CODE_MAX_FAILURES"]):
        response = request_impersonation(client, agent, clock, alice, access_code="ABCD-EFGH")
        assert response.status_code in (403, 400, 429)
    work(app, clock.now())

    [alert] = alerts_received(alert_hook)
    assert alert["details"]["kind"] == "access_code_locked"
    assert alert["details"]["user_id"] == alice
