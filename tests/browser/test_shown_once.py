"""Issue 13 in a real browser: generating a support access code, then reloading the page, neither makes
a second code nor shows the first again (Post/Redirect/Get): the reload says it was shown once and how
to get a new one, and the browser never offers to send the form again."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from impersonator.extensions import db
from impersonator.models import AccessCode
from impersonator.services.demo import CUSTOMER_PASSWORD
from tests.browser.conftest import seed_demo_staff
from tests.support.browser import ACME_HOST, artifact_path

pytestmark = pytest.mark.browser

ALICE_EMAIL = "alice@acme.example"
CODE_SHAPE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$")


def access_codes(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AccessCode))


def test_a_generated_code_is_shown_once_and_a_reload_says_so(live_server, page):
    seed_demo_staff(live_server)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(live_server.url(ACME_HOST, "/"))
    page.get_by_label("Email").fill(ALICE_EMAIL)
    page.get_by_label("Password").fill(CUSTOMER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Support access").click()
    settings = live_server.url(ACME_HOST, "/settings/support-access")

    page.get_by_role("button", name=re.compile(r"^Generate a (new )?code$")).click()

    expect(page).to_have_url(settings)  # the redirect's GET: the code is in no address
    shown = page.locator("#access-code")
    expect(shown).to_have_text(CODE_SHAPE)
    code = shown.inner_text()
    expect(page.get_by_text("It will not be shown again")).to_be_visible()
    page.screenshot(path=artifact_path("support-access-code-shown-once"), full_page=True)
    assert access_codes(live_server.app) == 1

    page.reload()

    expect(page).to_have_url(settings)
    expect(page.locator("#access-code")).to_have_count(0)
    expect(page.locator("#code-shown-once")).to_contain_text("It was shown once, when you generated it")
    expect(page.locator("#code-shown-once")).to_contain_text("generate a new one")
    expect(page.get_by_role("button", name="Generate a new code")).to_be_visible()
    assert code not in page.content()
    assert access_codes(live_server.app) == 1  # the reload made no second code
    assert dialogs == []  # no "send the form again?" question
    page.screenshot(path=artifact_path("support-access-code-after-reload"), full_page=True)
