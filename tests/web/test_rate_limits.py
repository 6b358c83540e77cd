"""Request rates that hold across processes and machines: searches, impersonation
requests, redemptions and sign-in posts are counted in the database; the request past a limit gets
the 429 page saying when to retry, does nothing else, and a burst is audited once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from impersonator.extensions import db
from impersonator.models import RateCount
from impersonator.services import rate_limits
from tests.conftest import postgresql_only
from tests.support.impersonation import (
    JUSTIFICATION,
    impersonations,
    launch_and_redeem,
    minutes,
    open_user_page,
    opt_in,
    redeem,
    request_impersonation,
    token_from_launch,
    user_id,
)
from tests.support.masking import TAX_ID, give_billing, reveal
from tests.support.records import audit_events, staff_row
from tests.support.web import ACME, CONSOLE, csrf_token, from_address, sign_in, sign_in_password, submit_code

LIMITED_TITLE = "<h1>Too many requests</h1>"
CONSOLE_COOKIE = "impersonator_console"


def search(client, query: str = "alice"):
    return client.get(f"/search?q={query}", base_url=CONSOLE)


def seconds_to_next(clock, seconds: int) -> int:
    """Whole seconds from now to the end of the current fixed window of `seconds`."""
    return seconds - int(clock.now().timestamp()) % seconds


def exceeded(app) -> list[dict]:
    return audit_events(app, "rate_limit.exceeded")


@pytest.fixture
def alice(app, tenants, clock) -> int:
    uid = user_id(app, "alice@acme.example")
    opt_in(app, uid, clock.now() + minutes(8 * 60))
    return uid


# --- search: per staff member -------------------------------------------------------------------


def test_the_search_past_the_limit_is_429_and_says_when_to_retry(make_app, make_staff, clock, tenants):
    limited = make_app(SEARCH_RATE_LIMIT="3/minute")
    client = limited.test_client()
    sign_in(client, make_staff("support"), clock)

    answers = [search(client) for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    wait = seconds_to_next(clock, 60)
    refused = answers[-1]
    assert refused.headers["Retry-After"] == str(wait)
    assert LIMITED_TITLE in refused.text
    assert f"Too many requests in a short time. Try again in {wait} seconds." in refused.text
    assert "alice@acme.example" not in refused.text  # no search ran


def test_the_next_window_lets_searches_through_again(make_app, make_staff, clock, tenants):
    limited = make_app(SEARCH_RATE_LIMIT="2/minute")
    client = limited.test_client()
    sign_in(client, make_staff("support"), clock)
    for _ in range(3):
        search(client)
    assert search(client).status_code == 429

    clock.advance(seconds=seconds_to_next(clock, 60))

    again = search(client)
    assert again.status_code == 200 and "alice@acme.example" in again.text


def test_opening_user_pages_counts_as_searching_and_the_empty_search_page_does_not(
    make_app, make_staff, clock, alice
):
    limited = make_app(SEARCH_RATE_LIMIT="2/minute")
    client = limited.test_client()
    sign_in(client, make_staff("support"), clock)

    assert client.get("/search", base_url=CONSOLE).status_code == 200
    assert open_user_page(client, alice).status_code == 200
    assert search(client).status_code == 200

    assert open_user_page(client, alice).status_code == 429
    assert client.get("/search", base_url=CONSOLE).status_code == 200


def test_one_member_at_the_limit_leaves_another_alone(make_app, make_staff, clock, tenants):
    limited = make_app(SEARCH_RATE_LIMIT="1/minute")
    first, second = limited.test_client(), limited.test_client()
    sign_in(first, make_staff("support"), clock)
    sign_in(second, make_staff("support"), clock)

    assert [search(first).status_code for _ in range(2)] == [200, 429]
    assert search(second).status_code == 200


def test_a_longer_tier_says_the_time_to_retry(make_app, make_staff, clock, tenants):
    limited = make_app(SEARCH_RATE_LIMIT="100/minute;2/hour")
    client = limited.test_client()
    sign_in(client, make_staff("support"), clock)

    answers = [search(client) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[-1].headers["Retry-After"] == str(seconds_to_next(clock, 3600))
    assert "Too many requests in a short time. Try again after 13:00 UTC." in answers[-1].text


# --- audited once per burst ---------------------------------------------------------------------


def test_a_burst_is_audited_once_per_window(make_app, make_staff, clock, tenants):
    limited = make_app(SEARCH_RATE_LIMIT="2/minute")
    client = limited.test_client()
    member = make_staff("support")
    sign_in(client, member, clock)

    statuses = [search(client).status_code for _ in range(6)]

    assert statuses == [200, 200, 429, 429, 429, 429]
    [event] = exceeded(limited)
    assert event["actor_type"] == "staff" and event["actor_id"] == member.id
    assert event["target_id"] == member.id and event["outcome"] == "denied"
    assert event["details"]["limit"] == "search" and event["details"]["rate"] == "2/60s"

    clock.advance(seconds=seconds_to_next(clock, 60))
    statuses = [search(client).status_code for _ in range(4)]

    assert statuses == [200, 200, 429, 429]
    assert len(exceeded(limited)) == 2


# --- impersonation requests: per staff member -------------------------------------------------------


def post_request(client, staff_account, uid: int, code: str):
    """The user page's form, posted with `code` and without moving the clock."""
    page = open_user_page(client, uid)
    data = {
        "csrf_token": csrf_token(page.text),
        "justification": JUSTIFICATION,
        "ticket": "",
        "duration": "60",
        "mode": "read_only",
        "access_code": "",
        "totp_code": code,
    }
    return client.post(f"/users/{uid}/impersonate", base_url=CONSOLE, data=data)


