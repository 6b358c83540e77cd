"""Withdrawing a staff member's access (issue 5 §5; DESIGN I1, I4): disabling a member, or resetting
their authenticator, ends their console sessions, ghost sessions and (on a reset) their unredeemed
tokens, so the very next request is refused."""

from __future__ import annotations

import html
from urllib.parse import urlsplit

from tests.support.customer import HISTORY, sign_in_as
from tests.support.impersonation import (
    BANNER,
    ENDED_TITLE,
    impersonations,
    launch,
    launch_and_redeem,
    redeem,
    the_impersonation,
)
from tests.support.records import audit_events
from tests.support.staff_admin import admin_post
from tests.support.web import ACME, CONSOLE, flashes, sign_in

# --- disable ------------------------------------------------------------------------------------


def test_i4_disabling_ends_console_and_ghost_sessions_on_the_next_request(
    app, admin, client, make_staff, alice, clock
):
    member = make_staff("support")
    sign_in(client, member, clock)
    launch_and_redeem(client, member, clock, alice)
    assert BANNER in client.get("/", base_url=ACME).text

    response = admin_post(admin, f"/admin/staff/{member.id}/disable", follow_redirects=True)

    assert flashes(response) == [
        "Support Person is disabled, signed out everywhere, and their impersonations ended."
    ]
    ghost_page = client.get("/", base_url=ACME)
    assert ghost_page.status_code == 403
    assert ENDED_TITLE in ghost_page.text
    console = client.get("/", base_url=CONSOLE)
    assert urlsplit(console.headers["Location"]).path == "/sign-in"
    [event] = audit_events(app, "staff.disabled")
    assert event["details"]["sessions_ended"] == 1
    assert event["details"]["impersonations_ended"] == 1
    assert event["details"]["active"] == {"old": True, "new": False}
    [ended] = audit_events(app, "impersonation.ended")
    assert ended["details"]["reason"] == "staff_disabled"
    assert ended["details"]["impersonation_id"] == the_impersonation(app).id
    assert ended["actor_type"] == "staff"  # the admin's disable ended it, in the same transaction


# --- reset TOTP ---------------------------------------------------------------------------------


def test_reset_totp_is_audited_with_old_and_new(app, admin, make_staff):
    member = make_staff("support")

    admin_post(admin, f"/admin/staff/{member.id}/reset-totp")

    [event] = audit_events(app, "staff.totp_reset")
    assert event["details"]["totp_enrolled"] == {"old": True, "new": False}
    assert event["details"]["impersonations_ended"] == 0


def test_i4_resetting_totp_ends_ghost_sessions_and_unredeemed_tokens_on_the_next_request(
    app, admin, client, make_staff, alice, clock
):
    member = make_staff("support")
    sign_in(client, member, clock)
    launch_and_redeem(client, member, clock, alice)
    assert BANNER in client.get("/", base_url=ACME).text
    _, unredeemed_token = launch(client, member, clock, alice)  # issued, not yet redeemed
    live, waiting = impersonations(app)

    response = admin_post(admin, f"/admin/staff/{member.id}/reset-totp", follow_redirects=True)

    assert flashes(response) == [
        "Support Person will enrol a new authenticator at the next sign-in; their console sessions and"
        " any impersonations they had open have ended."
    ]
    ghost_page = client.get("/", base_url=ACME)
    assert ghost_page.status_code == 403
    assert ENDED_TITLE in ghost_page.text and "authenticator was reset" in ghost_page.text
    late = app.test_client()
    refused = redeem(late, unredeemed_token)
    assert refused.status_code == 410
    assert "ended before it started" in refused.text
    assert BANNER not in late.get("/", base_url=ACME).text
    assert urlsplit(client.get("/", base_url=CONSOLE).headers["Location"]).path == "/sign-in"
    assert [(row.id, row.end_reason) for row in impersonations(app)] == [
        (live.id, "totp_reset"),
        (waiting.id, "totp_reset"),
    ]
    # Each end audited once, by the admin's reset, whatever the ghost and the token tried afterwards.
    ended = audit_events(app, "impersonation.ended")
    assert sorted(e["details"]["impersonation_id"] for e in ended) == [live.id, waiting.id]
    assert {(e["details"]["reason"], e["actor_type"]) for e in ended} == {("totp_reset", "staff")}
    [event] = audit_events(app, "staff.totp_reset")
    assert event["details"]["sessions_ended"] == 1
    assert event["details"]["impersonations_ended"] == 2
    [failed] = audit_events(app, "impersonation.redeem_failed")
    assert failed["details"] == {"impersonation_id": waiting.id, "reason": "ended_before_redemption"}
    customer = app.test_client()
    sign_in_as(customer, "alice@acme.example")
    history = html.unescape(customer.get(HISTORY, base_url=ACME).text)
    assert "ended: the support agent's authenticator was reset" in history
