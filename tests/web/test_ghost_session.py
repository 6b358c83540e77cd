"""The ghost session on the tenant domain (DESIGN I4, I7, I8; issue 3 item 6): visible on every page,
powerless in read-only mode, recorded request by request, bounded in time, checked on every request."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from impersonator.extensions import db
from impersonator.kit.ghost import ALWAYS_ALLOWED
from impersonator.models import Staff, User
from tests.support.impersonation import (
    BANNER,
    END_PATH,
    ENDED_TITLE,
    READ_ONLY_MESSAGE,
    REDEEM_PATH,
    copy_ghost_cookie,
    end_ghost,
    ghost_requests,
    launch,
    launch_and_redeem,
    redeem,
    the_impersonation,
)
from tests.support.records import audit_events
from tests.support.web import ACME, CONSOLE, GLOBEX, csrf_token, sign_in

SIGNED_IN_AT = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


@pytest.fixture
def staff_member(make_staff):
    return make_staff("support")


@pytest.fixture
def ghost(client, staff_member, alice, clock):
    """The signed-in support agent's browser, impersonating Alice read-only for 60 minutes."""
    sign_in(client, staff_member, clock)
    assert launch_and_redeem(client, staff_member, clock, alice).redeemed.status_code == 303
    return client


def ended_reasons(app) -> list[str]:
    return [event["details"]["reason"] for event in audit_events(app, "impersonation.ended")]


def is_ghost(client, host: str = ACME) -> bool:
    page = client.get("/", base_url=host)
    return page.status_code == 200 and BANNER in page.text


def get_rules(tenant_app) -> list[str]:
    """Every tenant page a browser can open without knowing an id."""
    return sorted(
        rule.rule
        for rule in tenant_app.url_map.iter_rules()
        if "GET" in rule.methods and not rule.arguments and rule.endpoint != "static"
    )


def post_rules(tenant_app) -> dict[str, str]:
    """endpoint -> a concrete address of every tenant POST rule (variable parts become 1)."""
    return {
        rule.endpoint: re.sub(r"<[^>]+>", "1", rule.rule)
        for rule in tenant_app.url_map.iter_rules()
        if "POST" in rule.methods
    }


# --- I7: visible ---------------------------------------------------------------------------------


def test_i7_the_banner_shows_who_whom_mode_time_left_and_end(ghost):
    page = ghost.get("/", base_url=ACME).text

    banner = page[page.index(BANNER) : page.index("</div>", page.index(BANNER))]
    assert "You are signed in as <strong>Alice</strong> (Acme)" in banner
    assert "by <strong>Support Person</strong>" in banner
    assert "read-only" in banner
    assert "60 min left" in banner
    assert f'action="{END_PATH}"' in banner and "End impersonation" in banner


# Pages that belong to the account's owner alone (DESIGN I7): the ghost gets 403, under the banner.
OWNER_ONLY_PAGES = {
    "/settings/support-access",
    "/settings/support-access/history",
    "/settings/support-access/requests",
}


def test_i7_the_banner_is_on_every_tenant_page(ghost, tenant_app):
    pages = get_rules(tenant_app)
    assert "/" in pages and set(pages) >= OWNER_ONLY_PAGES

    for path in pages:
        page = ghost.get(path, base_url=ACME, follow_redirects=True)
        expected = 403 if path in OWNER_ONLY_PAGES else 405 if path == REDEEM_PATH else 200
        assert page.status_code == expected, path
        assert BANNER in page.text, path


def test_i7_the_minutes_left_count_down(ghost, clock):
    clock.advance(minutes=42, seconds=30)

    assert "18 min left" in ghost.get("/", base_url=ACME).text


def test_i7_no_analytics_are_rendered_for_the_ghost(ghost):
    page = ghost.get("/", base_url=ACME).text

    assert "analytics.js" not in page and "data-analytics-user" not in page


# --- I7: powerless in read-only mode -----------------------------------------------------------


# Allowed to a read-only ghost, changing nothing in the account: End, a new handoff, and a reveal of a
# masked value with a reason (DESIGN §13; tests/web/test_masking.py).
NOT_CHANGES = {"impersonation.end", "impersonation.redeem", "masking.reveal"}