def same_browser(source, target):
    """`target` carries `source`'s console cookie (the session itself lives in the database)."""
    cookie = source.get_cookie(CONSOLE_COOKIE, domain="console.localhost")
    target.set_cookie(CONSOLE_COOKIE, cookie.value, domain="console.localhost")
    return target


def test_a_limited_impersonation_request_creates_nothing_and_spends_no_totp_step(
    app, make_app, make_staff, clock, alice
):
    limited = make_app(IMPERSONATION_RATE_LIMIT="1/hour")
    client = limited.test_client()
    member = make_staff("support")
    sign_in(client, member, clock)
    token_from_launch(request_impersonation(client, member, clock, alice))
    step_before = staff_row(app, member.id).totp_last_step

    clock.next_totp_step()
    refused = post_request(client, member, alice, member.code())

    assert refused.status_code == 429 and LIMITED_TITLE in refused.text
    assert refused.headers["Retry-After"] == str(seconds_to_next(clock, 3600))
    assert len(impersonations(app)) == 1
    assert staff_row(app, member.id).totp_last_step == step_before
    # The same code in the same step still works where no limit applies: it was never used.
    unlimited = same_browser(client, app.test_client())
    assert post_request(unlimited, member, alice, member.code()).status_code == 303  # to the handoff
    assert len(impersonations(app)) == 2


# --- redemption: per client address ----------------------------------------------------------------


def test_a_limited_redemption_leaves_the_token_redeemable(app, make_app, make_staff, clock, alice):
    limited = make_app(REDEEM_RATE_LIMIT="2/minute")
    console = limited.test_client()
    member = make_staff("support")
    sign_in(console, member, clock)
    _, token = token_from_launch(request_impersonation(console, member, clock, alice))
    flooder = from_address(limited.test_client(), "198.51.100.7")
    assert [redeem(flooder, "not a token").status_code for _ in range(2)] == [400, 400]

    refused = redeem(flooder, token)

    assert refused.status_code == 429 and LIMITED_TITLE in refused.text
    assert refused.headers["Retry-After"] == str(seconds_to_next(clock, 60))
    [imp] = impersonations(app)
    assert imp.redeemed_at is None and imp.ended_at is None
    assert [e["details"]["limit"] for e in exceeded(app)] == ["redeem"]
    assert exceeded(app)[0]["ip"] == "198.51.100.7"
    # Another address (the agent's own browser) redeems the very same token.
    assert redeem(from_address(limited.test_client(), "203.0.113.5"), token).status_code == 303


