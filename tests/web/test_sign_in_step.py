"""Issue 11, item 5 (DESIGN I4): the half-way state of a console sign-in (password done, code next)
is used once. A copy of the cookie the password step left opens the code step no more once the
sign-in completed, locked for good, or timed out (SIGN_IN_STEP_SECONDS)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from impersonator.extensions import db
from impersonator.models import Staff
from impersonator.services.staff import sign_in
from tests.support.records import staff_row, staff_sessions
from tests.support.web import CONSOLE, csrf_token, flashes, sign_in_password, submit_code

COOKIE = "impersonator_console"
START_AGAIN = "Your sign-in took too long. Please start again."


def half_way_copy(client, member, clock) -> str:
    """Pass the password step in a fresh TOTP step; returns a copy of the cookie it left."""
    clock.next_totp_step()
    response = sign_in_password(client, member.email, member.password)
    assert urlsplit(response.headers["Location"]).path == "/sign-in/code"
    return client.get_cookie(COOKIE, domain="console.localhost").value


def replay(app, cookie: str, member, clock):
    """A browser holding only the copied cookie submits a good code of a fresh step, as an attacker
    with the copy and the code (or a shoulder-surfed one) would."""
    copy = app.test_client()
    copy.set_cookie(COOKIE, cookie, domain="console.localhost")
    # The copy's CSRF secret is the one of the copied session: any form of the console gives its token.
    token = csrf_token(copy.get("/sign-in", base_url=CONSOLE).text)
    clock.next_totp_step()
    response = copy.post("/sign-in/code", base_url=CONSOLE, data={"csrf_token": token, "code": member.code()})
    return copy, response


def assert_sent_back_to_sign_in(copy, response) -> None:
    assert response.status_code == 302
    assert urlsplit(response.headers["Location"]).path == "/sign-in"
    page = copy.get("/sign-in", base_url=CONSOLE)
    assert flashes(page) == [START_AGAIN]
    assert urlsplit(copy.get("/sign-in/code", base_url=CONSOLE).headers["Location"]).path == "/sign-in"
    assert urlsplit(copy.get("/", base_url=CONSOLE).headers["Location"]).path == "/sign-in"


def test_i4_a_copy_of_the_half_way_cookie_is_worthless_after_the_sign_in(app, client, make_staff, clock):
    member = make_staff("support")
    copied = half_way_copy(client, member, clock)
    assert submit_code(client, member.code()).status_code == 302
    assert client.get("/", base_url=CONSOLE).status_code == 200

    copy, response = replay(app, copied, member, clock)

    assert_sent_back_to_sign_in(copy, response)
    assert len(staff_sessions(app, member.id)) == 1  # the rightful sign-in's only


def test_i4_a_copy_of_the_half_way_cookie_is_worthless_after_enrolment(app, client, make_staff, clock):
    member = make_staff("support", enrolled=False)
    clock.next_totp_step()
    sign_in_password(client, member.email, member.password)
    copied = client.get_cookie(COOKIE, domain="console.localhost").value
    page = client.get("/sign-in/enrol", base_url=CONSOLE).text
    member.secret = re.search(r'<code id="totp-secret"[^>]*>([^<]*)</code>', page).group(1).replace(" ", "")
    assert submit_code(client, member.code(), path="/sign-in/enrol").status_code == 302

    copy, response = replay(app, copied, member, clock)

    assert_sent_back_to_sign_in(copy, response)
    assert len(staff_sessions(app, member.id)) == 1


def test_i4_a_copy_of_the_half_way_cookie_is_worthless_after_a_lockout(make_app, make_staff, clock):
    # A step window longer than the lock: only the lock can have ended the step.
    app = make_app(SIGN_IN_STEP_SECONDS=3600)
    client = app.test_client()
    member = make_staff("support")
    copied = half_way_copy(client, member, clock)
    for _ in range(5):
        clock.next_totp_step()
        assert submit_code(client, "000000" if member.code() != "000000" else "111111").status_code == 400
    clock.advance(minutes=16)  # the lock has lifted

    copy, response = replay(app, copied, member, clock)

    assert_sent_back_to_sign_in(copy, response)
    assert staff_sessions(app, member.id) == []


def test_i4_a_copy_of_the_half_way_cookie_is_worthless_after_the_time_out(app, client, make_staff, clock):
    member = make_staff("support")
    copied = half_way_copy(client, member, clock)
    clock.advance(seconds=app.config["SIGN_IN_STEP_SECONDS"] + 1)

    copy, response = replay(app, copied, member, clock)

    assert_sent_back_to_sign_in(copy, response)
    assert staff_sessions(app, member.id) == []


def test_i4_a_wrong_code_does_not_end_the_half_way_sign_in(app, client, make_staff, clock):
    member = make_staff("support")
    half_way_copy(client, member, clock)

    assert submit_code(client, "000000" if member.code() != "000000" else "111111").status_code == 400
    clock.next_totp_step()

    assert urlsplit(submit_code(client, member.code()).headers["Location"]).path == "/"


def test_i4_the_sign_in_step_ends_once_even_when_two_code_steps_race(app, make_staff, clock):
    """The pages check the step before the code; the service ends it with a conditional UPDATE, so a
    copy that passed that check at the same moment as the rightful browser still loses, and the
    TOTP step its code used is not spent."""
    member = make_staff("support")
    with app.app_context():
        step = sign_in.open_step(member.id, now=clock.now())
        staff = sign_in.pending_staff(step, now=clock.now())
        assert sign_in.pending_staff(step, now=clock.now()) is staff  # both pass the pages' check
        clock.next_totp_step()
        sign_in.complete_with_totp(staff, step, member.code(), ip=None, user_agent=None, now=clock.now())
        first_step = db.session.get(Staff, member.id).totp_last_step
        clock.next_totp_step()
        with pytest.raises(sign_in.SignInStepExpired):
            sign_in.complete_with_totp(
                db.session.get(Staff, member.id),
                step,
                member.code(),
                ip=None,
                user_agent=None,
                now=clock.now(),
            )
    assert len(staff_sessions(app, member.id)) == 1
    assert staff_row(app, member.id).totp_last_step == first_step
