"""The order of the security steps on every request: on the tenant face, resolve the tenant, then
the ghost guard, then CSRF, then sign-in; on the console, CSRF, then access. Pinned by reading the
order the factory registered, and by requests whose answer shows which step ran first."""

from __future__ import annotations

import pytest

from tests.support.impersonation import (
    READ_ONLY_MESSAGE,
    ghost_requests,
    launch_and_redeem,
    the_impersonation,
)
from tests.support.web import ACME, sign_in

CSRF_REFUSED = "This form has expired or was not sent from this site."


def step_names(face_app) -> list[str]:
    return [step.__name__ for step in face_app.before_request_funcs[None]]


def test_tenant_requests_resolve_the_tenant_then_guard_the_ghost_then_check_csrf_then_sign_in(tenant_app):
    assert step_names(tenant_app) == ["resolve_tenant", "guard", "csrf_protect", "enforce_sign_in"]
    assert tenant_app.before_request_funcs.keys() == {None}  # no blueprint adds a step of its own


def test_console_requests_check_csrf_then_access(app):
    assert step_names(app) == ["csrf_protect", "enforce_access"]
    # Only the JSON API adds a step of its own: its bearer-key check (console/api/, public to
    # enforce_access, exempt from CSRF), which runs for /api/v1/ alone.
    assert app.before_request_funcs.keys() == {None, "api"}


def test_an_unknown_host_is_a_404_before_the_csrf_check(client, tenants):
    response = client.post("/projects", base_url="http://nowhere.localhost")
    assert response.status_code == 404


def test_a_signed_out_post_without_csrf_is_refused_by_csrf_before_sign_in(client, tenants):
    assert client.get("/", base_url=ACME).status_code == 302  # sign-in's answer, for contrast
    response = client.post("/projects", base_url=ACME, data={"name": "Mallory"})
    assert response.status_code == 400
    assert CSRF_REFUSED in response.text


@pytest.fixture
def ghost(app, client, make_staff, alice, clock):
    """A support agent's browser, impersonating Alice read-only; returns the impersonation's id."""
    member = make_staff("support")
    sign_in(client, member, clock)
    assert launch_and_redeem(client, member, clock, alice).redeemed.status_code == 303
    return the_impersonation(app).id


def test_a_ghost_post_without_csrf_meets_the_ghost_guard_first_and_is_logged(app, client, ghost):
    response = client.post("/projects", base_url=ACME, data={"name": "Made by the ghost"})
    assert response.status_code == 403
    assert READ_ONLY_MESSAGE in response.text
    assert ("POST", "/projects", 403) in ghost_requests(app, ghost)
