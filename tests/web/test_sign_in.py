"""Console sign-in: password, then TOTP or enrolment; generic failures, lockout, replay, `next=`."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

import pyotp
import pytest
from sqlalchemy.exc import OperationalError

from impersonator.extensions import db
from impersonator.models import Staff
from impersonator.services import audit
from impersonator.services.audit import Actor
from impersonator.services.staff import accounts, totp
from tests.support.records import audit_actions, audit_events, staff_row, staff_sessions
from tests.support.web import CONSOLE, csrf_token, flashes, sign_in, sign_in_password, submit_code

GENERIC_FAILURE = "Incorrect email or password."
_SECRET = re.compile(r'<code id="totp-secret"[^>]*>([^<]*)</code>')


def location_path(response) -> str:
    return urlsplit(response.headers["Location"]).path


def wrong_code(secret: str, clock) -> str:
    """Six digits that are neither the current nor the previous step's code."""
    valid = {
        totp.code_at(secret, clock.now()),
        pyotp.TOTP(secret).generate_otp(totp.step_at(clock.now()) - 1),
    }
    return next(code for code in ("000000", "111111", "222222") if code not in valid)


def disable(app, account, clock) -> None:
    with app.app_context():
        member = db.session.get(Staff, account.id)
        accounts.disable_staff(member, actor=Actor.system("test"), ip=None, now=clock.now())


def count(app, action: str) -> int:
    return len(audit_events(app, action))


# --- the happy paths -------------------------------------------------------------------------


def test_password_then_code_signs_in(app, client, make_staff, clock):
    member = make_staff("support")
    clock.next_totp_step()

    response = sign_in_password(client, member.email, member.password)
    assert response.status_code == 302
    assert location_path(response) == "/sign-in/code"

    response = submit_code(client, member.code())
    assert response.status_code == 302
    assert location_path(response) == "/"
    home = client.get("/", base_url=CONSOLE)
    assert home.status_code == 200
    assert "Welcome, Support Person" in home.text
    assert staff_row(app, member.id).last_sign_in_at == clock.now()


def test_i1_sign_in_is_audited(app, client, make_staff, clock):
    member = make_staff("support")
    sign_in(client, member, clock)

    [event] = audit_events(app, "staff.signed_in")
    assert event["actor_id"] == member.id
    assert event["details"] == {"method": "password+totp"}


def test_unenrolled_member_is_led_to_enrolment(app, client, make_staff, clock):
    member = make_staff("support", enrolled=False)

    response = sign_in_password(client, member.email, member.password)
    assert location_path(response) == "/sign-in/enrol"
    page = client.get("/sign-in/enrol", base_url=CONSOLE)

    assert page.status_code == 200
    assert "<svg" in page.text
    shown = _SECRET.search(page.text).group(1)
    assert re.fullmatch(r"[A-Z2-7]{4}( [A-Z2-7]{4})+", shown)
    # The code page is not a way round enrolment.
    assert location_path(client.get("/sign-in/code", base_url=CONSOLE)) == "/sign-in/enrol"


def test_enrolment_with_a_code_from_the_shown_secret_signs_in(app, client, make_staff, clock):
    member = make_staff("support", enrolled=False)
    sign_in_password(client, member.email, member.password)
    page = client.get("/sign-in/enrol", base_url=CONSOLE)
    secret = _SECRET.search(page.text).group(1).replace(" ", "")

    response = submit_code(client, pyotp.TOTP(secret).now(), path="/sign-in/enrol")

    assert response.status_code == 302
    assert location_path(response) == "/"
    assert client.get("/", base_url=CONSOLE).status_code == 200
    assert staff_row(app, member.id).totp_enrolled
    actions = [action for action, _ in audit_actions(app)]
    assert actions[-2:] == ["staff.totp_enrolled", "staff.signed_in"]
    assert audit_events(app, "staff.signed_in")[0]["details"] == {"method": "password+totp_enrolment"}


def test_wrong_enrolment_code_does_not_enrol(app, client, make_staff, clock):
    member = make_staff("support", enrolled=False)
    sign_in_password(client, member.email, member.password)
    page = client.get("/sign-in/enrol", base_url=CONSOLE)
    secret = _SECRET.search(page.text).group(1).replace(" ", "")

    response = submit_code(client, wrong_code(secret, clock), path="/sign-in/enrol")

    assert response.status_code == 400
    assert "That code is not right" in " ".join(flashes(response))
    assert _SECRET.search(response.text).group(1).replace(" ", "") == secret  # the same secret again
    assert not staff_row(app, member.id).totp_enrolled
    assert count(app, "staff.totp_enrolled") == 0
    assert staff_sessions(app, member.id) == []
    assert location_path(client.get("/", base_url=CONSOLE)) == "/sign-in"


# --- failures say nothing about who exists (DESIGN I11) ---------------------------------------


