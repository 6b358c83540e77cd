"""The customer's side in web tests: sign in on a tenant domain, use the Support access page and the
access history the way a browser does (CSRF tokens read from the page), and put a ghost in the
account from another browser."""

from __future__ import annotations

import re

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.impersonation import launch, redeem
from tests.support.web import ACME, csrf_token, sign_in, sign_in_customer

SETTINGS = "/settings/support-access"
HISTORY = f"{SETTINGS}/history"
CUSTOMER_PASSWORD = "customer password"
NEW_CODE = re.compile(r'<p class="access-code" id="access-code">([0-9A-Z]{4}-[0-9A-Z]{4})</p>')


def sign_in_as(client: FlaskClient, email: str, host: str = ACME) -> None:
    """A customer signs in on their tenant's domain."""
    response = sign_in_customer(client, host, email, CUSTOMER_PASSWORD)
    assert response.status_code == 303, response.text


def settings_post(
    client: FlaskClient, path: str, data: dict | None = None, *, host: str = ACME, page: str = SETTINGS
) -> TestResponse:
    """POST one of the page's forms (`path` under /settings/support-access) with the page's token."""
    token = csrf_token(client.get(page, base_url=host).text)
    return client.post(f"{SETTINGS}{path}", base_url=host, data={"csrf_token": token, **(data or {})})


def generate_code(client: FlaskClient, host: str = ACME) -> str:
    """Press *Generate a code* and read the code the page it redirects to shows once."""
    response = settings_post(client, "/code", host=host)
    assert response.status_code == 303, response.text
    shown = client.get(response.headers["Location"], base_url=host)
    assert shown.status_code == 200, shown.text
    match = NEW_CODE.search(shown.text)
    assert match, "no code on the page"
    return match.group(1)


def revoke_session(client: FlaskClient, impersonation_id: int, host: str = ACME) -> TestResponse:
    """Press *Revoke now* on the access history."""
    return settings_post(client, f"/history/{impersonation_id}/revoke", host=host, page=HISTORY)


def staff_browser(app, member, clock) -> FlaskClient:
    """A second browser, signed in on the console as `member`."""
    client = app.test_client()
    sign_in(client, member, clock)
    return client


def ghost_in(
    app, member, clock, user_id: int, *, mode: str = "read_only", host: str = ACME, **fields
) -> FlaskClient:
    """A staff member's browser, impersonating the user on `host` (the user must be opted in, or
    `access_code` given)."""
    client = staff_browser(app, member, clock)
    _, token = launch(client, member, clock, user_id, mode=mode, **fields)
    redeemed = redeem(client, token, host)
    assert redeemed.status_code == 303, redeemed.text
    return client
