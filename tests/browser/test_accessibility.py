"""axe-core on every distinct page of both faces (issue 13, WCAG 2.1 AA): signed out, as each staff
role, as a ghost in read-only and in full mode, as a customer, and on the error pages, at 1280 and at
390 px (the walk: tests/browser/crawl.py). No serious or critical violation anywhere; the totals per
face are printed (`pytest -s`) for the issue's note."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest
import time_machine
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from tests.browser.crawl import walk

pytestmark = pytest.mark.browser

BLOCKING = {"serious", "critical"}
# WCAG 2.1 A and AA, and axe's best practices (landmarks, one main, heading order) besides.
AXE_OPTIONS = {
    "resultTypes": ["violations"],
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]},
}


def test_every_page_of_every_face_has_no_serious_or_critical_axe_violation(live_server, browser):
    axe = Axe()
    problems: list[str] = []
    totals: Counter[str] = Counter()
    checked: Counter[str] = Counter()

    def run_axe(page: Page, label: str) -> None:
        face = "console" if label.startswith("console") else "tenant"
        checked[face] += 1
        for violation in axe.run(page, options=AXE_OPTIONS).response["violations"]:
            totals[f"{face} {violation['impact']}"] += len(violation["nodes"])
            if violation["impact"] in BLOCKING:
                for node in violation["nodes"]:
                    problems.append(f"{label}: {violation['id']} ({violation['impact']}) at {node['target']}")

    with time_machine.travel(datetime.now(UTC), tick=True) as traveller:
        crawl = walk(live_server, browser, traveller, [run_axe])

    print(f"\naxe: pages checked {dict(checked)}; by face and impact {dict(sorted(totals.items()))}")
    missing = crawl.completeness()
    assert not problems, f"{len(problems)} serious or critical axe violations:\n" + "\n".join(problems)
    assert not missing, "GET pages the walk never opened:\n" + "\n".join(missing)
    assert not crawl.broken, "server errors on the walk:\n" + "\n".join(crawl.broken)