# --- reveals in a ghost session: per staff member ------------------------------------------------------


def test_reveals_past_the_limit_are_429_and_reveal_nothing(make_app, make_staff, clock, alice):
    limited = make_app(REVEAL_RATE_LIMIT="2/minute")
    give_billing(limited, alice)
    ghost = limited.test_client()
    member = make_staff("support")
    sign_in(ghost, member, clock)
    assert launch_and_redeem(ghost, member, clock, alice).redeemed.status_code == 303
    keys = [("payment", "card"), ("contact", "billing_phone"), ("government_id", "tax_id")]

    answers = [reveal(ghost, category=category, key=key) for category, key in keys]

    assert [answer.status_code for answer in answers] == [303, 303, 429]
    assert LIMITED_TITLE in answers[2].text
    assert answers[2].headers["Retry-After"] == str(seconds_to_next(clock, 60))
    assert TAX_ID not in ghost.get("/billing", base_url=ACME).text  # still masked
    [event] = exceeded(limited)
    assert event["details"]["limit"] == "reveal" and event["actor_id"] == member.id
    assert len(audit_events(limited, "impersonation.revealed")) == 2


# --- sign-in: per client address, successes included -----------------------------------------------


def test_sign_in_posts_from_one_address_are_limited_successes_included(make_app, make_staff, clock):
    limited = make_app(SIGN_IN_RATE_LIMIT="3/minute")
    member = make_staff("support")
    browser = from_address(limited.test_client(), "198.51.100.8")
    clock.next_totp_step()
    clock.advance(seconds=seconds_to_next(clock, 60) - 40)  # 20 s into a minute: the steps fit in it

    assert sign_in_password(browser, member.email, member.password).status_code == 302
    assert submit_code(browser, member.code()).status_code == 302  # signed in: two of three
    home = browser.get("/", base_url=CONSOLE)
    browser.post("/sign-out", base_url=CONSOLE, data={"csrf_token": csrf_token(home.text)})
    assert sign_in_password(browser, member.email, "a wrong password").status_code == 401

    refused = sign_in_password(browser, member.email, member.password)

    assert refused.status_code == 429 and "Try again in 40 seconds." in refused.text
    other = from_address(limited.test_client(), "203.0.113.9")
    assert sign_in_password(other, member.email, member.password).status_code == 302


def test_customer_sign_in_is_limited_per_address_on_each_tenant(make_app, tenants, clock):
    limited = make_app(SIGN_IN_RATE_LIMIT="1/minute")
    browser = from_address(limited.test_client(), "198.51.100.9")

    def customer_sign_in(base_url: str, email: str):
        page = browser.get("/sign-in", base_url=base_url)
        data = {"csrf_token": csrf_token(page.text), "email": email, "password": "a guess"}
        return browser.post("/sign-in", base_url=base_url, data=data)

    assert customer_sign_in(ACME, "alice@acme.example").status_code == 401
    assert customer_sign_in(ACME, "alice@acme.example").status_code == 429
    assert customer_sign_in("http://globex.localhost", "gina@globex.example").status_code == 401


# --- in the database, not in a process --------------------------------------------------------------


def test_two_app_instances_on_one_database_share_the_count(make_app, make_staff, clock, tenants):
    first_app = make_app(SEARCH_RATE_LIMIT="4/minute")
    second_app = make_app(SEARCH_RATE_LIMIT="4/minute")
    member = make_staff("support")
    first, second = first_app.test_client(), second_app.test_client()
    sign_in(first, member, clock)
    sign_in(second, member, clock)
    clock.advance(seconds=seconds_to_next(clock, 60))  # every search below falls in one window

    statuses = [search(client).status_code for client in (first, second) * 3]

    assert statuses == [200, 200, 200, 200, 429, 429]
    assert len(exceeded(first_app)) == 1


