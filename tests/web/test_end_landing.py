"""Issue 13: after *End*, a confirmation on the page the staff member lands on.

- *End* in the ghost banner: 303 to the tenant's "Impersonation ended" page, 200, which names whose
  account was left and links back to that user's page on the console (built from configuration,
  never from the request). A reload shows it again and ends nothing more.
- A ghost's click after someone else ended the session (the customer, the security team, the time
  limit) still gets that page refused (403), with its reason and a link to the console.
- Ending from the console (My impersonations, Live sessions): the console is the landing page, and it
  says so in a flash.
"""

from __future__ import annotations

import html
import re

import pytest

from tests.support.customer import revoke_session, sign_in_as
from tests.support.impersonation import (
    ENDED_TITLE,
    end_ghost,
    launch_and_redeem,
    the_impersonation,
)
from tests.support.records import audit_events
from tests.support.web import ACME, CONSOLE, csrf_token, flashes, post_form, sign_in

ENDED_PAGE = "/impersonation/ended"


def words(page) -> str:
    """The page's text without its tags, line breaks and indents as single spaces, as a person reads it."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", page.text)).split())


@pytest.fixture
def member(make_staff):
    return make_staff("support", email="sam@staff.example")


@pytest.fixture
def ghost(app, member, alice, clock):
    """Sam's browser: signed in on the console, and in Alice's account on Acme."""
    browser = app.test_client()
    sign_in(browser, member, clock)
    assert launch_and_redeem(browser, member, clock, alice).redeemed.status_code == 303
    return browser


def test_end_lands_on_a_200_confirmation_that_links_back_to_the_user_on_the_console(app, ghost, alice):
    response = end_ghost(ghost)

    assert response.status_code == 303 and response.headers["Location"] == ENDED_PAGE
    page = ghost.get(ENDED_PAGE, base_url=ACME)
    assert page.status_code == 200
    assert ENDED_TITLE in page.text
    assert "You ended your impersonation of Alice." in words(page)
    assert f'href="{CONSOLE}/users/{alice}"' in page.text
    assert "Back to Alice on the console" in words(page)
    assert 'id="ghost-banner"' not in page.text
    [event] = audit_events(app, "impersonation.ended")
    assert event["details"]["reason"] == "staff_ended"

    reload = ghost.get(ENDED_PAGE, base_url=ACME)

    assert reload.status_code == 200 and "You ended your impersonation of Alice." in words(reload)
    assert len(audit_events(app, "impersonation.ended")) == 1
    assert ghost.get(f"/users/{alice}", base_url=CONSOLE).status_code == 200  # the link's page opens


def test_the_console_link_comes_from_configuration_not_from_the_request(make_app, tenants):
    app = make_app(CONSOLE_HOST="support.example.test", PUBLIC_SCHEME="https", PUBLIC_PORT=8443)

    page = app.test_client().get(ENDED_PAGE, base_url=ACME, headers={"X-Forwarded-Host": "evil.example"})

    assert page.status_code == 200
    assert 'href="https://support.example.test:8443/"' in page.text
    assert "evil.example" not in page.text


def test_the_ended_page_without_an_ended_session_offers_the_console(client, tenants):
    page = client.get(ENDED_PAGE, base_url=ACME)

    assert page.status_code == 200
    assert "No impersonation is running in this browser." in page.text
    assert f'href="{CONSOLE}/"' in page.text


def test_the_ended_page_during_a_live_ghost_session_goes_back_to_the_account(app, ghost):
    page = ghost.get(ENDED_PAGE, base_url=ACME)

    assert page.status_code == 303 and page.headers["Location"] == "/"
    assert audit_events(app, "impersonation.ended") == []


@pytest.mark.parametrize(
    "cookie",
    [
        None,
        "x",
        [1],
        {"user_id": True, "user_name": "A"},
        {"user_id": 10**30},
        {"user_id": 1, "user_name": 5},
    ],
    ids=["none", "text", "list", "bool id", "huge id", "name a number"],
)
def test_any_cookie_contents_give_the_page_not_an_error(client, tenants, cookie):
    with client.session_transaction(base_url=ACME) as state:
        state["ended"] = cookie

    page = client.get(ENDED_PAGE, base_url=ACME)

    assert page.status_code == 200 and ENDED_TITLE in page.text


def test_a_session_the_customer_revoked_is_refused_with_its_reason_and_a_console_link(
    app, ghost, alice, clock
):
    customer = app.test_client()
    sign_in_as(customer, "alice@acme.example")
    assert revoke_session(customer, the_impersonation(app).id).status_code == 303

    click = ghost.get("/", base_url=ACME)

    # Someone else ended it: the click is refused (it was not served), and says who ended it.
    assert click.status_code == 403
    assert ENDED_TITLE in click.text and "Ended by the customer." in click.text
    assert f'href="{CONSOLE}/"' in click.text


def test_a_session_past_its_time_limit_is_refused_with_a_console_link(app, ghost, clock):
    clock.advance(minutes=61)

    click = ghost.get("/", base_url=ACME)

    assert click.status_code == 403
    assert "Time limit reached." in click.text and f'href="{CONSOLE}/"' in click.text


def test_ending_from_my_impersonations_confirms_on_the_console(app, ghost):
    imp = the_impersonation(app)
    mine = ghost.get("/impersonations/mine", base_url=CONSOLE)

    response = ghost.post(
        f"/impersonations/{imp.id}/end", base_url=CONSOLE, data={"csrf_token": csrf_token(mine.text)}
    )

    assert response.status_code == 303
    landed = ghost.get(response.headers["Location"], base_url=CONSOLE)
    assert "The impersonation is ended: its next request is refused." in flashes(landed)


def test_terminating_confirms_on_live_sessions(app, ghost, make_staff, clock):
    officer = app.test_client()
    sign_in(officer, make_staff("security"), clock)
    imp = the_impersonation(app)

    response = post_form(
        officer, CONSOLE, "/audit/live", f"/audit/live/{imp.id}/terminate", {"reason": "Customer called us"}
    )

    assert response.status_code == 303
    landed = officer.get(response.headers["Location"], base_url=CONSOLE)
    assert "Terminated Support Person's impersonation of Alice: their next request is refused." in flashes(
        landed
    )
    assert ghost.get("/", base_url=ACME).status_code == 403


def test_terminating_from_the_detail_page_comes_back_there_with_a_confirmation(app, ghost, make_staff, clock):
    officer = app.test_client()
    sign_in(officer, make_staff("security"), clock)
    detail = f"/audit/impersonations/{the_impersonation(app).id}"
    page = officer.get(detail, base_url=CONSOLE)
    assert 'name="back" value="detail"' in page.text

    response = officer.post(
        f"/audit/live/{the_impersonation(app).id}/terminate",
        base_url=CONSOLE,
        data={"csrf_token": csrf_token(page.text), "back": "detail", "reason": "Customer called us"},
    )

    assert response.status_code == 303 and response.headers["Location"] == detail
    landed = officer.get(detail, base_url=CONSOLE)
    confirmed = "Terminated Support Person's impersonation of Alice: their next request is refused."
    assert confirmed in flashes(landed)
    assert "Terminated by the security team." in landed.text
    assert 'name="back"' not in landed.text  # nothing left to terminate
    assert the_impersonation(app).end_reason == "security_terminated"


def test_a_terminate_without_a_reason_on_the_detail_page_says_so_there(app, ghost, make_staff, clock):
    officer = app.test_client()
    sign_in(officer, make_staff("security"), clock)
    detail = f"/audit/impersonations/{the_impersonation(app).id}"
    page = officer.get(detail, base_url=CONSOLE)

    response = officer.post(
        f"/audit/live/{the_impersonation(app).id}/terminate",
        base_url=CONSOLE,
        data={"csrf_token": csrf_token(page.text), "back": "detail", "reason": ""},
    )

    assert response.status_code == 400
    assert f"Impersonation #{the_impersonation(app).id}" in response.text
    assert 'id="terminate-reason-error"' in response.text
    assert the_impersonation(app).ended_at is None
