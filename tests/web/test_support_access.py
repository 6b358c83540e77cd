"""Settings → Support access on the tenant face (DESIGN §9, I5, I7, I11; issue 4): opt-in periods,
opt-out, support access codes used from the console, the five-wrong-codes lock with its mail and
security event, the tenant's policy, the access-notice choice, and the ghost refused everything."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from impersonator.extensions import db
from impersonator.models import AccessCode, AuditEvent, Impersonation, Notification, OutboxMessage, User
from impersonator.services.consent import access_codes
from impersonator.services.delivery.mail import Mail
from tests.support.customer import (
    HISTORY,
    NEW_CODE,
    SETTINGS,
    generate_code,
    ghost_in,
    settings_post,
    sign_in_as,
    staff_browser,
)
from tests.support.impersonation import (
    BANNER,
    COOKIE,
    READ_ONLY_MESSAGE,
    impersonations,
    minutes,
    opt_in,
    request_impersonation,
    token_from_launch,
    update_tenant,
    user_id,
)
from tests.support.records import audit_events
from tests.support.web import ACME, GLOBEX, csrf_token

GHOST_REFUSAL = "Support staff cannot use this page while impersonating"
NOT_OPTED_IN = "This user has not opted in"
CODE_NOT_VALID = "That support access code is not valid"


@pytest.fixture
def alice_id(app, tenants) -> int:
    return user_id(app, "alice@acme.example")


@pytest.fixture
def customer(app, alice_id):
    """Alice's browser, signed in on Acme."""
    client = app.test_client()
    sign_in_as(client, "alice@acme.example")
    return client


@pytest.fixture
def support(app, make_staff, clock):
    """A support agent's browser on the console, and the agent."""
    member = make_staff("support")
    return staff_browser(app, member, clock), member


def ask(support, clock, user: int, **fields):
    """The agent asks to impersonate `user` from the console's user page."""
    client, member = support
    return request_impersonation(client, member, clock, user, **fields)


def signed_in_again(app, support, clock):
    """The agent's console session has gone idle while the clock moved: a fresh sign-in."""
    return staff_browser(app, support[1], clock), support[1]


def user_row(app, uid: int) -> User:
    with app.app_context():
        row = db.session.get(User, uid)
        db.session.expunge(row)
        return row


def rows(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def actions(app, prefix: str) -> list[str]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(AuditEvent.action).where(AuditEvent.action.like(f"{prefix}%")).order_by(AuditEvent.id)
            )
        )


def mails_to(app, address: str) -> list[tuple[str, Mail]]:
    """(event type, message) of every mail queued for `address`."""
    with app.app_context():
        queued = db.session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.kind == "mail", OutboxMessage.destination == address)
            .order_by(OutboxMessage.id)
        )
        return [(m.event_type, Mail.from_json(m.payload)) for m in queued]


# --- the page -----------------------------------------------------------------------------------


def test_the_page_needs_a_signed_in_customer(client, tenants):
    for path in (SETTINGS, HISTORY):
        response = client.get(path, base_url=ACME)
        assert response.status_code == 302
        assert response.headers["Location"].endswith("/sign-in")


def test_the_customer_finds_the_page_in_the_navigation_and_sees_what_support_needs(customer):
    home = customer.get("/", base_url=ACME)
    assert f'href="{SETTINGS}">Support access</a>' in home.text

    page = customer.get(SETTINGS, base_url=ACME)

    assert page.status_code == 200
    assert '<h1 id="support-access-title">Support access</h1>' in page.text
    assert "only with a support access code you generate here" in page.text
    assert "You have no active code." in page.text
    assert "Support access without a code is off." in page.text
    for label in ("8 hours", "24 hours", "7 days", "30 days"):
        assert label in page.text
    assert 'name="notify_on_access" type="checkbox" value="y"' in page.text and "checked" in page.text
    assert f'href="{HISTORY}"' in page.text


# --- opt-in and opt-out -------------------------------------------------------------------------