@postgresql_only
def test_racing_posts_never_get_more_than_the_limit_through(make_app, tenants, clock):
    racers = 10
    apps = [make_app(REDEEM_RATE_LIMIT="4/minute") for _ in range(racers)]  # a pool each, as workers
    clients = [from_address(racer.test_client(), "198.51.100.10") for racer in apps]
    # The tables were emptied after the last test, the audit chain's head row too (the migration
    # writes it once): one refusal from elsewhere writes it again before the race.
    assert redeem(from_address(apps[0].test_client(), "203.0.113.1"), "not a token").status_code == 400
    start = threading.Barrier(racers)
    statuses: list[int] = []

    def post(client) -> None:
        start.wait(timeout=30)
        statuses.append(redeem(client, "not a token").status_code)

    threads = [threading.Thread(target=post, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(statuses) == racers
    assert sorted(statuses) == [400] * 4 + [429] * (racers - 4)
    assert len(exceeded(apps[0])) == 1


# --- housekeeping and completeness --------------------------------------------------------------


def test_rows_of_keys_that_stopped_coming_are_swept(make_app, make_staff, clock, tenants):
    limited = make_app(SEARCH_RATE_LIMIT="5/minute", CONSOLE_IDLE_MINUTES=120)
    gone, staying = limited.test_client(), limited.test_client()
    left, stayed = make_staff("support"), make_staff("support")
    sign_in(gone, left, clock)
    sign_in(staying, stayed, clock)
    search(gone)
    assert counter_keys(limited) == [f"search:60:staff:{left.id}"]

    clock.advance(minutes=50)
    assert search(staying).status_code == 200  # the first of its window; the other row is not stale yet
    assert len(counter_keys(limited)) == 2

    clock.advance(minutes=20)
    assert search(staying).status_code == 200
    assert counter_keys(limited) == [f"search:60:staff:{stayed.id}"]


LIMITED_VIEWS = {
    "console": {
        "search.index": "search",
        "users.show": "search",
        "users.impersonate": "impersonation_request",
        "approvals.start": "impersonation_request",  # starting an approved request is a request too
        "sign_in.submit": "sign_in",
        "sign_in.code": "sign_in",
        "sign_in.enrol": "sign_in",
        # The JSON API counts every call, per key (console/api/ authenticate).
        **{
            f"api.{view}": "api"
            for view in ("openapi", "impersonations", "impersonation", "live_sessions", "terminate_session")
        },
        "api.audit_events": "api",
    },
    "tenant": {
        "impersonation.redeem": "redeem",
        "customer_sign_in.submit": "sign_in",
        "masking.reveal": "reveal",  # per staff member, as in the console
    },
}


def test_every_limited_view_names_its_limit(app, tenant_app):
    for face, views in (("console", app), ("tenant", tenant_app)):
        marked = {
            endpoint: view.rate_limit
            for endpoint, view in views.view_functions.items()
            if hasattr(view, "rate_limit")
        }
        assert marked == LIMITED_VIEWS[face]
    assert set(rate_limits.LIMITS) == {limit for views in LIMITED_VIEWS.values() for limit in views.values()}


def test_off_counts_nothing(make_app, make_staff, clock, tenants):
    unlimited = make_app(SEARCH_RATE_LIMIT="off")
    client = unlimited.test_client()
    sign_in(client, make_staff("support"), clock)

    assert {search(client).status_code for _ in range(5)} == {200}
    assert counter_keys(unlimited) == []


def counter_keys(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(RateCount.key).order_by(RateCount.key)))


def test_window_ends_are_aligned_on_the_epoch():
    tier = rate_limits.Tier(count=1, seconds=60)
    now = datetime(2026, 11, 23, 12, 0, 5, tzinfo=UTC)
    assert tier.window_end(now) == now.replace(minute=1, second=0)
    assert tier.window_end(now + timedelta(seconds=55)) == now.replace(minute=2, second=0)
    assert rate_limits.Tier(count=1, seconds=3600).window_end(now) == now.replace(hour=13, second=0)