def test_i7_read_only_refuses_every_tenant_post_but_end_redeem_and_reveal(app, ghost, tenant_app, alice):
    token = csrf_token(ghost.get("/", base_url=ACME).text)
    with app.app_context():
        before = db.session.get(User, alice)
        account = (before.name, before.email, before.password_hash)
    guarded = {e: path for e, path in post_rules(tenant_app).items() if e not in NOT_CHANGES}
    assert guarded, "the tenant app has POST rules to guard"
    assert NOT_CHANGES == ALWAYS_ALLOWED  # the guard's own list: nothing else gets past read-only

    answers = {
        endpoint: ghost.post(path, base_url=ACME, data={"csrf_token": token, "name": "Changed by the ghost"})
        for endpoint, path in guarded.items()
    }

    assert {e: r.status_code for e, r in answers.items()} == dict.fromkeys(guarded, 403)
    assert all(READ_ONLY_MESSAGE in r.text for r in answers.values())
    with app.app_context():
        after = db.session.get(User, alice)
        assert (after.name, after.email, after.password_hash) == account
    assert is_ghost(ghost)  # refused, not thrown out


def test_i7_every_ghost_request_is_recorded_against_the_impersonation(app, ghost):
    token = csrf_token(ghost.get("/", base_url=ACME).text)
    ghost.get("/no/such/page", base_url=ACME)
    ghost.post("/sign-out", base_url=ACME, data={"csrf_token": token})

    ghost.post(END_PATH, base_url=ACME, data={"csrf_token": token})

    imp = the_impersonation(app)
    assert ghost_requests(app, imp.id) == [
        ("GET", "/", 200),
        ("GET", "/no/such/page", 404),
        ("POST", "/sign-out", 403),
        ("POST", END_PATH, 303),
    ]


def test_i7_the_customers_last_sign_in_is_untouched(app, client, staff_member, alice, clock):
    with app.app_context():
        db.session.get(User, alice).last_sign_in_at = SIGNED_IN_AT
        db.session.commit()
    sign_in(client, staff_member, clock)

    launch_and_redeem(client, staff_member, clock, alice)
    client.get("/", base_url=ACME)
    end_ghost(client)

    with app.app_context():
        assert db.session.get(User, alice).last_sign_in_at == SIGNED_IN_AT


# --- I4: bounded, never extended, checked on every request ---------------------------------------


def test_i4_the_session_ends_after_its_duration_audited_once(app, client, staff_member, alice, clock):
    sign_in(client, staff_member, clock)
    launch_and_redeem(client, staff_member, clock, alice, duration="30")
    second_tab = app.test_client()
    copy_ghost_cookie(client, second_tab)
    clock.advance(minutes=31)

    first, second = client.get("/", base_url=ACME), second_tab.get("/", base_url=ACME)

    for answer in (first, second):
        assert answer.status_code == 403
        assert ENDED_TITLE in answer.text and "Time limit reached." in answer.text
        assert BANNER not in answer.text
    assert ended_reasons(app) == ["expired"]
    assert the_impersonation(app).end_reason == "expired"
    assert client.get("/", base_url=ACME).status_code == 302  # the ghost cookie is gone


def test_i4_nothing_extends_a_session(app, ghost, clock):
    expires_at = the_impersonation(app).expires_at
    for _ in range(5):
        clock.advance(minutes=11)
        assert is_ghost(ghost)
        assert the_impersonation(app).expires_at == expires_at

    clock.advance(minutes=5)  # 60 minutes after redemption

    assert ENDED_TITLE in ghost.get("/", base_url=ACME).text
    assert ended_reasons(app) == ["expired"]


def test_i4_end_lands_on_a_confirmation_that_links_to_the_console_user_page(app, ghost, alice, staff_member):
    response = end_ghost(ghost)

    assert response.status_code == 303
    assert response.headers["Location"] == "/impersonation/ended"
    landed = ghost.get("/impersonation/ended", base_url=ACME)
    assert landed.status_code == 200 and ENDED_TITLE in landed.text
    assert f'href="{CONSOLE}/users/{alice}"' in landed.text
    assert not is_ghost(ghost)
    assert ghost.get("/", base_url=ACME).status_code == 302  # not even signed in as Alice
    [event] = audit_events(app, "impersonation.ended")
    assert event["details"]["reason"] == "staff_ended" and event["actor_id"] == staff_member.id
    assert ghost.get(f"/users/{alice}", base_url=CONSOLE).status_code == 200  # still on the console


