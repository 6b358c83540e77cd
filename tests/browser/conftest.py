"""The browser bed: the real app served on a loopback port, driven by Debian's headless Chromium.

The server runs in a thread of the test process, so time-machine moves its clock too. Every
`*.localhost` name resolves to 127.0.0.1 inside Chromium, so the Host header picks the face exactly as
in `make run`. A failing test leaves a screenshot in test-artifacts/<test name>.png.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect, sync_playwright
from werkzeug.serving import BaseWSGIServer, make_server

from impersonator import ROOT, create_app
from tests.conftest import _dispose, _empty_tables, config_for, missing_real_part

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


@dataclass
class LiveServer:
    app: Flask
    port: int

    def url(self, host: str, path: str = "/") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture
def live_server(sqlite_url) -> Iterator[LiveServer]:
    """The app on SQLite, served on 127.0.0.1 by a threaded Werkzeug server; tables emptied after."""
    app = create_app(config_for(sqlite_url))
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    # Links between hosts (the handoff to the tenant, End back to the console) carry this port.
    for face in (app, app.extensions["impersonator.tenant_app"]):
        face.config["PUBLIC_PORT"] = server.server_port
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(app, server.server_port)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        _empty_tables(app)
        _dispose(app)


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


@pytest.fixture
def page(browser, request) -> Iterator[Page]:
    """A fresh context (no cookies) and page per test; a screenshot of it if the test fails."""
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
                tab.screenshot(path=artifact_path(request.node.name), full_page=True)
            except Exception as problem:  # a missing screenshot must not hide the failure
                print(f"could not save a failure screenshot: {problem}")
        context.close()


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