def test_opt_in_lets_support_in_without_a_code_until_it_lapses(app, customer, support, clock, alice_id):
    response = settings_post(customer, "/opt-in", {"period": "8h"})

    assert response.status_code == 303 and response.headers["Location"].endswith(SETTINGS)
    until = clock.now() + minutes(8 * 60)
    page = customer.get(SETTINGS, base_url=ACME)
    assert f"without a code until {until:%Y-%m-%d %H:%M UTC}" in page.text
    assert "Turn off now" in page.text
    assert user_row(app, alice_id).support_access_opt_in_until == until
    [event] = audit_events(app, "support_access.opted_in")
    assert (event["actor_type"], event["actor_id"]) == ("customer", alice_id)
    assert event["details"]["period"] == "8h" and event["details"]["until"] == until.isoformat()
    token_from_launch(ask(support, clock, alice_id))  # granted without a code

    clock.advance(hours=8)

    page = customer.get(SETTINGS, base_url=ACME)
    assert "Support access without a code is off." in page.text
    refused = ask(signed_in_again(app, support, clock), clock, alice_id)
    assert refused.status_code == 403 and NOT_OPTED_IN in refused.text


def test_turning_it_off_takes_effect_at_once(app, customer, support, clock, alice_id):
    settings_post(customer, "/opt-in", {"period": "30d"})

    response = settings_post(customer, "/opt-out")

    assert response.status_code == 303
    page = customer.get(SETTINGS, base_url=ACME)
    assert "Support access without a code is turned off, starting now." in page.text
    assert user_row(app, alice_id).support_access_opt_in_until is None
    assert actions(app, "support_access.") == ["support_access.opted_in", "support_access.opted_out"]
    refused = ask(support, clock, alice_id)
    assert refused.status_code == 403 and NOT_OPTED_IN in refused.text


@pytest.mark.parametrize("period", ["forever", "", "0", "8h\x00", "31d", "x" * 3000])
def test_any_other_period_is_a_clear_400_and_changes_nothing(app, customer, alice_id, period):
    response = settings_post(customer, "/opt-in", {"period": period})

    assert response.status_code == 400
    assert "Choose how long to allow support access: 8 hours, 24 hours, 7 days, 30 days." in response.text
    assert user_row(app, alice_id).support_access_opt_in_until is None
    assert actions(app, "support_access.") == []


def test_no_period_chosen_is_a_clear_400(app, customer, alice_id):
    response = settings_post(customer, "/opt-in")

    assert response.status_code == 400 and "Choose how long" in response.text


# --- support access codes -----------------------------------------------------------------------


def test_a_new_code_is_shown_once_no_store_and_never_in_a_flash_cookie_or_address(app, customer, clock):
    posted = settings_post(customer, "/code")

    # Post/Redirect/Get: the code is on the page the POST redirects to, once.
    assert posted.status_code == 303 and posted.headers["Location"] == SETTINGS
    response = customer.get(SETTINGS, base_url=ACME)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    code = NEW_CODE.search(response.text).group(1)
    expires = clock.now() + minutes(app.config["ACCESS_CODE_TTL_MINUTES"])
    assert "It works once, until" in response.text and expires.strftime("%H:%M UTC") in response.text
    assert "It will not be shown again" in response.text
    assert "Revoke code" in response.text
    assert code not in str(response.headers)
    # Not in the POST's answer either: its cookie carries the code encrypted (web_once), never in clear.
    assert code not in posted.text + str(posted.headers)
    assert code.replace("-", "") not in posted.text + str(posted.headers)
    assert code not in json.dumps(session_of(app, customer))
    assert [e["details"] for e in audit_events(app, "access_code.generated")] == [
        {"expires_at": expires.isoformat(), "replaced": 0}
    ]

    later = customer.get(SETTINGS, base_url=ACME)

    assert code not in later.text and code.replace("-", "") not in later.text
    assert "A code is active until" in later.text and expires.strftime("%H:%M UTC") in later.text
    assert "It was shown once, when you generated it" in later.text
    assert code not in json.dumps(session_of(app, customer))


def session_of(app, client) -> dict:
    """The tenant session cookie of `client` on Acme, decoded (it is signed, not encrypted)."""
    tenant_app = app.extensions["impersonator.tenant_app"]
    cookie = client.get_cookie(COOKIE, domain="acme.localhost")
    with tenant_app.test_request_context("/", base_url=ACME):
        return tenant_app.session_interface.get_signing_serializer(tenant_app).loads(cookie.value)