def test_i4_end_without_a_ghost_session_changes_nothing(app, client, tenants):
    token = csrf_token(client.get("/sign-in", base_url=ACME).text)

    response = client.post(END_PATH, base_url=ACME, data={"csrf_token": token})

    assert response.status_code == 303
    assert audit_events(app, "impersonation.ended") == []


def test_i4_end_from_my_impersonations_ends_it_on_the_next_tenant_request(app, ghost):
    imp = the_impersonation(app)
    mine = ghost.get("/impersonations/mine", base_url=CONSOLE)
    assert f'action="/impersonations/{imp.id}/end"' in mine.text

    response = ghost.post(
        f"/impersonations/{imp.id}/end", base_url=CONSOLE, data={"csrf_token": csrf_token(mine.text)}
    )

    assert response.status_code == 303
    page = ghost.get("/", base_url=ACME)
    assert page.status_code == 403
    assert ENDED_TITLE in page.text and "Ended by you." in page.text
    assert ended_reasons(app) == ["staff_ended"]


def test_i4_another_staff_member_cannot_end_my_impersonation(app, ghost, make_staff, clock):
    imp = the_impersonation(app)
    other = app.test_client()
    sign_in(other, make_staff("support"), clock)
    token = csrf_token(other.get("/impersonations/mine", base_url=CONSOLE).text)

    response = other.post(f"/impersonations/{imp.id}/end", base_url=CONSOLE, data={"csrf_token": token})

    assert response.status_code == 404
    assert is_ghost(ghost)


def test_i4_a_disabled_staff_members_ghost_session_ends_on_the_next_request(app, ghost, runner, staff_member):
    assert runner.invoke(args=["staff", "disable", "--email", staff_member.email]).exit_code == 0

    page = ghost.get("/", base_url=ACME)

    assert page.status_code == 403
    assert ENDED_TITLE in page.text and "Ended: your access was withdrawn." in page.text
    assert ended_reasons(app) == ["staff_disabled"]


def test_i4_a_role_change_ends_a_full_mode_session_on_the_next_request(app, client, make_staff, alice, clock):
    member = make_staff("impersonator")
    sign_in(client, member, clock)
    launch_and_redeem(client, member, clock, alice, mode="full")
    assert is_ghost(client)
    with app.app_context():
        db.session.get(Staff, member.id).role = "support"  # support may not use full mode
        db.session.commit()

    assert ENDED_TITLE in client.get("/", base_url=ACME).text
    assert ended_reasons(app) == ["staff_disabled"]


def test_i4_a_deactivated_customer_ends_the_session(app, ghost, alice):
    with app.app_context():
        db.session.get(User, alice).active = False
        db.session.commit()

    assert ENDED_TITLE in ghost.get("/", base_url=ACME).text
    assert ended_reasons(app) == ["policy_changed"]


# --- I8: the ghost cookie stays on its host ------------------------------------------------------


def test_i8_the_ghost_cookie_from_acme_is_not_a_ghost_on_globex(app, ghost):
    thief = app.test_client()
    copy_ghost_cookie(ghost, thief, to_domain="globex.localhost")

    page = thief.get("/", base_url=GLOBEX)

    assert page.status_code == 302
    assert BANNER not in page.text
    with app.app_context():
        assert db.session.scalar(select(User.id).where(User.email == "gina@globex.example"))
    assert is_ghost(ghost)  # the real session on acme is untouched


def test_i8_the_ghost_cookie_copied_on_acme_is_the_same_session(app, ghost):
    """The control for the test above: the copy works on its own host."""
    tab = app.test_client()
    copy_ghost_cookie(ghost, tab)

    assert is_ghost(tab)


def test_i7_redeem_is_allowed_to_a_read_only_ghost(app, ghost, staff_member, alice, clock):
    """A second handoff from the console is not refused as a change to the account."""
    token = launch(ghost, staff_member, clock, alice)[1]

    response = redeem(ghost, token)

    assert response.status_code == 303
    assert READ_ONLY_MESSAGE not in response.text


