"""A reveal in a real browser (DESIGN §13, issue 17): the ghost opens Billing, sees the card masked,
reveals it with a reason and sees the number; the customer then finds the reveal, with that reason,
in their access history."""

from __future__ import annotations

from datetime import UTC, datetime

import pyotp
import pytest
import time_machine
from playwright.sync_api import expect

from impersonator.services.demo import CUSTOMER_PASSWORD
from tests.browser.conftest import next_totp_step, seed_demo_staff, sign_in
from tests.support.browser import ACME_HOST, CONSOLE_HOST, artifact_path
from tests.support.impersonation import user_id

pytestmark = pytest.mark.browser

ALICE_EMAIL = "alice@acme.example"
CARD = "4242 4242 4242 4242"
JUSTIFICATION = "Alice asks which card her last invoice was charged to; checking billing."
REVEAL_REASON = "Alice asks which card was charged (ticket 4711)."


def test_a_ghost_reveals_the_card_with_a_reason_and_the_customer_sees_it(live_server, page, browser):
    with time_machine.travel(datetime.now(UTC), tick=True) as traveller:
        agent = seed_demo_staff(live_server)["support"]
        next_totp_step(traveller)
        sign_in(page, live_server, agent)
        page.goto(live_server.url(CONSOLE_HOST, f"/users/{user_id(live_server.app, ALICE_EMAIL)}"))
        page.get_by_label("Justification").fill(JUSTIFICATION)
        next_totp_step(traveller)  # the sign-in used this step's code
        page.get_by_label("Authenticator code").fill(pyotp.TOTP(agent.totp_secret).now())
        page.get_by_role("button", name="Start impersonation").click()
        expect(page).to_have_url(live_server.url(ACME_HOST, "/"))

        page.get_by_role("navigation", name="Main").get_by_role("link", name="Billing").click()
        expect(page.get_by_role("heading", name="Billing", exact=True)).to_be_visible()
        card = page.locator("#masked-payment-card")
        expect(card).to_contain_text("•••• 4242")
        assert CARD not in page.content()

        card.get_by_text("Reveal", exact=True).click()
        form = page.get_by_role("form", name="Reveal card number")
        form.get_by_label("Why do you need to see the card number?").fill(REVEAL_REASON)
        page.screenshot(path=artifact_path("ghost-billing-reveal-1280"), full_page=True)
        form.get_by_role("button", name="Reveal card number").click()

        expect(page.get_by_role("heading", name="Billing", exact=True)).to_be_visible()
        expect(page.locator("dl.billing")).to_contain_text(CARD)
        expect(page.get_by_text("Revealed one payment detail (card)")).to_be_visible()
        expect(page.locator("#masked-contact-billing_phone")).to_contain_text("••• ••• 0134")
        page.screenshot(path=artifact_path("ghost-billing-revealed-1280"), full_page=True)

        customer = browser.new_context().new_page()
        try:
            customer.goto(live_server.url(ACME_HOST, "/sign-in"))
            customer.get_by_label("Email").fill(ALICE_EMAIL)
            customer.get_by_label("Password").fill(CUSTOMER_PASSWORD)
            customer.get_by_role("button", name="Sign in").click()
            customer.goto(live_server.url(ACME_HOST, "/settings/support-access/history"))
            session = customer.locator(".support-session").first
            expect(session).to_contain_text("1 value revealed")
            expect(session.locator(".reveals")).to_contain_text("one payment detail (card)")
            expect(session.locator(".reveals")).to_contain_text(REVEAL_REASON)
        finally:
            customer.context.close()
