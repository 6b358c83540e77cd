"""Helpers that use the faces the way a browser does: Host headers, CSRF tokens read from pages."""

from __future__ import annotations

import re
from html import unescape

import pyotp
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

CONSOLE = "http://console.localhost"
ACME = "http://acme.localhost"
GLOBEX = "http://globex.localhost"

_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_FLASH = re.compile(r'<p class="flash flash-(\w+)"[^>]*>(.*?)</p>', re.S)


def csrf_token(html: str) -> str:
    """The CSRF token of the first form on the page."""
    match = _CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def flashes_with_category(page: TestResponse | str) -> list[tuple[str, str]]:
    """Each flash message on the page (a response or its HTML) with its category: ("info", text)."""
    markup = page if isinstance(page, str) else page.text
    return [(category, unescape(text.strip())) for category, text in _FLASH.findall(markup)]


def flashes(page: TestResponse | str) -> list[str]:
    """The flash messages on the page (a response or its HTML), as a person reads them."""
    return [text for _, text in flashes_with_category(page)]


def post_form(client: FlaskClient, base_url: str, page: str, action: str, data: dict, **kwargs):
    """GET `page`, read its CSRF token, POST `data` to `action` like a browser would."""
    page_response = client.get(page, base_url=base_url)
    return client.post(
        action, base_url=base_url, data={"csrf_token": csrf_token(page_response.text), **data}, **kwargs
    )


def from_address(client: FlaskClient, ip: str) -> FlaskClient:
    """Make the client's next requests come from `ip` (REMOTE_ADDR: no proxy is trusted in tests)."""
    client.environ_base["REMOTE_ADDR"] = ip
    return client


def sign_in_password(client: FlaskClient, email: str, password: str):
    return post_form(client, CONSOLE, "/sign-in", "/sign-in", {"email": email, "password": password})


def submit_code(client: FlaskClient, code: str, path: str = "/sign-in/code"):
    return post_form(client, CONSOLE, path, path, {"code": code})


def sign_in(client: FlaskClient, staff_account, clock) -> None:
    """Password + TOTP; moves the clock to a fresh 30 s step first so no code is a replay."""
    clock.next_totp_step()
    response = sign_in_password(client, staff_account.email, staff_account.password)
    assert response.status_code == 302, response.text
    assert response.headers["Location"].endswith("/sign-in/code")
    response = submit_code(client, pyotp.TOTP(staff_account.secret).now())
    assert response.status_code == 302, response.text


def sign_in_customer(client: FlaskClient, base_url: str, email: str, password: str):
    return post_form(client, base_url, "/sign-in", "/sign-in", {"email": email, "password": password})
