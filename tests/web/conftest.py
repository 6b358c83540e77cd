"""Fixtures of the web tests that walk every form: a bundle of what a case needs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.support.web import CONSOLE, post_form


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