@pytest.mark.parametrize("typed", ["as shown", "lower case", "no dash", "spaced out"])
def test_support_uses_the_code_once_typed_with_any_case_spaces_or_dashes(
    app, customer, support, clock, alice_id, typed
):
    code = generate_code(customer)
    plain = code.replace("-", "")
    entered = {"as shown": code, "lower case": code.lower(), "no dash": plain, "spaced out": " ".join(plain)}[
        typed
    ]

    token_from_launch(ask(support, clock, alice_id, access_code=entered))

    [imp] = impersonations(app)
    assert imp.access_via == "code"
    assert "You have no active code." in customer.get(SETTINGS, base_url=ACME).text
    again = ask(support, clock, alice_id, access_code=entered)
    assert again.status_code == 403 and CODE_NOT_VALID in again.text
    [denied] = audit_events(app, "impersonation.denied")  # a reused code is refused and audited
    assert (denied["target_id"], denied["details"]["reason"]) == (alice_id, "access_code_wrong")


@pytest.mark.parametrize("typed", ["ABCD-EF1", "ABCD-EFGH1", "ABCD-EFU2", "ABCD_EF12", "ABCD\x00EF12"])
def test_a_malformed_code_is_refused_with_a_clear_message_and_audited(
    app, customer, support, clock, alice_id, typed
):
    generate_code(customer)

    response = ask(support, clock, alice_id, access_code=typed)

    assert response.status_code in (400, 403)
    assert "A support access code looks like ABCD-EF12." in response.text
    assert impersonations(app) == []
    assert [e["details"]["reason"] for e in audit_events(app, "impersonation.denied")] == [
        "access_code_malformed"
    ]


def test_revoking_the_code_stops_it_at_once(app, customer, support, clock, alice_id):
    code = generate_code(customer)

    response = settings_post(customer, "/code/revoke")

    assert response.status_code == 303
    page = customer.get(SETTINGS, base_url=ACME)
    assert "Your support access code is revoked: it no longer works." in page.text
    assert "You have no active code." in page.text
    assert [e["details"] for e in audit_events(app, "access_code.revoked")] == [{"revoked": 1}]
    refused = ask(support, clock, alice_id, access_code=code)
    assert refused.status_code == 403 and CODE_NOT_VALID in refused.text


def test_a_new_code_replaces_the_old_one(app, customer, support, clock, alice_id):
    old = generate_code(customer)
    new = generate_code(customer)

    assert old != new
    refused = ask(support, clock, alice_id, access_code=old)
    assert refused.status_code == 403 and CODE_NOT_VALID in refused.text
    token_from_launch(ask(support, clock, alice_id, access_code=new))


def test_a_code_expires(app, customer, support, clock, alice_id):
    code = generate_code(customer)

    clock.advance(minutes=app.config["ACCESS_CODE_TTL_MINUTES"])

    assert "You have no active code." in customer.get(SETTINGS, base_url=ACME).text
    refused = ask(signed_in_again(app, support, clock), clock, alice_id, access_code=code)
    assert refused.status_code == 403 and "That code has expired — use the current one." in refused.text
    assert [e["details"]["reason"] for e in audit_events(app, "impersonation.denied")] == [
        "access_code_expired"
    ]


def test_another_tenants_code_never_opens_this_account(app, customer, support, clock, alice_id):
    gina = app.test_client()
    sign_in_as(gina, "gina@globex.example", host=GLOBEX)
    ginas_code = generate_code(gina, host=GLOBEX)

    refused = ask(support, clock, alice_id, access_code=ginas_code)

    assert refused.status_code == 403 and CODE_NOT_VALID in refused.text
    assert impersonations(app) == []
    [denied] = audit_events(app, "impersonation.denied")
    assert (denied["target_id"], denied["details"]["reason"]) == (alice_id, "access_code_wrong")
    # Gina's code was not used up by the wrong try: it still opens Gina's account.
    token_from_launch(ask(support, clock, user_id(app, "gina@globex.example"), access_code=ginas_code))


# --- five wrong codes ---------------------------------------------------------------------------


def wrong_codes(support, clock, user: int, count: int) -> list[int]:
    return [ask(support, clock, user, access_code="ZZZZ-ZZZZ").status_code for _ in range(count)]


