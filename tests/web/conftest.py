"""Fixtures shared by the web tests: a bundle of what a form case needs, a customer, an agent, an
administrator's browser, and webhook receivers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from impersonator import extensions
from tests.conftest import migrate_to_head, missing_real_part
from tests.support.impersonation import minutes, opt_in, user_id
from tests.support.outage import BUSY_TIMEOUT_MS, LockedSqlite, StoppedPostgres
from tests.support.postgres import PostgresServer, PostgresUnavailable
from tests.support.staff_admin import admin_browser
from tests.support.web import CONSOLE, post_form, sign_in
from tests.support.webhook_receiver import HOOK, loopback_receiver


@dataclass
class Bed:
    """What a form case needs: the app, a browser-like client, staff factory and the clock."""

    app: object
    client: object
    make_staff: Callable
    clock: object


def password_step(bed: Bed, member) -> None:
    """Pass the password step of staff sign-in in a fresh TOTP step."""
    bed.clock.next_totp_step()
    response = post_form(
        bed.client, CONSOLE, "/sign-in", "/sign-in", {"email": member.email, "password": member.password}
    )
    assert response.status_code == 302


@pytest.fixture
def bed(app, client, make_staff, clock, tenants) -> Bed:
    return Bed(app, client, make_staff, clock)


@pytest.fixture
def alice(app, tenants, clock) -> int:
    """Acme's customer, opted in to support access for the next 8 hours."""
    uid = user_id(app, "alice@acme.example")
    opt_in(app, uid, clock.now() + minutes(8 * 60))
    return uid


@pytest.fixture
def agent(client, make_staff, clock):
    """A support agent, signed in on the console."""
    member = make_staff("support")
    sign_in(client, member, clock)
    return member


@pytest.fixture
def admin_account(make_staff):
    return make_staff("admin")


@pytest.fixture
def admin(app, admin_account, clock):
    """An administrator's browser, signed in on the console."""
    return admin_browser(app, admin_account, clock)


@pytest.fixture
def hook_url(httpserver) -> str:
    """The address of pytest-httpserver's webhook receiver."""
    return httpserver.url_for(HOOK)


@pytest.fixture
def receiver():
    """A receiver of our own on 127.0.0.1 that a test may stop and start again (same port)."""
    yield from loopback_receiver()


@pytest.fixture(params=["sqlite_locked", pytest.param("postgres_stopped", marks=pytest.mark.postgres)])
def outage(request, tmp_path, monkeypatch):
    """A database that is away: SQLite locked by another connection, or PostgreSQL stopped."""
    if request.param == "sqlite_locked":
        # Read by each new connection: the app below opens its first one after this.
        monkeypatch.setattr(extensions, "SQLITE_BUSY_TIMEOUT_MS", BUSY_TIMEOUT_MS)
        made = LockedSqlite(tmp_path / "outage.sqlite3")
    else:
        try:
            server = PostgresServer.start()
        except PostgresUnavailable as problem:
            missing_real_part(str(problem))
        made = StoppedPostgres(server)
    try:
        if isinstance(made, StoppedPostgres):
            made.server.create_database("outage")
        migrate_to_head(made.url)
        yield made
    finally:
        made.end()