def test_i4_a_new_handoff_is_not_blocked_by_the_ended_session_in_the_cookie(
    app, ghost, staff_member, alice, clock
):
    """Ended from the console, the old ghost cookie is still in the browser when the next handoff
    arrives: the new token must start the new session, not show the old one's end."""
    first = the_impersonation(app)
    mine = ghost.get("/impersonations/mine", base_url=CONSOLE)
    ghost.post(
        f"/impersonations/{first.id}/end", base_url=CONSOLE, data={"csrf_token": csrf_token(mine.text)}
    )
    token = launch(ghost, staff_member, clock, alice)[1]

    response = redeem(ghost, token)

    assert response.status_code == 303
    assert is_ghost(ghost)
    assert ended_reasons(app) == ["staff_ended"]


# --- the ghost cookie proves the session with a secret only the redeeming browser holds ----------


def tenant_cookie(app, payload: dict | None = None, *, key: str | None = None) -> str | dict:
    """Read the tenant cookie's payload, or sign `payload` as a SECRET_KEY holder could: with the
    face's own serializer (its derived key), or with `key` itself and the face's salt."""
    tenant_app = app.extensions["impersonator.tenant_app"]
    with tenant_app.test_request_context("/", base_url=ACME):
        serializer = tenant_app.session_interface.get_signing_serializer(tenant_app)
        if key is not None:
            serializer = URLSafeTimedSerializer(
                key, salt=serializer.salt, signer_kwargs=serializer.signer_kwargs
            )
        return serializer.dumps(payload) if payload is not None else serializer


def cookie_name(app) -> str:
    return app.extensions["impersonator.tenant_app"].config["SESSION_COOKIE_NAME"]


def ghost_state(app, client) -> dict:
    serializer = tenant_cookie(app)
    return serializer.loads(client.get_cookie(cookie_name(app), domain="acme.localhost").value)["ghost"]


def security_alerts(app) -> list[str]:
    return [event["details"]["kind"] for event in audit_events(app, "security.alert")]


@pytest.mark.parametrize("secret", [None, "a-guess-at-the-secret", ""], ids=["no secret", "wrong", "empty"])
def test_i4_a_ghost_cookie_forged_with_the_key_but_without_the_secret_is_nobodys(app, ghost, secret):
    live = ghost_state(app, ghost)
    forged = {"impersonation_id": live["impersonation_id"]} | (
        {"secret": secret} if secret is not None else {}
    )
    intruder = app.test_client()
    intruder.set_cookie(cookie_name(app), tenant_cookie(app, {"ghost": forged}), domain="acme.localhost")

    response = intruder.get("/", base_url=ACME)

    assert response.status_code == 302  # to the sign-in: not a ghost, not signed in
    assert response.headers["Location"].endswith("/sign-in")
    assert security_alerts(app) == ["ghost_cookie_forged"]
    assert the_impersonation(app).ended_at is None  # the real session goes on, untouched
    assert is_ghost(ghost)


def test_i4_the_cookie_key_is_derived_not_secret_key_itself(app, ghost):
    """Signed with SECRET_KEY and the right salt, even with the real secret inside: not a cookie."""
    live = ghost_state(app, ghost)
    intruder = app.test_client()
    value = tenant_cookie(app, {"ghost": live}, key=app.config["SECRET_KEY"])
    intruder.set_cookie(cookie_name(app), value, domain="acme.localhost")

    assert intruder.get("/", base_url=ACME).status_code == 302
    assert not is_ghost(intruder)


def test_i4_the_control_the_real_cookie_copied_elsewhere_is_the_ghost(app, ghost):
    """What the tests above refuse would otherwise work: the real cookie, secret and all."""
    other = app.test_client()
    other.set_cookie(
        cookie_name(app), tenant_cookie(app, {"ghost": ghost_state(app, ghost)}), domain="acme.localhost"
    )

    assert is_ghost(other)
    assert security_alerts(app) == []


def test_i7_an_error_page_after_a_rollback_still_names_the_tenant_and_shows_the_banner(app, ghost):
    """Cancelling a token sent in an address rolls the session back before the 405 page is drawn:
    the page still knows the site's name and the ghost, from plain values, without a query."""
    response = ghost.get(f"{REDEEM_PATH}?token=abc.def.ghi", base_url=ACME)

    assert response.status_code == 405
    assert BANNER in response.text
    assert '<a class="brand" href="/">Acme</a>' in response.text
    assert 'aria-label="Main"' in response.text  # the ghost's way back to the account's pages
