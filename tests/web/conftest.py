"""Fixtures of the web tests that walk every form: a bundle of what a case needs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.support.impersonation import minutes, opt_in, user_id
from tests.support.web import CONSOLE, post_form, sign_in


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