def test_five_wrong_codes_lock_entry_revoke_the_code_mail_the_customer_and_raise_a_security_event(
    app, customer, support, clock, alice_id
):
    code = generate_code(customer)

    assert wrong_codes(support, clock, alice_id, 5) == [403] * 5
    lock_ends = clock.now() + minutes(app.config["ACCESS_CODE_LOCK_MINUTES"])

    [locked] = audit_events(app, "access_code.locked")
    assert (locked["target_id"], locked["outcome"], locked["details"]) == (
        alice_id,
        "denied",
        {"until": lock_ends.isoformat()},
    )
    [alert] = audit_events(app, "security.alert")
    assert alert["details"] == {
        "kind": "access_code_locked",
        "user_id": alice_id,
        "until": lock_ends.isoformat(),
    }
    [(event_type, mail)] = mails_to(app, "alice@acme.example")
    assert event_type == "support.access_code_locked"
    assert mail.subject == "Support access codes for your Acme account are locked"
    assert f"until {lock_ends:%Y-%m-%d %H:%M UTC}" in mail.text
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(AccessCode.revoked_at.is_(None))) == 0

    # Even the right code is refused now, and the customer cannot make a new one until the lock ends.
    refused = ask(support, clock, alice_id, access_code=code)
    assert refused.status_code == 429 and "Too many failed attempts" in refused.text
    page = customer.get(SETTINGS, base_url=ACME)
    assert "several wrong codes were entered" in page.text and "Generate a" not in page.text
    response = settings_post(customer, "/code")
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "You can generate a new code after" in response.text
    assert NEW_CODE.search(response.text) is None
    assert [e["outcome"] for e in audit_events(app, "access_code.generate_refused")] == ["denied"]

    clock.advance(minutes=app.config["ACCESS_CODE_LOCK_MINUTES"])

    fresh = generate_code(customer)
    token_from_launch(ask(signed_in_again(app, support, clock), clock, alice_id, access_code=fresh))


def test_wrong_codes_spread_over_more_than_an_hour_do_not_lock(app, customer, support, clock, alice_id):
    generate_code(customer)
    assert wrong_codes(support, clock, alice_id, 4) == [403] * 4
    clock.advance(minutes=61)

    assert wrong_codes(signed_in_again(app, support, clock), clock, alice_id, 1) == [403]

    assert audit_events(app, "access_code.locked") == []
    assert mails_to(app, "alice@acme.example") == []


# --- the tenant's policy ------------------------------------------------------------------------


def test_code_always_offers_codes_only_and_asks_for_one_even_from_an_opted_in_user(
    app, tenants, customer, support, clock, alice_id
):
    update_tenant(app, tenants["acme"], access_policy="code_always")
    opt_in(app, alice_id, clock.now() + minutes(60))

    page = customer.get(SETTINGS, base_url=ACME)

    assert "requires a support access code every time" in page.text
    assert 'action="/settings/support-access/opt-in"' not in page.text
    refused = settings_post(customer, "/opt-in", {"period": "8h"})
    assert refused.status_code == 403 and "Generate a code instead." in refused.text
    without = ask(support, clock, alice_id)
    assert without.status_code == 403 and "This company requires the user" in without.text
    token_from_launch(ask(support, clock, alice_id, access_code=generate_code(customer)))


def test_policy_off_offers_nothing_and_refuses_both(app, tenants, customer, alice_id):
    update_tenant(app, tenants["acme"], access_policy="off")

    page = customer.get(SETTINGS, base_url=ACME)

    assert "Your company has turned support access off" in page.text
    assert 'action="/settings/support-access/code"' not in page.text
    assert 'action="/settings/support-access/opt-in"' not in page.text
    for path, data in (("/code", {}), ("/opt-in", {"period": "8h"})):
        response = settings_post(customer, path, data)
        assert response.status_code == 403
        assert "Your company has turned support access off" in response.text
    assert rows(app, AccessCode) == 0
    assert user_row(app, alice_id).support_access_opt_in_until is None


# --- the access-notice email choice -------------------------------------------------------------


