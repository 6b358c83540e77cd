"""The security team's side in a real browser (issue 5): while a support agent is in a customer's
account, a security officer filters the audit log to that agent, opens the impersonation, reads its
request log, and terminates the live session; the ghost's next click shows "Impersonation ended".
Two browser contexts, two people: the agent's on acme.localhost, the officer's on the console."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pyotp
import pytest
import time_machine
from playwright.sync_api import Page, expect

from impersonator.services.demo import DemoStaff
from tests.browser.conftest import LiveServer, next_totp_step, seed_demo_staff, sign_in
from tests.support.browser import ACME_HOST, CONSOLE_HOST, artifact_path
from tests.support.impersonation import ghost_requests, the_impersonation, user_id

pytestmark = pytest.mark.browser

ALICE_EMAIL, ALICE_NAME = "alice@acme.example", "Alice Anderson"
JUSTIFICATION = "Alice reports her onboarding guide vanished; checking what she sees."
REASON = "Alice called: she never asked for support to look"


def agent_enters_alices_account(ghost: Page, live_server: LiveServer, agent: DemoStaff, traveller) -> None:
    """The support agent's real flow: user page, justification, a fresh code, the handoff."""
    sign_in(ghost, live_server, agent)
    ghost.goto(live_server.url(CONSOLE_HOST, f"/users/{user_id(live_server.app, ALICE_EMAIL)}"))
    ghost.get_by_label("Justification").fill(JUSTIFICATION)
    next_totp_step(traveller)  # the sign-in used this step's code
    ghost.get_by_label("Authenticator code").fill(pyotp.TOTP(agent.totp_secret).now())
    ghost.get_by_role("button", name="Start impersonation").click()
    expect(ghost).to_have_url(live_server.url(ACME_HOST, "/"))
    expect(ghost.get_by_role("region", name="Impersonation in progress")).to_contain_text(agent.name)
    ghost.get_by_role("link", name="Account").click()
    expect(ghost.get_by_role("region", name="Impersonation in progress")).to_be_visible()


def test_security_officer_filters_opens_and_terminates_a_live_session(live_server, page, second_page):
    ghost = second_page
    with time_machine.travel(datetime.now(UTC), tick=True) as traveller:
        staff = seed_demo_staff(live_server)
        agent, officer = staff["support"], staff["security"]
        next_totp_step(traveller)
        agent_enters_alices_account(ghost, live_server, agent, traveller)
        imp = the_impersonation(live_server.app)

        # The officer signs in and narrows the audit log to the agent.
        sign_in(page, live_server, officer)
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
        expect(page.get_by_role("heading", name="Audit log", level=1)).to_be_visible()
        expect(page.get_by_text("The audit chain has never been verified.")).to_be_visible()
        # The axis's unit starts inside the drawing (in its own units, whatever the window's shape).
        unit_left = page.locator("svg.chart text", has_text="per day").evaluate("text => text.getBBox().x")
        assert unit_left >= 0, "the chart's unit is cut off at the drawing's left edge"
        events = page.locator("table.audit-events")
        expect(events).to_contain_text(officer.name)  # everyone's events, by name, before filtering
        page.get_by_label("Staff member").select_option(label=f"{agent.name} ({agent.email})")
        page.get_by_role("button", name="Filter").click()
        expect(page).to_have_url(re.compile(r"/audit/\?.*staff=\d+"))
        expect(page.get_by_label("Staff member")).to_have_value(str(imp.staff_id))
        expect(events).not_to_contain_text(officer.name)
        for action in ("Signed in", "Impersonation requested", "Impersonation started"):
            expect(events.get_by_text(action, exact=True)).to_be_visible()
        page.screenshot(path=artifact_path("security-audit-log-filtered"), full_page=True)

        # The impersonation in full, with the ghost's request log.
        started = events.get_by_role("row").filter(has_text="Impersonation started")
        started.get_by_role("link", name=f"impersonation #{imp.id}").click()
        expect(page.get_by_role("heading", name=f"Impersonation #{imp.id}")).to_be_visible()
        expect(page.get_by_text(JUSTIFICATION)).to_be_visible()
        request_log = page.locator("table.ghost-requests")
        expect(request_log.get_by_role("row").filter(has_text="/account")).to_contain_text("200")
        expect(page.get_by_text("In progress.")).to_be_visible()
        page.screenshot(path=artifact_path("security-impersonation-detail"), full_page=True)

        # Terminate the live session, with a reason.
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Live sessions").click()
        row = page.get_by_role("row").filter(has_text=ALICE_NAME)
        expect(row).to_contain_text(agent.name)
        expect(row).to_contain_text(re.compile(r"\b(59|60) min\b"))
        row.get_by_label("Reason").fill(REASON)
        page.screenshot(path=artifact_path("security-live-sessions"), full_page=True)
        row.get_by_role("button", name=f"Terminate {agent.name}'s impersonation of {ALICE_NAME}").click()
        expect(page.get_by_role("status").filter(has_text="Terminated")).to_contain_text(
            f"Terminated {agent.name}'s impersonation of {ALICE_NAME}: their next request is refused."
        )
        expect(page.get_by_text("No impersonation is in progress.")).to_be_visible()

        # The ghost's very next click.
        ghost.get_by_role("link", name="Projects").click()
        expect(ghost.get_by_role("heading", name="Impersonation ended")).to_be_visible()
        expect(ghost.get_by_text("Terminated by the security team.")).to_be_visible()
        expect(ghost.locator("#ghost-banner")).to_have_count(0)
        ghost.screenshot(path=artifact_path("security-ghost-after-terminate"), full_page=True)

        # The detail page now says how it ended, and why.
        page.goto(live_server.url(CONSOLE_HOST, f"/audit/impersonations/{imp.id}"))
        expect(page.get_by_text("Terminated by the security team.")).to_be_visible()
        expect(page.get_by_text(REASON)).to_be_visible()
        expect(page.locator("table.ghost-requests")).to_contain_text("403")

    ended = the_impersonation(live_server.app)
    assert (ended.end_reason, ended.end_note) == ("security_terminated", REASON)
    method, path, status = list(ghost_requests(live_server.app, imp.id))[-1]
    assert (method, path, status) == ("GET", "/", 403)
