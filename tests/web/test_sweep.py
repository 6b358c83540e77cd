"""Every impersonation ends on record on time (services/impersonation/sweep.py): a session whose
browser was closed, and a token nobody redeemed, are ended by the sweep with the events the guard
would have written, once."""

from __future__ import annotations

import threading

from impersonator.services.delivery import worker
from impersonator.services.impersonation import sweep
from tests.support.customer import HISTORY, sign_in_as
from tests.support.impersonation import (
    impersonations,
    launch,
    launch_and_redeem,
    redeem,
)
from tests.support.records import audit_events
from tests.support.web import ACME
from tests.support.webhooks import messages, subscribe


def swept(app, clock):
    with app.app_context():
        return sweep.sweep(clock.now())


def test_a_session_left_open_is_ended_by_the_sweep_as_the_guard_would(
    app, client, agent, alice, hook_url, clock
):
    subscribe(app, hook_url, clock.now(), events=["impersonation.ended"])
    launch_and_redeem(client, agent, clock, alice, duration="15")  # then the browser is closed
    clock.advance(minutes=14)
    assert swept(app, clock) == sweep.Swept()  # not yet

    clock.advance(minutes=1)
    done = swept(app, clock)

    assert done == sweep.Swept(sessions_ended=1)
    [ended] = audit_events(app, "impersonation.ended")
    assert ended["details"]["reason"] == "expired"
    assert (ended["actor_type"], ended["actor_label"]) == ("system", "sweeper")
    [imp] = impersonations(app)
    assert imp.end_reason == "expired" and imp.ended_at == clock.now()
    assert [m.event_type for m in messages(app, "webhook")] == ["impersonation.ended"]  # the webhook, once
    # The ghost coming back finds it ended, and nothing is recorded twice.
    assert client.get("/", base_url=ACME).status_code in (403, 410)
    assert len(audit_events(app, "impersonation.ended")) == 1


def test_a_token_never_redeemed_is_recorded_as_lapsed_once(app, client, agent, alice, clock):
    _, token = launch(client, agent, clock, alice)
    clock.advance(seconds=app.config["TOKEN_TTL_SECONDS"] + 1)

    first, second = swept(app, clock), swept(app, clock)

    assert (first, second) == (sweep.Swept(tokens_lapsed=1), sweep.Swept())
    [lapsed] = audit_events(app, "impersonation.token_expired")
    assert lapsed["details"]["impersonation_id"] == impersonations(app)[0].id
    [imp] = impersonations(app)
    assert imp.end_reason == "token_expired"
    assert imp.state(clock.now()) == "expired_unredeemed"
    refused = redeem(app.test_client(), token)
    assert refused.status_code == 410 and "expired" in refused.text
    assert audit_events(app, "impersonation.ended") == []


def test_live_sessions_and_usable_tokens_are_left_alone(app, client, agent, alice, clock):
    launch_and_redeem(client, agent, clock, alice, duration="30")
    launch(client, agent, clock, alice)  # a fresh token, not redeemed yet

    assert swept(app, clock) == sweep.Swept()
    assert all(imp.ended_at is None for imp in impersonations(app))


def test_the_customer_sees_the_swept_session_as_ended(app, client, agent, alice, clock):
    launch_and_redeem(client, agent, clock, alice, duration="15")
    clock.advance(minutes=16)
    swept(app, clock)

    customer = app.test_client()
    sign_in_as(customer, "alice@acme.example")
    page = customer.get(HISTORY, base_url=ACME).text

    assert "time limit reached" in page
    assert "Revoke now" not in page


def test_the_worker_loop_sweeps(app, client, agent, alice, clock):
    launch_and_redeem(client, agent, clock, alice, duration="15")
    clock.advance(minutes=16)
    stop = threading.Event()

    def loop() -> None:
        with app.app_context():
            worker.run(stop, poll_seconds=0.05, sweep_seconds=60)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        for _ in range(100):
            if impersonations(app)[0].ended_at is not None:
                break
            threading.Event().wait(0.05)
    finally:
        stop.set()
        thread.join(timeout=5)

    assert impersonations(app)[0].end_reason == "expired"


def test_the_sweep_command_prints_what_it_did(app, runner, client, agent, alice, clock):
    launch_and_redeem(client, agent, clock, alice, duration="15")
    launch(client, agent, clock, alice)
    clock.advance(minutes=16)

    result = runner.invoke(args=["impersonation", "sweep"])

    assert result.exit_code == 0, result.output
    assert result.output.strip() == "sessions ended: 1, tokens lapsed: 1, approval requests expired: 0"