def test_i11_unknown_email_wrong_password_and_disabled_account_look_the_same(app, client, make_staff, clock):
    member = make_staff("support")
    disabled = make_staff("support")
    disable(app, disabled, clock)

    unknown = sign_in_password(client, "nobody@staff.example", "a long staff password")
    wrong = sign_in_password(client, member.email, "not the password")
    off = sign_in_password(client, disabled.email, disabled.password)

    assert flashes(unknown) == flashes(wrong) == flashes(off) == [GENERIC_FAILURE]
    assert unknown.status_code == wrong.status_code == off.status_code == 401
    reasons = [event["details"]["reason"] for event in audit_events(app, "staff.sign_in_failed")]
    assert reasons == ["unknown_email", "wrong_password", "staff_disabled"]


# --- lockout (DESIGN I6) ---------------------------------------------------------------------


# One address throttles the account there only; the account locks from everywhere only on failures
# from several addresses (issue 11 item 10, tests/web/test_staff_lockout.py).


def test_i6_five_wrong_passwords_throttle_the_account_from_that_address(app, client, make_staff, clock):
    member = make_staff("support")
    for _ in range(5):
        assert sign_in_password(client, member.email, "not the password").status_code == 401
    assert count(app, "staff.sign_in_failed") == 5
    [throttled] = audit_events(app, "staff.throttled")
    assert throttled["target_id"] == member.id

    response = sign_in_password(client, member.email, member.password)

    assert response.status_code == 429
    assert flashes(response) == ["Too many failed attempts. Try again after 12:16 UTC."]
    assert response.headers["Retry-After"] == str(15 * 60)
    assert count(app, "staff.throttled") == 1
    assert count(app, "staff.locked") == 0
    assert count(app, "staff.sign_in_failed") == 5  # the throttle was audited once, not each refusal
    assert staff_sessions(app, member.id) == []


def test_i6_an_unknown_email_is_throttled_the_same_way(app, client, clock):
    for _ in range(5):
        response = sign_in_password(client, "nobody@staff.example", "a guess")
        assert flashes(response) == [GENERIC_FAILURE]

    response = sign_in_password(client, "nobody@staff.example", "a guess")

    assert response.status_code == 429
    assert flashes(response) == ["Too many failed attempts. Try again after 12:16 UTC."]
    assert count(app, "staff.throttled") == 1


def test_i6_wrong_codes_count_toward_the_same_throttle(app, client, make_staff, clock):
    member = make_staff("support")
    clock.next_totp_step()
    for _ in range(4):
        sign_in_password(client, member.email, "not the password")
    sign_in_password(client, member.email, member.password)

    response = submit_code(client, wrong_code(member.secret, clock))
    assert response.status_code == 400
    assert count(app, "staff.throttled") == 1

    # The throttle ends this half-way sign-in (issue 11): back to the first step, which is throttled.
    assert location_path(client.get("/sign-in/code", base_url=CONSOLE)) == "/sign-in"
    response = sign_in_password(client, member.email, member.password)
    assert response.status_code == 429
    assert "Too many failed attempts" in " ".join(flashes(response))
    assert staff_sessions(app, member.id) == []


def test_i6_lock_lifts_after_fifteen_minutes(app, client, make_staff, clock):
    member = make_staff("support")
    for _ in range(5):
        sign_in_password(client, member.email, "not the password")
    clock.advance(minutes=14)
    assert sign_in_password(client, member.email, member.password).status_code == 429

    clock.advance(minutes=1)
    sign_in(client, member, clock)

    assert client.get("/", base_url=CONSOLE).status_code == 200


def test_i6_failures_older_than_the_window_do_not_count(app, client, make_staff, clock):
    member = make_staff("support")
    for _ in range(4):
        sign_in_password(client, member.email, "not the password")
    clock.advance(minutes=16)
    for _ in range(4):
        assert sign_in_password(client, member.email, "not the password").status_code == 401

    sign_in(client, member, clock)

    assert count(app, "staff.locked") == 0
    assert client.get("/", base_url=CONSOLE).status_code == 200


def test_i6_a_full_sign_in_clears_the_failure_count(app, client, make_staff, clock):
    member = make_staff("support")
    for _ in range(4):
        sign_in_password(client, member.email, "not the password")
    sign_in(client, member, clock)
    other_browser = app.test_client()

    for _ in range(4):
        assert sign_in_password(other_browser, member.email, "not the password").status_code == 401

    assert count(app, "staff.locked") == 0


def test_i6_five_failures_within_fifteen_minutes_lock_across_an_old_window(app, client, make_staff, clock):
    member = make_staff("support")
    sign_in_password(client, member.email, "not the password")  # opens a counting window
    clock.advance(minutes=14)
    for _ in range(3):
        sign_in_password(client, member.email, "not the password")
    clock.advance(minutes=2)  # the first failure is now outside the window; the next 5 are inside
    for _ in range(2):
        sign_in_password(client, member.email, "not the password")

    assert sign_in_password(client, member.email, member.password).status_code == 429


