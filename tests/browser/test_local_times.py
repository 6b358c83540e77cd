"""Console times in the viewer's own time zone (issue 13): static/js/local-times.js rewrites each
server-written UTC `<time>` to the browser's zone in the same style, keeps UTC on hover, and says
which zone the page is in. Kolkata (UTC+05:30) so no whole-hour mistake passes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import seed_demo_staff, sign_in
from tests.support.browser import CONSOLE_HOST, TIMEOUT_MS

pytestmark = pytest.mark.browser


def test_times_show_in_the_browsers_zone_with_utc_on_hover(live_server, browser: Browser, console_log):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="Asia/Kolkata")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        admin = seed_demo_staff(live_server)["admin"]
        sign_in(page, live_server, admin)
        page.goto(live_server.url(CONSOLE_HOST, "/audit/"))
        # (ICU may still call it by its older name.)
        note = re.compile(r"Times are in your time zone \(Asia/(Kolkata|Calcutta)\)\.")
        expect(page.get_by_text(note)).to_be_visible()
        first = page.locator("table.audit-events time").first
        utc = datetime.fromisoformat(first.get_attribute("datetime").replace("Z", "+00:00"))
        local = (utc + timedelta(hours=5, minutes=30)).strftime("%Y-%m-%d %H:%M:%S")
        expect(first).to_have_text(local)
        expect(first).to_have_attribute("title", utc.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))
    finally:
        context.close()
