"""Live sessions, GET /audit/live and *Terminate* (issue 5 §4; DESIGN I1, I4, §7, I11): every active
impersonation with its time left, and a terminate that ends it on the ghost's very next request."""

from __future__ import annotations

import pytest

from tests.support.impersonation import ACME, launch, launch_and_redeem, the_impersonation
from tests.support.records import audit_events
from tests.support.web import CONSOLE, csrf_token, flashes, post_form, sign_in

REASON = "Customer called: they did not ask for support access"


@pytest.fixture
def ghost(app, make_staff, alice, clock):
    """A support agent in Alice's account right now, in a browser of their own."""
    agent = make_staff("support", email="sam@staff.example")
    browser = app.test_client()
    sign_in(browser, agent, clock)
    assert launch_and_redeem(browser, agent, clock, alice).redeemed.status_code == 303
    assert browser.get("/", base_url=ACME).status_code == 200
    return browser


@pytest.fixture
def officer(client, make_staff, clock):
    member = make_staff("security", email="sid@staff.example")
    sign_in(client, member, clock)
    return member


def live_page(client):
    return client.get("/audit/live", base_url=CONSOLE)


def terminate(client, impersonation_id: int, reason: str | None = REASON):
    data = {} if reason is None else {"reason": reason}
    return post_form(client, CONSOLE, "/audit/live", f"/audit/live/{impersonation_id}/terminate", data)


def run_out(client, clock) -> None:
    """Let the ghost session reach its 60 minutes, the officer's console staying in use meanwhile."""
    for _ in range(3):
        clock.advance(minutes=20, seconds=20)
        assert live_page(client).status_code == 200


def test_live_sessions_lists_active_impersonations_with_time_left(app, client, ghost, officer, clock):
    clock.advance(minutes=12)
    imp = the_impersonation(app)

    page = live_page(client).text

    assert "Support Person" in page and "sam@staff.example" in page
    assert "Alice" in page and "Acme" in page and "read-only" in page
    assert "48 min" in page
    assert f'href="/audit/impersonations/{imp.id}"' in page
    assert f'action="/audit/live/{imp.id}/terminate"' in page
    assert f'<label for="terminate-reason-{imp.id}">Reason</label>' in page


def test_live_sessions_leaves_out_what_is_not_live(app, client, make_staff, alice, clock, officer):
    agent = make_staff("support")
    browser = app.test_client()
    sign_in(browser, agent, clock)
    launch(browser, agent, clock, alice)  # issued, never redeemed

    assert "No impersonation is in progress." in live_page(client).text
    launch_and_redeem(browser, agent, clock, alice)
    assert "Terminate" in live_page(client).text
    run_out(client, clock)
    assert "No impersonation is in progress." in live_page(client).text


def test_terminate_ends_the_ghost_session_on_its_next_request(app, client, ghost, officer):
    imp = the_impersonation(app)

    response = terminate(client, imp.id)

    assert response.status_code == 303
    assert response.headers["Location"] == "/audit/live"
    followed = client.get(response.headers["Location"], base_url=CONSOLE)
    assert flashes(followed) == [
        "Terminated Support Person's impersonation of Alice: their next request is refused."
    ]
    assert "No impersonation is in progress." in followed.text
    ended = the_impersonation(app)
    assert (ended.end_reason, ended.end_note) == ("security_terminated", REASON)
    [event] = audit_events(app, "impersonation.ended")
    assert event["actor_id"] == officer.id and event["actor_label"] == "sid@staff.example"
    assert event["details"] == {"impersonation_id": imp.id, "reason": "security_terminated", "note": REASON}

    next_click = ghost.get("/", base_url=ACME)

    assert next_click.status_code == 403
    assert "<h1>Impersonation ended</h1>" in next_click.text
    assert "Terminated by the security team." in next_click.text
    assert 'id="ghost-banner"' not in next_click.text
    assert ghost.get("/", base_url=ACME).headers["Location"].startswith("/sign-in")  # and the cookie is gone


def test_terminating_what_has_already_ended_changes_nothing(app, client, ghost, officer):
    imp = the_impersonation(app)
    assert terminate(client, imp.id).status_code == 303

    again = terminate(client, imp.id, reason="Second click on a stale page")

    assert again.status_code == 303
    followed = client.get("/audit/live", base_url=CONSOLE)
    assert flashes(followed) == [
        "Support Person's impersonation of Alice had already ended, so nothing was changed. "
        "Terminated by the security team."
    ]
    assert len(audit_events(app, "impersonation.ended")) == 1
    assert the_impersonation(app).end_note == REASON


def test_terminating_a_session_that_ran_out_changes_nothing(app, client, ghost, officer, clock):
    run_out(client, clock)

    response = terminate(client, the_impersonation(app).id)

    assert response.status_code == 303
    assert (
        "had already ended, so nothing was changed. Time limit reached."
        in client.get("/audit/live", base_url=CONSOLE).text
    )
    assert the_impersonation(app).ended_at is None
    assert audit_events(app, "impersonation.ended") == []


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        (None, "Reason is required."),
        ("   ", "Reason is required."),
        ("x" * 501, "Reason must be at most 500 characters."),
        ("stop\x00now", "Reason contains a NUL byte; please remove it."),
    ],
)
def test_i11_terminate_needs_a_readable_reason(app, client, ghost, officer, reason, message):
    imp = the_impersonation(app)

    response = terminate(client, imp.id, reason)

    assert response.status_code == 400
    assert message in response.text
    assert f'aria-describedby="terminate-reason-{imp.id}-error"' in response.text
    assert the_impersonation(app).ended_at is None
    assert audit_events(app, "impersonation.ended") == []
    assert ghost.get("/", base_url=ACME).status_code == 200


def test_terminating_an_unknown_impersonation_is_a_404(client, officer):
    response = terminate(client, 999999)

    assert response.status_code == 404


@pytest.mark.parametrize("role", ["support", "impersonator"])
def test_roles_only_the_security_team_may_terminate(app, client, ghost, make_staff, clock, role):
    sign_in(client, make_staff(role), clock)
    token = csrf_token(client.get("/", base_url=CONSOLE).text)

    page = live_page(client)
    response = client.post(
        f"/audit/live/{the_impersonation(app).id}/terminate",
        base_url=CONSOLE,
        data={"csrf_token": token, "reason": REASON},
    )

    assert page.status_code == 403
    assert response.status_code == 403
    assert the_impersonation(app).ended_at is None
    assert ghost.get("/", base_url=ACME).status_code == 200


def test_an_admin_may_terminate_too(app, client, ghost, make_staff, clock):
    sign_in(client, make_staff("admin"), clock)

    assert terminate(client, the_impersonation(app).id).status_code == 303
    assert the_impersonation(app).end_reason == "security_terminated"
