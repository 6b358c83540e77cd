"""Approvals in a real browser (issue 14; DESIGN §11): the support agent asks to impersonate Hank,
who approves each request himself; the request waits on its console page; Hank approves it on
Globex's Support requests page; the agent's page notices by itself, the agent starts with a fresh
code and lands in the ghost session. Two browser contexts: the customer's and the agent's."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pyotp
import pytest
import time_machine
from playwright.sync_api import Page, expect

from impersonator.services.demo import CUSTOMER_PASSWORD
from tests.browser.conftest import LiveServer, next_totp_step, seed_demo_staff, sign_in
from tests.support.browser import artifact_path
from tests.support.impersonation import the_impersonation, user_id
from tests.support.records import audit_events

pytestmark = pytest.mark.browser

GLOBEX_HOST = "globex.localhost"
HANK_EMAIL = "hank@globex.example"
HANK_NAME = "Hank Hill"
JUSTIFICATION = "Hank says the support playbook project will not open."


def customer_signs_in(page: Page, live_server: LiveServer) -> None:
    page.goto(live_server.url(GLOBEX_HOST, "/"))
    page.get_by_label("Email").fill(HANK_EMAIL)
    page.get_by_label("Password").fill(CUSTOMER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=f"Hello, {HANK_NAME}")).to_be_visible()


def test_the_agent_asks_the_customer_approves_on_globex_and_the_agent_starts(live_server, page, second_page):
    customer = page
    agent = second_page
    with time_machine.travel(datetime.now(UTC), tick=True) as traveller:
        agent.clock.install(time=datetime.now(UTC))
        support = seed_demo_staff(live_server)["support"]
        hank_id = user_id(live_server.app, HANK_EMAIL)

        # The agent asks: no token yet, the request's page says whom it waits for.
        next_totp_step(traveller, agent)
        sign_in(agent, live_server, support)
        agent.get_by_label("Find a user").fill("hank")
        agent.get_by_label("Find a user").press("Enter")
        agent.get_by_role("link", name=HANK_NAME).first.click()
        expect(agent.get_by_role("heading", name=HANK_NAME, exact=True)).to_be_visible()
        agent.get_by_label("Reason", exact=True).select_option("bug_investigation")
        agent.get_by_label("Justification").fill(JUSTIFICATION)
        next_totp_step(traveller, agent)
        agent.get_by_label("Authenticator code").fill(pyotp.TOTP(support.totp_secret).now())
        agent.get_by_role("button", name="Ask for approval").click()
        expect(agent).to_have_url(re.compile(r"/approvals/\d+$"))
        state = agent.locator("#approval-state")
        expect(state).to_contain_text("waiting for the customer")
        agent.screenshot(path=artifact_path("approval-waiting"), full_page=True)

        # Hank approves on Globex: Settings → Support access → Support requests.
        customer_signs_in(customer, live_server)
        customer.get_by_role("navigation", name="Main").get_by_role("link", name="Support access").click()
        expect(customer.locator("#support-needs")).to_contain_text("Support asks you before every access")
        customer.get_by_role("link", name="Support requests").click()
        request = customer.get_by_role("article", name=f"{support.name} asks to access your account")
        expect(request).to_contain_text("Bug investigation")
        expect(request).to_contain_text(JUSTIFICATION)
        customer.screenshot(path=artifact_path("approval-customer-request"), full_page=True)
        request.get_by_role("button", name="Approve").click()
        expect(customer.get_by_text("No request is waiting for you.")).to_be_visible()

        # The agent's page follows by itself (it polls every 5 s), then the agent starts.
        agent.clock.fast_forward(6_000)
        expect(state).to_contain_text("approved", timeout=20_000)
        next_totp_step(traveller, agent)
        agent.get_by_label("Authenticator code").fill(pyotp.TOTP(support.totp_secret).now())
        agent.get_by_role("button", name="Start impersonation").click()
        expect(agent).to_have_url(live_server.url(GLOBEX_HOST, "/"))
        banner = agent.get_by_role("region", name="Impersonation in progress")
        expect(banner).to_contain_text(HANK_NAME)
        agent.screenshot(path=artifact_path("approval-ghost"), full_page=True)

    imp = the_impersonation(live_server.app)
    assert (imp.user_id, imp.access_via, imp.reason_code) == (hank_id, "approval", "bug_investigation")
    [approved] = audit_events(live_server.app, "approval.approved")
    assert (approved["actor_type"], approved["actor_id"]) == ("customer", hank_id)
