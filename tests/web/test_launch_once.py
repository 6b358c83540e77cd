"""Starting an impersonation is POST-redirect-GET, and the handoff page carries the token once (issue 13;
DESIGN I3: the token never in a URL, a log or a cookie; no referrer, no cache, posts to that tenant only)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.impersonation import (
    JUSTIFICATION,
    impersonations,
    open_user_page,
    redeem,
    the_impersonation,
    token_from_launch,
)
from tests.support.web import ACME, CONSOLE, csrf_token, sign_in

HANDED_OVER = "Impersonation link already handed over"


def post_request(client, member, clock, user_id: int):
    """The user page's form, posted without following the redirect."""
    page = open_user_page(client, user_id)
    clock.next_totp_step()
    data = {
        "csrf_token": csrf_token(page.text),
        "justification": JUSTIFICATION,
        "duration": "60",
        "mode": "read_only",
        "totp_code": member.code(),
    }
    return client.post(f"/users/{user_id}/impersonate", base_url=CONSOLE, data=data)


def test_the_post_redirects_and_carries_no_token(app, client, agent, alice, clock):
    posted = post_request(client, agent, clock, alice)

    assert posted.status_code == 303
    row = the_impersonation(app)
    assert posted.headers["Location"] == f"/users/{alice}/impersonate/{row.id}"
    assert 'name="token"' not in posted.text and row.handed_over_at is None
    assert "Set-Cookie" not in posted.headers or "token" not in posted.headers["Set-Cookie"]


def test_the_handoff_page_shows_the_token_once(app, client, agent, alice, clock, caplog):
    posted = post_request(client, agent, clock, alice)
    caplog.set_level(logging.DEBUG)

    first = client.get(posted.headers["Location"], base_url=CONSOLE)
    _redeem_url, token = token_from_launch(first)

    assert first.headers["Referrer-Policy"] == "no-referrer"
    assert first.headers["Cache-Control"] == "no-store"
    assert "form-action 'self' http://acme.localhost" in first.headers["Content-Security-Policy"]
    assert the_impersonation(app).handed_over_at == clock.now()
    assert token not in posted.headers["Location"] and token not in caplog.text
    again = client.get(posted.headers["Location"], base_url=CONSOLE)
    assert again.status_code == 410
    assert HANDED_OVER in again.text and 'name="token"' not in again.text
    assert f'href="/users/{alice}#impersonate"' in again.text  # request again from the user page
    assert again.headers["Cache-Control"] == "no-store"
    assert len(impersonations(app)) == 1  # a reload made nothing new
    # The one token still works, once.
    assert redeem(client, token).status_code == 303
    assert client.get(posted.headers["Location"], base_url=CONSOLE).status_code == 410


def test_only_the_requesting_staff_member_opens_the_handoff(app, client, agent, alice, clock, make_staff):
    posted = post_request(client, agent, clock, alice)
    location = posted.headers["Location"]
    other = app.test_client()
    sign_in(other, make_staff("support"), clock)

    assert other.get(location, base_url=CONSOLE).status_code == 404
    assert other.get(location.replace(f"/users/{alice}/", "/users/999/"), base_url=CONSOLE).status_code == 404
    assert the_impersonation(app).handed_over_at is None  # the owner can still open it
    token_from_launch(client.get(location, base_url=CONSOLE))


@pytest.mark.parametrize("role", ["security", "admin"])
def test_roles_that_cannot_impersonate_never_open_a_handoff(
    app, client, agent, alice, clock, make_staff, role
):
    location = post_request(client, agent, clock, alice).headers["Location"]
    other = app.test_client()
    sign_in(other, make_staff(role), clock)

    assert other.get(location, base_url=CONSOLE).status_code == 403


def test_a_handoff_opened_after_the_token_expiry_shows_no_token(app, client, agent, alice, clock):
    location = post_request(client, agent, clock, alice).headers["Location"]
    clock.advance(seconds=app.config["TOKEN_TTL_SECONDS"])

    late = client.get(location, base_url=CONSOLE)

    assert late.status_code == 410
    assert "Impersonation link expired" in late.text and 'name="token"' not in late.text


def test_a_token_signed_late_still_dies_at_the_stored_expiry(app, client, agent, alice, clock):
    """The token is signed at the GET; redemption keeps to the expiry stored at the POST."""
    location = post_request(client, agent, clock, alice).headers["Location"]
    clock.advance(seconds=app.config["TOKEN_TTL_SECONDS"] - 5)
    _, token = token_from_launch(client.get(location, base_url=CONSOLE))
    clock.advance(seconds=10)  # past the stored expiry, within the signature's own minute

    refused = redeem(client, token, host=ACME)

    assert refused.status_code != 303
    assert the_impersonation(app).redeemed_at is None


def test_two_tabs_at_once_hand_over_once(app, client, agent, alice, clock):
    location = post_request(client, agent, clock, alice).headers["Location"]

    def open_once(_):
        with app.test_client() as tab:
            for cookie in client._cookies.values():
                tab.set_cookie(cookie.key, cookie.value, domain=cookie.domain)
            return tab.get(location, base_url=CONSOLE).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = sorted(pool.map(open_once, range(4)))

    assert statuses == [200, 410, 410, 410]