# --- TOTP rules (DESIGN I6) ------------------------------------------------------------------


def test_i6_a_code_used_to_sign_in_cannot_sign_in_again_in_the_same_step(app, client, make_staff, clock):
    member = make_staff("support")
    sign_in(client, member, clock)
    used = member.code()
    other_browser = app.test_client()

    sign_in_password(other_browser, member.email, member.password)
    response = submit_code(other_browser, used)

    assert response.status_code == 400
    assert "already used" in " ".join(flashes(response))
    assert audit_events(app, "staff.sign_in_failed")[-1]["details"]["reason"] == "totp_replayed"
    assert location_path(other_browser.get("/", base_url=CONSOLE)) == "/sign-in"
    assert len(staff_sessions(app, member.id)) == 1


@pytest.mark.parametrize("code", ["12345", "1234567", "12 456", "١٢٣٤٥٦", "abcdef"])
def test_i6_code_must_be_six_ascii_digits(app, client, make_staff, clock, code):
    member = make_staff("support")
    sign_in_password(client, member.email, member.password)

    response = submit_code(client, code)

    assert response.status_code == 400
    assert "Enter the 6-digit code" in " ".join(flashes(response))


def test_i6_half_way_state_expires_after_the_step_window(app, client, make_staff, clock):
    member = make_staff("support")
    clock.next_totp_step()
    sign_in_password(client, member.email, member.password)
    token = csrf_token(client.get("/sign-in/code", base_url=CONSOLE).text)
    clock.advance(minutes=6)

    response = client.post(
        "/sign-in/code", base_url=CONSOLE, data={"csrf_token": token, "code": member.code()}
    )

    assert response.status_code == 302
    assert location_path(response) == "/sign-in"
    page = client.get("/sign-in", base_url=CONSOLE)
    assert "Your sign-in took too long. Please start again." in " ".join(flashes(page))
    assert staff_sessions(app, member.id) == []
    assert location_path(client.get("/sign-in/code", base_url=CONSOLE)) == "/sign-in"


# --- audit or nothing (DESIGN I1) -------------------------------------------------------------


def broken_audit(*args, **kwargs):
    raise OperationalError("INSERT INTO audit_event", {}, Exception("disk I/O error"))


def test_i1_sign_in_without_audit_does_not_happen(app, client, make_staff, clock, monkeypatch):
    member = make_staff("support")
    clock.next_totp_step()
    sign_in_password(client, member.email, member.password)
    monkeypatch.setattr(audit, "record", broken_audit)

    response = submit_code(client, member.code())

    assert response.status_code == 503
    assert staff_sessions(app, member.id) == []
    assert staff_row(app, member.id).last_sign_in_at is None
    monkeypatch.undo()
    assert location_path(client.get("/", base_url=CONSOLE)) == "/sign-in"


def test_i1_enrolment_without_audit_does_not_happen(app, client, make_staff, clock, monkeypatch):
    member = make_staff("support", enrolled=False)
    sign_in_password(client, member.email, member.password)
    secret = _SECRET.search(client.get("/sign-in/enrol", base_url=CONSOLE).text).group(1).replace(" ", "")
    monkeypatch.setattr(audit, "record", broken_audit)

    response = submit_code(client, pyotp.TOTP(secret).now(), path="/sign-in/enrol")

    assert response.status_code == 503
    assert not staff_row(app, member.id).totp_enrolled
    assert staff_sessions(app, member.id) == []


# --- next= stays on this host (DESIGN I8) -----------------------------------------------------


def sign_in_from(client, path: str, member, clock):
    """Post the sign-in form to `path` (which may carry next=), then the code; the final response."""
    clock.next_totp_step()
    token = csrf_token(client.get("/sign-in", base_url=CONSOLE).text)
    response = client.post(
        path, base_url=CONSOLE, data={"csrf_token": token, "email": member.email, "password": member.password}
    )
    assert location_path(response) == "/sign-in/code"
    return submit_code(client, member.code())


def test_i8_next_returns_to_the_page_that_asked_for_sign_in(app, client, make_staff, clock):
    admin = make_staff("admin")
    sent = client.get("/admin/staff/", base_url=CONSOLE)
    assert sent.status_code == 302
    sign_in_page = client.get(sent.headers["Location"], base_url=CONSOLE)
    action = re.search(r'<form method="post" action="([^"]+)"', sign_in_page.text).group(1)

    response = sign_in_from(client, action.replace("&amp;", "&"), admin, clock)

    assert response.headers["Location"] == "/admin/staff/"


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example",
        "https://evil.example/x",
        "/\\evil.example",
        "/\x00//evil.example",
        "javascript:alert(1)",
    ],
)
def test_i8_next_never_leaves_the_host(app, client, make_staff, clock, target):
    member = make_staff("support")

    response = sign_in_from(client, f"/sign-in?next={quote(target)}", member, clock)

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