def test_the_customer_turns_the_access_notice_off_and_on(app, customer, make_staff, clock, alice_id):
    opt_in(app, alice_id, clock.now() + minutes(600))
    member = make_staff("support")

    response = settings_post(customer, "/notifications", {})  # the box unticked

    assert response.status_code == 303
    page = customer.get(SETTINGS, base_url=ACME)
    assert "You will no longer get an email when support accesses your account." in page.text
    assert user_row(app, alice_id).notify_on_access is False
    [event] = audit_events(app, "support_access.notifications_changed")
    assert event["details"] == {"old": True, "new": False}
    ghost_in(app, member, clock, alice_id)
    assert mails_to(app, "alice@acme.example") == []

    settings_post(customer, "/notifications", {"notify_on_access": "y"})

    assert user_row(app, alice_id).notify_on_access is True
    ghost_in(app, member, clock, alice_id)
    assert [event for event, _ in mails_to(app, "alice@acme.example")] == ["support.access_started"]


# --- I7: the ghost is refused every settings page and action, whatever the mode -----------------

GHOST_REQUESTS = [
    ("GET", SETTINGS, {}),
    ("GET", HISTORY, {}),
    ("POST", f"{SETTINGS}/opt-in", {"period": "30d"}),
    ("POST", f"{SETTINGS}/opt-out", {}),
    ("POST", f"{SETTINGS}/code", {}),
    ("POST", f"{SETTINGS}/code/revoke", {}),
    ("POST", f"{SETTINGS}/notifications", {}),
    ("POST", f"{HISTORY}/{{own}}/revoke", {}),
]


@pytest.mark.parametrize("mode", ["read_only", "full"])
@pytest.mark.parametrize(
    ("method", "path", "data"), GHOST_REQUESTS, ids=[f"{m} {p}" for m, p, _ in GHOST_REQUESTS]
)
def test_i7_the_ghost_is_refused_every_settings_page_and_action(
    app, tenants, make_staff, clock, alice_id, mode, method, path, data
):
    until = clock.now() + minutes(600)
    opt_in(app, alice_id, until)
    with app.app_context():  # a code exists, so a revoke would change something
        access_codes.generate(db.session.get(User, alice_id), now=clock.now())
        db.session.commit()
    ghost = ghost_in(app, make_staff("impersonator"), clock, alice_id, mode=mode)
    [imp] = impersonations(app)
    home = ghost.get("/", base_url=ACME)
    assert f'href="{SETTINGS}"' not in home.text  # no Support access link for the ghost
    before = rows(app, AuditEvent)

    if method == "GET":
        response = ghost.get(path, base_url=ACME)
    else:
        token = csrf_token(home.text)
        response = ghost.post(path.format(own=imp.id), base_url=ACME, data={"csrf_token": token, **data})

    assert response.status_code == 403
    assert BANNER in response.text  # refused, and still under the ghost banner
    expected = READ_ONLY_MESSAGE if (method == "POST" and mode == "read_only") else GHOST_REFUSAL
    assert expected in response.text
    alice = user_row(app, alice_id)
    assert (alice.support_access_opt_in_until, alice.notify_on_access) == (until, None)
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(AccessCode.revoked_at.is_(None))) == 1
        assert db.session.get(Impersonation, imp.id).ended_at is None
    assert rows(app, AuditEvent) == before
    assert ghost.get("/", base_url=ACME).status_code == 200  # still a live ghost: nothing ended


def test_the_same_posts_go_through_for_the_customer_herself(app, tenants, clock, alice_id):
    """The control for the test above: what the ghost is refused, the customer may do."""
    opt_in(app, alice_id, clock.now() + minutes(600))
    customer = app.test_client()
    sign_in_as(customer, "alice@acme.example")

    assert settings_post(customer, "/opt-in", {"period": "30d"}).status_code == 303
    assert settings_post(customer, "/notifications", {}).status_code == 303
    assert settings_post(customer, "/code").status_code == 303


# --- I11: forged posts --------------------------------------------------------------------------


def test_a_settings_post_from_another_host_is_refused(app, customer, alice_id):
    token = csrf_token(customer.get(SETTINGS, base_url=ACME).text)

    response = customer.post(
        f"{SETTINGS}/opt-in", base_url=GLOBEX, data={"csrf_token": token, "period": "30d"}
    )

    assert response.status_code == 400
    assert user_row(app, alice_id).support_access_opt_in_until is None


def test_a_settings_post_without_a_token_is_refused(app, customer, alice_id):
    response = customer.post(f"{SETTINGS}/code", base_url=ACME)

    assert response.status_code == 400
    assert "This form has expired or was not sent from this site" in response.text
    assert rows(app, AccessCode) == 0
    assert rows(app, Notification) == 0
