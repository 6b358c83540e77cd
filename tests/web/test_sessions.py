"""Console sessions live on the server: rotation, sign-out, disabling, idle and absolute expiry."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from tests.support.records import audit_events, staff_sessions
from tests.support.web import CONSOLE, csrf_token, flashes, sign_in, sign_in_password, submit_code

COOKIE = "impersonator_console"
ENDED = "Your session has ended. Please sign in again."


def cookie_value(client) -> str | None:
    cookie = client.get_cookie(COOKIE, domain="console.localhost")
    return cookie.value if cookie else None


def browser_with_cookie(app, value: str):
    """A fresh browser that holds only a copy of someone's console cookie."""
    other = app.test_client()
    other.set_cookie(COOKIE, value, domain="console.localhost")
    return other


def sent_to_sign_in(response) -> bool:
    return response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/sign-in"


def home(client):
    return client.get("/", base_url=CONSOLE)


def session_end_reasons(app) -> list[str]:
    return [event["details"]["reason"] for event in audit_events(app, "staff.session_ended")]


def post_button(client, page: str, action: str):
    """Press a POST button on `page`, with the CSRF token the page carries."""
    token = csrf_token(client.get(page, base_url=CONSOLE).text)
    return client.post(action, base_url=CONSOLE, data={"csrf_token": token})


# --- rotation --------------------------------------------------------------------------------


def test_session_cookie_rotates_at_each_sign_in_step(app, client, make_staff, clock):
    member = make_staff("support")
    clock.next_totp_step()
    client.get("/sign-in", base_url=CONSOLE)
    before = cookie_value(client)

    sign_in_password(client, member.email, member.password)
    half_way = cookie_value(client)
    submit_code(client, member.code())
    signed_in = cookie_value(client)

    assert before and half_way and signed_in
    assert len({before, half_way, signed_in}) == 3
    assert home(client).status_code == 200
    # The pre-sign-in cookie (which an attacker could have planted) does not open the console.
    assert sent_to_sign_in(home(browser_with_cookie(app, before)))


def test_nothing_of_the_session_before_sign_in_survives_it(app, client, make_staff, clock):
    member = make_staff("support")
    clock.next_totp_step()
    before_password = csrf_token(client.get("/sign-in", base_url=CONSOLE).text)
    sign_in_password(client, member.email, member.password)
    code = {"csrf_token": before_password, "code": member.code()}
    assert "This form has expired" in client.post("/sign-in/code", base_url=CONSOLE, data=code).text
    before_code = csrf_token(client.get("/sign-in/code", base_url=CONSOLE).text)
    submit_code(client, member.code())

    for stale in (before_password, before_code):
        response = client.post("/sign-out", base_url=CONSOLE, data={"csrf_token": stale})
        assert response.status_code == 400
    assert home(client).status_code == 200


def test_half_way_cookie_does_not_open_the_console(app, client, make_staff, clock):
    member = make_staff("support")
    sign_in_password(client, member.email, member.password)

    assert sent_to_sign_in(home(client))
    assert sent_to_sign_in(home(browser_with_cookie(app, cookie_value(client))))


# --- sign-out and disabling end sessions on the server (DESIGN I4) -----------------------------


def test_i4_copied_cookie_is_worthless_after_sign_out(app, client, make_staff, clock):
    member = make_staff("support")
    sign_in(client, member, clock)
    copied = cookie_value(client)
    assert home(browser_with_cookie(app, copied)).status_code == 200

    response = post_button(client, "/", "/sign-out")

    assert sent_to_sign_in(response)
    assert sent_to_sign_in(home(client))
    replay = browser_with_cookie(app, copied)
    assert sent_to_sign_in(home(replay))
    [row] = staff_sessions(app, member.id)
    assert row.end_reason == "signed_out"
    assert len(audit_events(app, "staff.signed_out")) == 1


def test_sign_out_without_csrf_token_is_refused(app, client, make_staff, clock):
    member = make_staff("support")
    sign_in(client, member, clock)

    response = client.post("/sign-out", base_url=CONSOLE)

    assert response.status_code == 400
    assert home(client).status_code == 200


def test_i4_disabling_on_the_admin_page_ends_sessions_at_the_next_request(app, client, make_staff, clock):
    admin, member = make_staff("admin"), make_staff("support")
    sign_in(client, admin, clock)
    browsers = [app.test_client(), app.test_client()]
    for browser in browsers:
        sign_in(browser, member, clock)
        assert home(browser).status_code == 200

    response = post_button(client, "/admin/staff/", f"/admin/staff/{member.id}/disable")

    assert response.status_code == 303
    for browser in browsers:
        assert sent_to_sign_in(home(browser))
    assert {row.end_reason for row in staff_sessions(app, member.id)} == {"staff_disabled"}
    [event] = audit_events(app, "staff.disabled")
    assert event["details"]["sessions_ended"] == 2
    assert home(client).status_code == 200  # the admin's own session is untouched


