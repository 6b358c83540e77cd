"""The ghost in a real browser (issue 13): in read-only mode the forms are drawn disabled with the
reason, the banner's icon is a drawn SVG (no emoji, which is an empty box without an emoji font), the
countdown is no live region and speaks only at 5 and 1 minutes left, and the browser's favicon request
is answered and leaves no line in the request log. Screenshots at 1280 and 390 px."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pyotp
import pytest
import time_machine
from playwright.sync_api import expect

from tests.browser.conftest import next_totp_step, seed_demo_staff, sign_in
from tests.support.browser import ACME_HOST, CONSOLE_HOST, artifact_path
from tests.support.impersonation import ghost_requests, the_impersonation, user_id

pytestmark = pytest.mark.browser

ALICE_EMAIL, ALICE_NAME = "alice@acme.example", "Alice Anderson"
JUSTIFICATION = "Alice asks why her project list looks different; checking what she sees."
CHANGES_OFF = "Read-only impersonation: changes are off."
EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\ufe0f]")


def test_a_read_only_ghost_sees_disabled_forms_a_drawn_icon_and_a_quiet_countdown(live_server, page):
    with time_machine.travel(datetime.now(UTC), tick=True) as traveller:
        page.clock.install(time=datetime.now(UTC))
        agent = seed_demo_staff(live_server)["support"]
        next_totp_step(traveller, page)
        sign_in(page, live_server, agent)
        page.goto(live_server.url(CONSOLE_HOST, f"/users/{user_id(live_server.app, ALICE_EMAIL)}"))
        page.get_by_label("Justification").fill(JUSTIFICATION)
        next_totp_step(traveller, page)  # the sign-in used this step's code
        page.get_by_label("Authenticator code").fill(pyotp.TOTP(agent.totp_secret).now())
        page.get_by_role("button", name="Start impersonation").click()
        expect(page).to_have_url(live_server.url(ACME_HOST, "/"))

        # The banner: a landmark with a drawn, named icon, and no emoji anywhere in it.
        banner = page.get_by_role("region", name="Impersonation in progress")
        expect(banner).to_contain_text(ALICE_NAME)
        expect(banner).to_contain_text("read-only")
        icon = banner.locator("svg")
        expect(icon).to_have_count(1)
        expect(banner.get_by_role("img", name=re.compile("Ghost"))).to_be_visible()
        assert not EMOJI.search(banner.inner_text()), banner.inner_text()
        # The ticking minutes are no live region, and neither is anything around them.
        live = page.locator("[aria-live], [role=status], [role=alert], [role=log], [role=timer]")
        expect(live).to_have_count(1)
        expect(live).to_have_attribute("id", "ghost-announce")
        expect(live).to_have_text("")

        # Read-only: the forms are drawn disabled, with the reason; End stays a working button.
        expect(page.get_by_role("button", name="Create project")).to_be_disabled()
        expect(page.get_by_label("Project name")).to_be_disabled()
        projects = page.get_by_role("region", name="Projects")
        renames = projects.get_by_role("button", name="Rename")
        assert renames.count() > 0
        for index in range(renames.count()):
            expect(renames.nth(index)).to_be_disabled()
        expect(page.get_by_text(CHANGES_OFF).first).to_be_visible()
        expect(page.get_by_role("button", name="Create project")).to_have_accessible_description(CHANGES_OFF)
        expect(banner.get_by_role("button", name="End impersonation")).to_be_enabled()
        page.screenshot(path=artifact_path("ghost-read-only-home-1280"), full_page=True)

        page.get_by_role("link", name="Account").click()
        expect(page.get_by_role("button", name="Save name")).to_be_disabled()
        expect(page.get_by_label("Name", exact=True)).to_be_disabled()

        page.set_viewport_size({"width": 390, "height": 844})
        page.get_by_role("link", name="Projects").click()
        expect(page.get_by_role("button", name="Create project")).to_be_disabled()
        expect(banner.get_by_role("button", name="End impersonation")).to_be_visible()
        page.screenshot(path=artifact_path("ghost-read-only-home-390"), full_page=True)
        page.get_by_role("link", name="Account").click()
        expect(page.get_by_role("button", name="Save name")).to_be_disabled()
        page.screenshot(path=artifact_path("ghost-read-only-account-390"), full_page=True)

        # The countdown speaks once at 5 minutes left and once at 1 minute, not on every tick.
        minutes_left = page.locator("#ghost-minutes")
        announce = page.locator("#ghost-announce")
        page.clock.fast_forward("00:16")
        expect(announce).to_have_text("")
        page.clock.fast_forward("55:00")
        expect(minutes_left).to_have_text("5 min left")
        expect(announce).to_have_text("Impersonation: 5 minutes left.")
        page.clock.fast_forward("00:16")
        expect(announce).to_have_text("Impersonation: 5 minutes left.")
        page.clock.fast_forward("04:00")
        expect(minutes_left).to_have_text("1 min left")
        expect(announce).to_have_text("Impersonation: 1 minute left.")

        # The browser's own favicon request is answered, with the ghost's cookie, and not logged.
        status, content_type = page.evaluate(
            "fetch('/favicon.ico', {credentials: 'same-origin'})"
            ".then(r => [r.status, r.headers.get('content-type')])"
        )
        assert status == 200
        assert content_type.startswith("image/")
        svg_link = page.locator('link[rel="icon"]')
        expect(svg_link).to_have_attribute("href", "/static/favicon.svg")

    paths = [path for _, path, _ in ghost_requests(live_server.app, the_impersonation(live_server.app).id)]
    assert "/" in paths and "/account" in paths
    assert [path for path in paths if path == "/favicon.ico" or path.startswith("/static/")] == []
