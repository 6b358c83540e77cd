"""No page is wider than the window (issue 13): at 1280 and at 390 px, every page of the walk
(tests/browser/crawl.py) fits, so nothing is reached only by scrolling the whole page sideways (a wide
table scrolls inside its own focusable box instead). Screenshots of the pages the issue named are kept in
test-artifacts/layout-*.png."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from playwright.sync_api import Page

from tests.browser.crawl import walk
from tests.support.browser import artifact_path

pytestmark = pytest.mark.browser

# label @ width → the screenshot's name (test-artifacts/layout-<name>.png)
SHOTS = {
    "console admin: audit_log.index @ 1280px": "audit-1280",
    "console admin: audit_log.index @ 390px": "audit-390",
    "console admin: staff_admin.index @ 1280px": "staff-1280",
    "console admin: outbox_admin.index @ 1280px": "outbox-1280",
    "console admin: home.index @ 390px": "console-nav-390",
    "console security: live_sessions.index @ 390px": "live-sessions-390",
    "tenant ghost full: home @ 390px": "ghost-home-390",
}

# The outermost elements that end right of the window (what to fix), as tag.class.
WIDEST = """() => {
  const out = [];
  const walk = (element) => {
    for (const child of element.children) {
      if (child.getBoundingClientRect().right > window.innerWidth + 0.5) {
        const before = out.length;
        walk(child);
        const name = child.tagName.toLowerCase() + (child.className ? "." + child.className : "");
        if (out.length === before) out.push(name);
      }
    }
  };
  walk(document.body);
  return out.slice(0, 5).join(", ");
}"""


def test_no_page_is_wider_than_the_window_at_1280_or_390_px(live_server, browser):
    too_wide: list[str] = []

    def measure(page: Page, label: str) -> None:
        scroll_width, inner_width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if scroll_width > inner_width:
            culprits = page.evaluate(WIDEST)
            too_wide.append(f"{label}: {scroll_width} px wide in a {inner_width} px window, by {culprits}")
        if label in SHOTS:
            page.screenshot(path=artifact_path(f"layout-{SHOTS[label]}"), full_page=True)

    with time_machine.travel(datetime.now(UTC), tick=True) as traveller:
        crawl = walk(live_server, browser, traveller, [measure])

    missing = crawl.completeness()
    assert not too_wide, "wider than the window:\n" + "\n".join(too_wide)
    assert not missing, "GET pages the walk never opened:\n" + "\n".join(missing)
    assert not crawl.broken, "server errors on the walk:\n" + "\n".join(crawl.broken)
