"""Staff sign-in in a real browser: first sign-in enrols an authenticator, later ones ask for a code
(DESIGN §2, I6). Driven by visible labels and roles, the way a person would."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import time_machine
from playwright.sync_api import Page, expect

from impersonator.extensions import db
from impersonator.services import secret_box
from impersonator.services.audit import Actor
from impersonator.services.staff import totp
from impersonator.services.staff.accounts import create_staff
from tests.browser.conftest import LiveServer
from tests.support.browser import CONSOLE_HOST, ConsoleLine, artifact_path
from tests.support.records import audit_actions, staff_row, staff_sessions

pytestmark = pytest.mark.browser

NAME = "Nora Newcomer"
EMAIL = "nora@staff.example"


def add_support_staff(live_server: LiveServer, *, enrolled_secret: str | None = None) -> tuple[int, str]:
    """A support agent: (id, initial password). With `enrolled_secret`, TOTP is already set up."""
    app = live_server.app
    with app.app_context():
        staff, password = create_staff(
            email=EMAIL, name=NAME, role="support", actor=Actor.system("test"), now=datetime.now(UTC)
        )
        if enrolled_secret:
            staff.totp_secret_encrypted = secret_box.encrypt(enrolled_secret)
            staff.totp_enrolled_at = datetime.now(UTC)
            db.session.commit()
        return staff.id, password


def sign_in_with_password(page: Page, password: str) -> None:
    expect(page.get_by_role("heading", name="Staff sign-in")).to_be_visible()
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Continue").click()


def test_new_staff_member_enrols_totp_signs_out_and_signs_in_again(live_server, page):
    # The server thread shares this process, so time-machine moves its clock as well as ours.
    with time_machine.travel(datetime.now(UTC), tick=True) as traveller:
        staff_id, password = add_support_staff(live_server)

        page.goto(live_server.url(CONSOLE_HOST, "/"))
        expect(page).to_have_url(re.compile(r"/sign-in\?next="))
        sign_in_with_password(page, password)

        expect(page).to_have_url(re.compile(r"/sign-in/enrol$"))
        expect(page.get_by_role("heading", name="Set up your authenticator")).to_be_visible()
        expect(page.locator("figure.qr svg")).to_be_visible()
        expect(page.get_by_text(EMAIL)).to_be_visible()
        secret = page.locator("#totp-secret").inner_text().replace(" ", "")
        assert re.fullmatch(r"[A-Z2-7]{32}", secret), secret
        page.screenshot(path=artifact_path("enrolment"), full_page=True)

        page.get_by_label("Authenticator code").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Confirm and sign in").click()
        expect(page.get_by_role("heading", name=f"Welcome, {NAME}")).to_be_visible()

        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("status")).to_have_text("You are signed out.")

        sign_in_with_password(page, password)
        expect(page).to_have_url(re.compile(r"/sign-in/code$"))
        expect(page.get_by_role("heading", name="Authenticator code")).to_be_visible()
        # The code of the step used to enrol is spent (replay protection): move to the next step.
        traveller.shift(timedelta(seconds=totp.STEP_SECONDS + 1))
        page.get_by_label("Authenticator code").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Sign in", exact=True).click()

        expect(page).to_have_url(live_server.url(CONSOLE_HOST, "/"))
        expect(page.get_by_role("heading", name=f"Welcome, {NAME}")).to_be_visible()
        expect(page.get_by_text("this browser")).to_be_visible()
        page.screenshot(path=artifact_path("home"), full_page=True)

    app = live_server.app
    assert staff_row(app, staff_id).totp_enrolled
    sessions = staff_sessions(app, staff_id)
    assert [s.end_reason for s in sessions] == ["signed_out", None]
    actions = [action for action, _ in audit_actions(app)]
    assert actions == [
        "staff.created",
        "staff.totp_enrolled",
        "staff.signed_in",
        "staff.signed_out",
        "staff.signed_in",
    ]


def csp_violations(lines: list[ConsoleLine]) -> list[str]:
    return [line.text for line in lines if "Content Security Policy" in line.text]


def test_wrong_code_is_refused_on_the_code_page_and_no_page_breaks_the_csp(live_server, page, console_log):
    # Control: this Chromium reports a CSP violation on the console, so "none seen" below means none.
    page.route(
        "http://csp-control.localhost/",
        lambda route: route.fulfill(
            content_type="text/html",
            headers={"Content-Security-Policy": "script-src 'self'"},
            body="<!doctype html><title>control</title><script>void 0</script>",
        ),
    )
    page.goto("http://csp-control.localhost/")
    expect(page).to_have_title("control")
    assert csp_violations(console_log), console_log
    console_log.clear()

    secret = totp.new_secret()
    _, password = add_support_staff(live_server, enrolled_secret=secret)

    response = page.goto(live_server.url(CONSOLE_HOST, "/sign-in"))
    assert response is not None
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator("script:not([src])")).to_have_count(0)
    sign_in_with_password(page, password)
    expect(page).to_have_url(re.compile(r"/sign-in/code$"))

    now = datetime.now(UTC)
    near = {totp.code_at(secret, now + timedelta(seconds=30 * k)) for k in range(-2, 3)}
    wrong = next(code for code in ("000000", "111111", "222222", "333333") if code not in near)
    page.get_by_label("Authenticator code").fill(wrong)
    page.get_by_role("button", name="Sign in", exact=True).click()

    expect(page.get_by_role("alert")).to_contain_text("That code is not right")
    expect(page).to_have_url(re.compile(r"/sign-in/code$"))
    expect(page.get_by_role("heading", name="Authenticator code")).to_be_visible()
    expect(page.get_by_label("Authenticator code")).to_be_editable()
    assert csp_violations(console_log) == []
