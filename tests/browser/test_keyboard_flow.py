"""The support flow by keyboard alone (issue 13): the skip link, then search → user → form → start →
End → back to the console, with Tab, Enter and typing only (no clicks), and a focus ring that shows
on the dark top bar and on the ghost banner. Screenshots of the focused controls:
test-artifacts/keyboard-*.png."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pyotp
import pytest
import time_machine
from playwright.sync_api import Page, expect

from tests.browser.conftest import next_totp_step, seed_demo_staff, sign_in
from tests.support.browser import ACME_HOST, CONSOLE_HOST, artifact_path
from tests.support.impersonation import the_impersonation, user_id

pytestmark = pytest.mark.browser

ALICE_EMAIL, ALICE_NAME = "alice@acme.example", "Alice Anderson"
JUSTIFICATION = "Alice cannot see her projects; checking by keyboard what she sees."
FOCUS_ON_DARK = "rgb(253, 224, 71)"  # the ring's yellow on the top bar and the banner
FOCUSED_NAME = """() => {
  const e = document.activeElement;
  const label = e.labels && e.labels.length ? e.labels[0].innerText : "";
  return (e.getAttribute("aria-label") || label || e.innerText || e.value || "").trim();
}"""


def tab_to(page: Page, name: str, *, limit: int = 80) -> None:
    """Press Tab until the focused control's name starts with `name` (as a keyboard user does)."""
    seen = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED_NAME)
        if focused.startswith(name):
            return
        seen.append(focused)
    raise AssertionError(f"Tab never reached {name!r}; it went through {seen}")


def focus_ring(page: Page) -> tuple[str, str, str]:
    """The focused element's outline: (style, width, colour)."""
    return tuple(
        page.evaluate(
            "() => { const s = getComputedStyle(document.activeElement);"
            " return [s.outlineStyle, s.outlineWidth, s.outlineColor]; }"
        )
    )


def test_search_user_form_start_and_end_by_keyboard_alone(live_server, page):
    with time_machine.travel(datetime.now(UTC), tick=True) as traveller:
        agent = seed_demo_staff(live_server)["support"]
        alice = user_id(live_server.app, ALICE_EMAIL)
        next_totp_step(traveller)
        sign_in(page, live_server, agent)

        # The first Tab reaches the skip link, drawn on top; Enter moves on to the page's main content.
        # (My impersonations: the home page puts the caret in its search box.)
        page.goto(live_server.url(CONSOLE_HOST, "/impersonations/mine"))
        page.keyboard.press("Tab")
        skip = page.get_by_role("link", name="Skip to main content")
        expect(skip).to_be_focused()
        expect(skip).to_be_in_viewport()
        page.keyboard.press("Enter")
        expect(page.locator("main#main")).to_be_focused()

        # On the dark top bar, the ring is the strong yellow one.
        page.goto(live_server.url(CONSOLE_HOST, "/impersonations/mine"))
        tab_to(page, "Sign out")
        assert focus_ring(page) == ("solid", "3px", FOCUS_ON_DARK)
        page.screenshot(path=artifact_path("keyboard-sign-out-focused"))

        # Search, by the navigation's link.
        page.goto(live_server.url(CONSOLE_HOST, "/impersonations/mine"))
        tab_to(page, "Search")
        page.keyboard.press("Enter")
        expect(page).to_have_url(live_server.url(CONSOLE_HOST, "/search"))
        expect(page.get_by_label("Search users")).to_be_focused()  # the page puts the caret there
        page.keyboard.type("acme")
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(r"/search\?q=acme$"))

        tab_to(page, ALICE_NAME)
        page.keyboard.press("Enter")
        expect(page).to_have_url(live_server.url(CONSOLE_HOST, f"/users/{alice}"))

        # The form: justification, the next code, Start.
        tab_to(page, "Justification")
        page.keyboard.type(JUSTIFICATION)
        next_totp_step(traveller)  # the sign-in used this step's code
        tab_to(page, "Authenticator code")
        page.keyboard.type(pyotp.TOTP(agent.totp_secret).now())
        tab_to(page, "Start impersonation")
        page.keyboard.press("Enter")

        expect(page).to_have_url(live_server.url(ACME_HOST, "/"))
        banner = page.get_by_role("region", name="Impersonation in progress")
        expect(banner).to_contain_text(ALICE_NAME)

        # End, on the banner: reached by Tab, ringed in yellow on the purple, pressed with Enter.
        tab_to(page, "End impersonation")
        assert focus_ring(page) == ("solid", "3px", FOCUS_ON_DARK)
        banner.screenshot(path=artifact_path("keyboard-end-impersonation-focused"))
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Impersonation ended")).to_be_visible()
        tab_to(page, f"Back to {ALICE_NAME} on the console")
        page.keyboard.press("Enter")
        expect(page).to_have_url(live_server.url(CONSOLE_HOST, f"/users/{alice}"))
        expect(page.get_by_role("heading", name=ALICE_NAME, exact=True)).to_be_visible()

    imp = the_impersonation(live_server.app)
    assert (imp.user_id, imp.reason, imp.end_reason) == (alice, JUSTIFICATION, "staff_ended")
