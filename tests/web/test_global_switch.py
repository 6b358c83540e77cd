"""The global switch (DESIGN I4, I5; issue 3 item 9): `flask impersonation enable|disable|status`,
stored in the database and read on every request, redemption and ghost request."""

from __future__ import annotations

from tests.support.impersonation import (
    BANNER,
    ENDED_TITLE,
    launch,
    launch_and_redeem,
    open_user_page,
    redeem,
    request_impersonation,
    the_impersonation,
    token_from_launch,
)
from tests.support.records import audit_events
from tests.support.web import ACME


def switch(runner, state: str) -> str:
    result = runner.invoke(args=["impersonation", state])
    assert result.exit_code == 0, result.output
    return result.output.strip()


def test_i1_the_cli_flips_the_switch_and_audits_each_change(app, runner):
    assert switch(runner, "status") == "on"

    assert switch(runner, "disable") == "Impersonation is off; live sessions end on their next request."
    assert switch(runner, "status") == "off"
    assert switch(runner, "disable") == "Impersonation was already off."
    assert switch(runner, "enable") == "Impersonation is on."
    assert switch(runner, "status") == "on"

    changes = audit_events(app, "settings.impersonation_switch")
    assert [e["details"] for e in changes] == [{"old": "on", "new": "off"}, {"old": "off", "new": "on"}]
    assert {e["actor_label"] for e in changes} == {"cli"}


def test_i5_switched_off_refuses_new_requests(app, client, runner, agent, alice, clock):
    switch(runner, "disable")

    page = open_user_page(client, alice)
    response = request_impersonation(client, agent, clock, alice)

    assert "impersonation switched off" in page.text and "Start impersonation" not in page.text
    assert response.status_code == 403
    assert "switched off for everyone" in response.text
    assert [e["details"]["reason"] for e in audit_events(app, "impersonation.denied")] == ["switched_off"]


def test_i5_switched_off_refuses_the_redemption_of_a_token_issued_before(
    app, client, runner, agent, alice, clock
):
    token = launch(client, agent, clock, alice)[1]
    switch(runner, "disable")

    response = redeem(client, token)

    assert response.status_code == 403
    assert BANNER not in client.get("/", base_url=ACME).text
    assert the_impersonation(app).end_reason == "switched_off"
    reasons = [e["details"]["reason"] for e in audit_events(app, "impersonation.redeem_failed")]
    assert reasons == ["switched_off"]


def test_i4_switched_off_ends_a_live_session_on_the_next_request(app, client, runner, agent, alice, clock):
    launch_and_redeem(client, agent, clock, alice)
    assert BANNER in client.get("/", base_url=ACME).text

    switch(runner, "disable")
    page = client.get("/", base_url=ACME)

    assert page.status_code == 403
    assert ENDED_TITLE in page.text and "Ended: support access was switched off." in page.text
    assert the_impersonation(app).end_reason == "switched_off"
    assert [e["details"]["reason"] for e in audit_events(app, "impersonation.ended")] == ["switched_off"]


def test_i5_switched_on_again_allows_new_impersonations_but_revives_nothing(
    app, client, runner, agent, alice, clock
):
    launch_and_redeem(client, agent, clock, alice)
    switch(runner, "disable")
    client.get("/", base_url=ACME)  # ends the live session
    switch(runner, "enable")

    assert BANNER not in client.get("/", base_url=ACME).text
    token_from_launch(request_impersonation(client, agent, clock, alice))
