"""The browser bed: the real app served on a loopback port, driven by Debian's headless Chromium
(its fixtures: tests/support/browser.py).

The server runs in a thread of the test process, so time-machine moves its clock too. Every
`*.localhost` name resolves to 127.0.0.1 inside Chromium, so the Host header picks the face exactly as
in `make run`. A failing test leaves a screenshot in test-artifacts/<test name>.png.

The tests' shared steps are here too: seed the demo data (`seed_demo_staff`), move to a fresh TOTP step
(`next_totp_step`), and sign a demo staff member in on the console (`sign_in`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pyotp
import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from werkzeug.serving import BaseWSGIServer, make_server

from impersonator import create_app
from impersonator.services.demo import DemoStaff, seed_demo
from tests.conftest import Clock, _dispose, _empty_tables, config_for
from tests.support.browser import CONSOLE_HOST


@dataclass
class LiveServer:
    app: Flask
    port: int

    def url(self, host: str, path: str = "/") -> str:
        return f"http://{host}:{self.port}{path}"


DATABASE_URL_FIXTURES = {"sqlite": "sqlite_url", "postgresql": "postgres_url"}


@pytest.fixture
def live_server(request) -> Iterator[LiveServer]:
    """The app served on 127.0.0.1 by a threaded Werkzeug server; tables emptied after. On SQLite,
    unless a test asks for more with `@pytest.mark.parametrize("live_server", ["sqlite",
    "postgresql"], indirect=True)`: SQLite serialises every transaction, so races show on PostgreSQL."""
    database = getattr(request, "param", "sqlite")
    app = create_app(config_for(request.getfixturevalue(DATABASE_URL_FIXTURES[database])))
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


def seed_demo_staff(live_server: LiveServer) -> dict[str, DemoStaff]:
    """The demo tenants, customers and staff, as `make run` seeds them; returns the demo staff by role
    (`"support"`, `"security"`, ...), each with its email, name, password and TOTP secret."""
    with live_server.app.app_context():
        return {member.role: member for member in seed_demo(now=datetime.now(UTC), issuer="Impersonator")}


def next_totp_step(traveller, *pages: Page) -> None:
    """Move the server's clock (time-machine's `traveller`) to 5 s into the next 30 s TOTP step, and
    the clock of each page given (one that called `page.clock.install`) as far, so its countdowns agree."""
    moved = Clock(traveller).next_totp_step()
    for page in pages:
        page.clock.fast_forward(int(moved.total_seconds() * 1000))


def sign_in(page: Page, live_server: LiveServer, member: DemoStaff) -> None:
    """Sign `member` in on the console the way a person does: email and password, then the code."""
    page.goto(live_server.url(CONSOLE_HOST, "/"))
    expect(page.get_by_role("heading", name="Staff sign-in")).to_be_visible()
    page.get_by_label("Email").fill(member.email)
    page.get_by_label("Password").fill(member.password)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Authenticator code")).to_be_visible()
    page.get_by_label("Authenticator code").fill(pyotp.TOTP(member.totp_secret).now())
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name=f"Welcome, {member.name}")).to_be_visible()