def test_i4_disabling_with_the_cli_ends_sessions_at_the_next_request(app, client, runner, make_staff, clock):
    member = make_staff("support")
    sign_in(client, member, clock)

    result = runner.invoke(args=["staff", "disable", "--email", member.email])

    assert result.exit_code == 0, result.output
    assert sent_to_sign_in(home(client))
    assert staff_sessions(app, member.id)[0].end_reason == "staff_disabled"


def test_a_support_member_cannot_disable_anyone(app, client, make_staff, clock):
    member, other = make_staff("support"), make_staff("support")
    sign_in(client, member, clock)

    response = post_button(client, "/", f"/admin/staff/{other.id}/disable")

    assert response.status_code == 403
    assert audit_events(app, "staff.disabled") == []


# --- idle and absolute expiry (DESIGN I4) ----------------------------------------------------


def test_i4_twenty_nine_idle_minutes_keep_the_session(app, client, make_staff, clock):
    member = make_staff("support")
    sign_in(client, member, clock)
    clock.advance(minutes=29)

    assert home(client).status_code == 200


def test_i4_thirty_one_idle_minutes_end_the_session(app, client, make_staff, clock):
    member = make_staff("support")
    sign_in(client, member, clock)
    clock.advance(minutes=31)

    response = home(client)

    assert sent_to_sign_in(response)
    page = client.get(response.headers["Location"], base_url=CONSOLE)
    assert ENDED in flashes(page)
    assert session_end_reasons(app) == ["idle_timeout"]
    assert staff_sessions(app, member.id)[0].end_reason == "idle_timeout"


def test_i4_activity_keeps_the_session_alive(app, client, make_staff, clock):
    member = make_staff("support")
    sign_in(client, member, clock)

    for _ in range(6):  # every 20 minutes for 2 hours
        clock.advance(minutes=20)
        assert home(client).status_code == 200
    assert session_end_reasons(app) == []


def test_i4_session_ends_after_twelve_hours_even_with_activity(app, client, make_staff, clock):
    member = make_staff("support")
    sign_in(client, member, clock)

    for _ in range(35):  # 11 h 40 min of activity, every 20 minutes
        clock.advance(minutes=20)
        assert home(client).status_code == 200
    clock.advance(minutes=20)

    assert sent_to_sign_in(home(client))
    assert session_end_reasons(app) == ["absolute_timeout"]


# --- cookies (DESIGN I8) ---------------------------------------------------------------------


def test_i8_session_cookie_is_not_remembered_and_is_http_only_and_lax(app, client, make_staff, clock):
    member = make_staff("support")
    clock.next_totp_step()
    password_step = sign_in_password(client, member.email, member.password)
    code_step = submit_code(client, member.code())

    for response in (password_step, code_step):
        [header] = response.headers.getlist("Set-Cookie")  # the session cookie only: no remember-me
        name, *attributes = [part.strip().lower() for part in header.split(";")]
        assert name.startswith(f"{COOKIE}=")
        assert "httponly" in attributes
        assert "samesite=lax" in attributes
        assert not [a for a in attributes if a.startswith(("expires", "max-age"))]


def test_i8_cookie_is_host_only_and_secure_outside_development(make_app):
    app = make_app(SESSION_COOKIE_SECURE=True)
    client = app.test_client()

    response = client.get("/sign-in", base_url="https://console.localhost")

    [header] = response.headers.getlist("Set-Cookie")
    attributes = [part.strip().lower() for part in header.split(";")]
    assert attributes[0].startswith("__host-impersonator_console=")
    assert {"secure", "httponly", "samesite=lax", "path=/"} <= set(attributes)
    assert not [a for a in attributes if a.startswith(("domain", "expires", "max-age"))]


# --- the home page lists where you are signed in ---------------------------------------------


def test_home_lists_live_sessions_and_marks_this_browser(app, make_staff, clock):
    member = make_staff("support")
    laptop, phone, old = app.test_client(), app.test_client(), app.test_client()
    laptop.environ_base["HTTP_USER_AGENT"] = "Laptop Browser"
    phone.environ_base["HTTP_USER_AGENT"] = "Phone Browser"
    old.environ_base["HTTP_USER_AGENT"] = "Signed Out Browser"
    for browser in (laptop, phone, old):
        sign_in(browser, member, clock)
    post_button(old, "/", "/sign-out")

    page = home(laptop).text

    rows = re.findall(r"<tr(?: class=\"current\")?>\s*<td>.*?</tr>", page, re.S)
    assert len(rows) == 2
    [current] = [row for row in rows if "this browser" in row]
    assert "Laptop Browser" in current
    assert "Phone Browser" in page
    assert "Signed Out Browser" not in page
