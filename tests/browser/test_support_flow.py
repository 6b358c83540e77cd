"""The support flow in a real browser (issue 13): search from the top bar, the access badge and the
direct "Impersonate" action, every problem of the form at once at its field, and a handoff page that a
trip back through the browser's history does not show again."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pyotp
import pytest
import time_machine
from playwright.sync_api import expect

from tests.browser.conftest import next_totp_step, seed_demo_staff, sign_in
from tests.support.browser import ACME_HOST, CONSOLE_HOST, artifact_path
from tests.support.impersonation import make_access_code, user_id

pytestmark = pytest.mark.browser

BOB_NAME = "Bob Brown"
JUSTIFICATION = "Bob cannot open his project list and asked us to look (SUP-13)."


@pytest.mark.parametrize("live_server", ["sqlite"], indirect=True)
def test_top_bar_search_to_impersonate_with_inline_errors_and_one_handoff(live_server, page):
    with time_machine.travel(datetime.now(UTC), tick=True) as traveller:
        page.clock.install(time=datetime.now(UTC))
        agent = seed_demo_staff(live_server)["support"]
        bob_id = user_id(live_server.app, "bob@acme.example")
        next_totp_step(traveller, page)
        sign_in(page, live_server, agent)

        # The top bar's search, from the home page.
        quick = page.get_by_role("search", name="Quick search")
        quick.get_by_label("Find a user").fill("acme")
        quick.get_by_role("button", name="Find").click()
        expect(page).to_have_url(re.compile(r"/search\?q=acme$"))
        bob_row = page.get_by_role("row").filter(has_text="bob@acme.example")
        expect(bob_row.locator(".access-badge")).to_have_text("code needed")
        carol_row = page.get_by_role("row").filter(has_text="carol@acme.example")
        expect(carol_row.locator(".access-badge")).to_have_text("inactive")
        expect(carol_row.get_by_role("link", name=re.compile("Impersonate"))).to_have_count(0)
        page.screenshot(path=artifact_path("support-flow-results"), full_page=True)
        action = bob_row.get_by_role("link", name="Impersonate", exact=True)
        expect(action).to_have_accessible_description(BOB_NAME)
        action.click()
        expect(page).to_have_url(live_server.url(CONSOLE_HOST, f"/users/{bob_id}#impersonate"))

        # Nothing filled in: every problem at once, at its field, and a summary at the top.
        page.get_by_role("button", name="Start impersonation").click()
        summary = page.get_by_role("alert").filter(has_text="This request has 3 problems")
        expect(summary).to_be_visible()
        for label, message in (
            ("Justification", "Justification is required."),
            ("Support access code", "This user has not opted in: ask them for their support access code."),
            ("Authenticator code", "Enter the 6-digit code from your authenticator app."),
        ):
            control = page.get_by_label(label)
            expect(control).to_have_attribute("aria-invalid", "true")
            expect(control).to_have_accessible_description(message)
        expect(page.get_by_label("Ticket reference")).not_to_have_attribute("aria-invalid", "true")
        page.screenshot(path=artifact_path("support-flow-inline-errors"), full_page=True)
        # The summary's links lead to the fields.
        summary.get_by_role("link", name="Justification is required.").click()
        expect(page).to_have_url(re.compile(r"#justification$"))

        # Fixed: Bob reads out his code, a fresh authenticator code, and the handoff carries it over.
        page.get_by_label("Justification").fill(JUSTIFICATION)
        page.get_by_label("Support access code").fill(make_access_code(live_server.app, bob_id))
        next_totp_step(traveller, page)
        page.get_by_label("Authenticator code").fill(pyotp.TOTP(agent.totp_secret).now())
        handoff = re.compile(rf"/users/{bob_id}/impersonate/\d+$")
        with page.expect_response(lambda r: handoff.search(r.url) is not None) as handed:
            page.get_by_role("button", name="Start impersonation").click()
        assert handed.value.status == 200
        assert handed.value.headers["cache-control"] == "no-store"
        expect(page).to_have_url(live_server.url(ACME_HOST, "/"))
        expect(page.get_by_role("region", name="Impersonation in progress")).to_contain_text(BOB_NAME)

        # The handoff page opened again (a reload, a copied address): it says it was handed over.
        page.goto(handed.value.url)
        expect(page.get_by_role("heading", name="Impersonation link already handed over")).to_be_visible()
        expect(page.locator('input[name="token"]')).to_have_count(0)
        page.screenshot(path=artifact_path("support-flow-handed-over"), full_page=True)
        page.get_by_role("link", name="Request a new impersonation").click()
        expect(page).to_have_url(live_server.url(CONSOLE_HOST, f"/users/{bob_id}#impersonate"))
