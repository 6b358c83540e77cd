"""Debian's headless Chromium for every test that drives pages (tests/browser, tests/shipped): one
browser for the whole session (Playwright's sync API allows one per process), a fresh context per test,
and a screenshot in test-artifacts/<test name>.png when a test fails. Loaded by tests/conftest.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from impersonator import ROOT
from tests.conftest import missing_real_part

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--host-resolver-rules=MAP *.localhost 127.0.0.1",
]
ARTIFACTS = ROOT / "test-artifacts"
CONSOLE_HOST = "console.localhost"
ACME_HOST = "acme.localhost"
# Playwright waits this long (ms) for a page or an element before failing: generous for a slow CI box.
TIMEOUT_MS = 15_000
expect.set_options(timeout=TIMEOUT_MS)  # expect() has its own default (5 s), not the context's


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        missing_real_part("Debian's chromium is not installed")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item (rep_setup, rep_call, rep_teardown) for the fixtures."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def artifact_path(name: str) -> Path:
    """test-artifacts/<name>.png, created on demand; the name is made safe for a file system."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.png"


@contextmanager
def _tab(browser, request, screenshot_name: str) -> Iterator[Page]:
    """A fresh context (no cookies) and its page; a screenshot of it if the test fails."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    tab = context.new_page()
    try:
        yield tab
    finally:
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            try:
                tab.screenshot(path=artifact_path(screenshot_name), full_page=True)
            except Exception as problem:  # a missing screenshot must not hide the failure
                print(f"could not save a failure screenshot: {problem}")
        context.close()


@pytest.fixture
def page(browser, request) -> Iterator[Page]:
    """A fresh context (no cookies) and page per test; a screenshot of it if the test fails."""
    with _tab(browser, request, request.node.name) as tab:
        yield tab


@pytest.fixture
def second_page(browser, request) -> Iterator[Page]:
    """A second person's browser beside `page`: a context of its own, so no cookie is shared."""
    with _tab(browser, request, f"{request.node.name}-second") as tab:
        yield tab


@dataclass(frozen=True)
class ConsoleLine:
    type: str
    text: str


@pytest.fixture
def console_log(page) -> list[ConsoleLine]:
    """Everything the page writes to the browser console, CSP violations included."""
    lines: list[ConsoleLine] = []
    page.on("console", lambda message: lines.append(ConsoleLine(message.type, message.text)))
    return lines
