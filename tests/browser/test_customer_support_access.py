"""The customer's side in a real browser (issue 4): a Globex customer (the tenant requires a code every
time) generates a support access code, a support agent uses it on the console to enter her account,
she sees the session in her access history and revokes it, and the ghost's next click shows
"Impersonation ended" (DESIGN §9, I4, I5). Two browser contexts: the customer's and the agent's."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pyotp
import pytest
import time_machine
from playwright.sync_api import Page, expect

from impersonator.services.demo import CUSTOMER_PASSWORD
from tests.browser.conftest import LiveServer, next_totp_step, seed_demo_staff, sign_in
from tests.support.browser import CONSOLE_HOST, artifact_path
from tests.support.impersonation import the_impersonation, user_id
from tests.support.records import audit_events

pytestmark = pytest.mark.browser

GLOBEX_HOST = "globex.localhost"
GINA_EMAIL = "gina@globex.example"
GINA_NAME = "Gina Garcia"
JUSTIFICATION = "Gina reports that the hiring plan project shows the wrong owner."


def customer_signs_in(page: Page, live_server: LiveServer) -> None:
    page.goto(live_server.url(GLOBEX_HOST, "/"))
    expect(page.get_by_role("heading", name="Sign in to Globex")).to_be_visible()
    page.get_by_label("Email").fill(GINA_EMAIL)
    page.get_by_label("Password").fill(CUSTOMER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=f"Hello, {GINA_NAME}")).to_be_visible()


def test_customer_generates_a_code_support_uses_it_and_the_customer_revokes_the_session(
    live_server, page, second_page
):
    customer = page
    agent = second_page
    with time_machine.travel(datetime.now(UTC), tick=True) as traveller:
        agent.clock.install(time=datetime.now(UTC))
        support = seed_demo_staff(live_server)["support"]
        gina_id = user_id(live_server.app, GINA_EMAIL)

        # The customer opens Settings → Support access and generates a code.
        customer_signs_in(customer, live_server)
        customer.get_by_role("navigation", name="Main").get_by_role("link", name="Support access").click()
        expect(customer.get_by_role("heading", name="Support access", exact=True)).to_be_visible()
        expect(customer.get_by_text("Your company requires a support access code every time")).to_be_visible()
        customer.get_by_role("button", name="Generate a code").click()
        shown = customer.locator("#access-code")
        expect(shown).to_have_text(re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$"))
        code = shown.inner_text()
        expect(customer.get_by_text("It will not be shown again")).to_be_visible()
        expect(customer.get_by_role("button", name="Revoke code")).to_be_visible()
        settings_shot = artifact_path("customer-support-access")
        customer.screenshot(path=settings_shot, full_page=True)

        # The agent uses it on the console (read out over the phone: typed in lower case).
        next_totp_step(traveller, agent)
        sign_in(agent, live_server, support)
        agent.get_by_label("Search users").fill("gina")
        agent.get_by_role("button", name="Search").click()
        agent.get_by_role("link", name=GINA_NAME).click()
        expect(agent.get_by_role("heading", name=GINA_NAME, exact=True)).to_be_visible()
        agent.get_by_label("Justification").fill(JUSTIFICATION)
        agent.get_by_label("Support access code").fill(code.lower())
        next_totp_step(traveller, agent)
        agent.get_by_label("Authenticator code").fill(pyotp.TOTP(support.totp_secret).now())
        agent.get_by_role("button", name="Start impersonation").click()
        expect(agent).to_have_url(live_server.url(GLOBEX_HOST, "/"))
        banner = agent.get_by_role("region", name="Impersonation in progress")
        expect(banner).to_contain_text(GINA_NAME)
        expect(banner).to_contain_text(support.name)

        # The customer sees the session in her access history and revokes it.
        customer.get_by_role("navigation", name="Main").get_by_role("link", name="Support access").click()
        expect(customer.get_by_text("A code is active until")).to_have_count(0)  # used: gone
        customer.get_by_role("link", name="access history").click()
        expect(customer.get_by_role("heading", name="Access history")).to_be_visible()
        session = customer.get_by_role("region", name=re.compile(support.name))
        expect(session).to_contain_text("in your account now")
        expect(session).to_contain_text(JUSTIFICATION)
        expect(session).to_contain_text("read-only (no changes)")
        expect(session).to_contain_text("1 page viewed, 0 changes made, 0 refused attempts")
        expect(session).not_to_contain_text(support.email)
        history_shot = artifact_path("customer-access-history")
        customer.screenshot(path=history_shot, full_page=True)
        session.get_by_role("button", name="Revoke now").click()
        expect(customer.get_by_text("their next click is refused")).to_be_visible()
        expect(session).to_contain_text("ended by you")
        expect(session.get_by_role("button", name="Revoke now")).to_have_count(0)
        customer.screenshot(path=artifact_path("customer-access-history-revoked"), full_page=True)

        # The ghost's next click is refused.
        agent.get_by_role("link", name="Projects").click()
        expect(agent.get_by_role("heading", name="Impersonation ended")).to_be_visible()
        expect(agent.get_by_text("Ended by the customer.")).to_be_visible()
        expect(agent.locator("#ghost-banner")).to_have_count(0)

        # The agent's console says who ended it.
        agent.goto(live_server.url(CONSOLE_HOST, "/impersonations/mine"))
        expect(agent.get_by_role("row", name=re.compile(GINA_NAME))).to_contain_text("ended by the customer")

    imp = the_impersonation(live_server.app)
    assert (imp.user_id, imp.access_via, imp.end_reason) == (gina_id, "code", "user_revoked")
    [ended] = audit_events(live_server.app, "impersonation.ended")
    assert (ended["actor_type"], ended["actor_id"]) == ("customer", gina_id)
    print(f"screenshots: {settings_shot} {history_shot}")
