"""The impersonation form shows every problem at once, each at its field, and says when a code lapsed
while the form was open (issue 13; DESIGN I6: the refusals are audited and counted as before)."""

from __future__ import annotations

import re

from tests.support.impersonation import (
    impersonations,
    make_access_code,
    opt_in,
    request_impersonation,
    token_from_launch,
)
from tests.support.records import audit_events
from tests.support.web import sign_in

EXPIRED = "That code has expired — use the current one."


def field_error(html: str, field: str) -> str | None:
    """The message shown at `field`, checked to be wired to it (aria-invalid, aria-describedby)."""
    control = re.search(rf'<(?:input|textarea|select)[^>]*\bid="{field}"[^>]*>', html)
    assert control, f"no control {field}"
    error = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', html)
    if error is None:
        assert 'aria-invalid="true"' not in control.group(0)
        return None
    assert 'aria-invalid="true"' in control.group(0)
    assert f'aria-describedby="{field}-error"' in control.group(0)
    return error.group(1)


def summary(html: str) -> list[str]:
    block = re.search(r'<div class="error-summary" role="alert".*?</ul>', html, re.S)
    assert block, "no error summary"
    return [
        re.sub(r"<[^>]+>", "", item).strip() for item in re.findall(r"<li>(.*?)</li>", block.group(0), re.S)
    ]


def denials(app) -> list[str]:
    return [event["details"]["reason"] for event in audit_events(app, "impersonation.denied")]


def test_an_empty_form_names_every_problem_at_its_field(app, client, agent, alice, clock):
    opt_in(app, alice, None)  # the page asks for the customer's code

    response = request_impersonation(client, agent, clock, alice, justification="", totp_code="")

    assert response.status_code == 400
    html = response.text
    assert field_error(html, "justification") == "Justification is required."
    assert (
        field_error(html, "access_code")
        == "This user has not opted in: ask them for their support access code."
    )
    assert field_error(html, "totp_code") == "Enter the 6-digit code from your authenticator app."
    assert field_error(html, "ticket") is None and field_error(html, "duration") is None
    assert summary(html) == [
        "Justification is required.",
        "This user has not opted in: ask them for their support access code.",
        "Enter the 6-digit code from your authenticator app.",
    ]
    assert 'href="#justification"' in html and 'href="#totp_code"' in html
    assert 'class="flash flash-error"' not in html  # no banner: the summary and the fields say it
    # One request, one audited refusal: the first problem, as before.
    assert denials(app) == ["required"] and impersonations(app) == []


def test_a_short_justification_and_a_malformed_code_show_together(app, client, agent, alice, clock):
    opt_in(app, alice, None)

    response = request_impersonation(
        client, agent, clock, alice, justification="too short", access_code="ABCD", totp_code="12ab56"
    )

    html = response.text
    assert field_error(html, "justification") == "Justification must be at least 20 characters."
    assert field_error(html, "access_code") == "A support access code looks like ABCD-EF12."
    assert field_error(html, "totp_code") == "Enter the 6-digit code from your authenticator app."
    assert "This request has 3 problems" in html
    assert denials(app) == ["justification_too_short"]


def test_an_opted_in_user_is_not_asked_for_a_code(app, client, agent, alice, clock):
    response = request_impersonation(client, agent, clock, alice, justification="x")

    assert 'id="access_code"' not in response.text
    assert summary(response.text) == ["Justification must be at least 20 characters."]


def test_a_wrong_totp_from_the_service_sits_at_its_field(app, client, agent, alice, clock):
    response = request_impersonation(client, agent, clock, alice, totp_code="000000")

    assert response.status_code == 400
    assert field_error(response.text, "totp_code") == "That code is not right. Check your authenticator app."
    assert field_error(response.text, "justification") is None
    assert denials(app) == ["totp_wrong"]


def test_a_policy_refusal_without_a_field_is_in_the_summary(app, client, make_staff, alice, clock):
    member = make_staff("support")
    sign_in(client, member, clock)

    response = request_impersonation(client, member, clock, alice, mode="full")

    assert response.status_code == 403
    assert summary(response.text) == ["Your role may not impersonate in this mode."]
    assert denials(app) == ["mode_not_allowed"]


def test_a_code_that_lapsed_while_the_form_was_open_says_so(app, client, agent, alice, clock):
    opt_in(app, alice, None)
    code = make_access_code(app, alice)
    clock.advance(minutes=app.config["ACCESS_CODE_TTL_MINUTES"])  # the form sat open
    sign_in(client, agent, clock)  # the console session timed out meanwhile

    response = request_impersonation(client, agent, clock, alice, access_code=code)

    assert response.status_code == 403
    assert field_error(response.text, "access_code") == EXPIRED
    assert denials(app) == ["access_code_expired"]
    # A code that was never this user's is still a wrong code, in other words.
    wrong = request_impersonation(client, agent, clock, alice, access_code="ZZZZ-ZZZZ")
    assert "support access code is not valid" in field_error(wrong.text, "access_code")
    assert EXPIRED not in wrong.text
    # The current code works.
    token_from_launch(
        request_impersonation(client, agent, clock, alice, access_code=make_access_code(app, alice))
    )


def test_a_replaced_code_is_wrong_not_expired(app, client, agent, alice, clock):
    opt_in(app, alice, None)
    old = make_access_code(app, alice)
    make_access_code(app, alice)
    clock.advance(minutes=app.config["ACCESS_CODE_TTL_MINUTES"])
    sign_in(client, agent, clock)

    response = request_impersonation(client, agent, clock, alice, access_code=old)

    assert denials(app) == ["access_code_wrong"] and EXPIRED not in response.text


def test_lapsed_codes_count_toward_the_lock_like_wrong_ones(app, client, agent, alice, clock):
    opt_in(app, alice, None)
    limit = app.config["ACCESS_CODE_MAX_FAILURES"]
    code = make_access_code(app, alice)
    clock.advance(minutes=app.config["ACCESS_CODE_TTL_MINUTES"])
    sign_in(client, agent, clock)

    for _ in range(limit):
        request_impersonation(client, agent, clock, alice, access_code=code)
    fresh = make_access_code(app, alice)
    locked = request_impersonation(client, agent, clock, alice, access_code=fresh)

    assert denials(app) == ["access_code_expired"] * limit + ["access_code_locked"]
    assert locked.status_code == 429
    assert "Too many failed attempts" in field_error(locked.text, "access_code")
    assert len(audit_events(app, "access_code.locked")) == 1
    assert impersonations(app) == []
