"""The security team's pages speak people (issue 13, "Audit rows speak people"): the audit log, one
impersonation in full and the live sessions name staff members and customers, word actions, outcomes,
modes, consent and end reasons (services/wording.py), and show every time in one style, UTC said once
on the page and the exact UTC value on hover. Codes and addresses stay in attributes (and the export)."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import update

from impersonator.extensions import db
from impersonator.models import Staff, User
from impersonator.services.audit import Actor
from impersonator.services.impersonation import lifecycle
from tests.perf_round_trips.test_round_trips import statements
from tests.support.impersonation import launch_and_redeem, the_impersonation, update_user
from tests.support.web import CONSOLE, sign_in

AGENT_NAME, ALICE_NAME = "Sam Sample", "Alice Andersen"
# Codes the pages hold (in attributes) but must never show as text.
CODES = (
    "user_revoked",
    "staff_ended",
    "read_only",
    "opt_in",
    "access_via",
    "impersonation.requested",
    "impersonation.started",
    "impersonation.ended",
    "expired_unredeemed",
)
TIME = re.compile(r'<time datetime="([^"]+)" title="([^"]+)">([^<]+)</time>')


def visible_text(page: str) -> str:
    """What a person reads: the page without its tags (and so without attributes)."""
    text = " ".join(html.unescape(re.sub(r"<[^>]*>", " ", page)).split())
    return re.sub(r" ([,.;:])", r"\1", text)


def assert_no_codes(page: str) -> None:
    text = visible_text(page)
    shown = [code for code in CODES if code in text]
    assert shown == [], shown


def assert_times_in_one_style(page: str) -> None:
    times = TIME.findall(page)
    assert times, "no <time> on the page"
    for utc, hover, shown in times:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", utc), utc
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", hover), hover
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", shown), shown  # the zone is said once
    assert visible_text(page).count("Times are in UTC.") == 1


@pytest.fixture
def officer(client, make_staff, clock):
    member = make_staff("security")
    sign_in(client, member, clock)
    return member


@pytest.fixture
def agent(app, make_staff):
    member = make_staff("support", email="sam@staff.example")
    with app.app_context():
        db.session.execute(update(Staff).where(Staff.id == member.id).values(name=AGENT_NAME))
        db.session.commit()
    return member


@pytest.fixture
def revoked(app, agent, alice, clock):
    """Sam impersonated Alice read-only (she had opted in); Alice revoked it from her history."""
    update_user(app, alice, name=ALICE_NAME)
    browser = app.test_client()
    sign_in(browser, agent, clock)
    assert launch_and_redeem(browser, agent, clock, alice, ticket="SUP-1").redeemed.status_code == 303
    clock.advance(minutes=3)
    imp = the_impersonation(app)
    with app.app_context():
        customer = db.session.get(User, alice)
        assert lifecycle.end(
            imp.id, reason="user_revoked", actor=Actor.customer(customer), ip=None, now=clock.now()
        )
    return the_impersonation(app)


# --- the audit log ----------------------------------------------------------------------------------


def test_the_audit_log_names_people_and_words_codes(client, officer, agent, alice, revoked):
    page = client.get("/audit/", base_url=CONSOLE).text
    text = visible_text(page)

    assert_no_codes(page)
    for words in ("Impersonation requested", "Impersonation started", "Impersonation ended", "succeeded"):
        assert words in text
    assert "Consent customer opted in" in text and "Mode read-only" in text
    assert "Why ended by the customer" in text
    assert f"{ALICE_NAME} (customer)" in text  # Alice herself ended it
    # Names shown, ids and addresses on hover.
    assert f'title="Staff member #{agent.id}, sam@staff.example: only their events">{AGENT_NAME}</a>' in page
    assert f'title="Customer #{alice}, alice@acme.example">{ALICE_NAME}</a>' in page
    assert "user #" not in text and "customer #" not in text
    # The raw codes stay on hover.
    assert '<span class="audit-action" title="impersonation.started">Impersonation started</span>' in page
    assert '<dd title="user_revoked">ended by the customer</dd>' in page


def test_the_audit_log_shows_times_in_one_style_with_utc_on_hover(client, officer, revoked):
    page = client.get("/audit/", base_url=CONSOLE).text

    assert_times_in_one_style(page)
    ended = revoked.ended_at
    assert (
        f'<time datetime="{ended.strftime("%Y-%m-%dT%H:%M:%S")}Z" title="{ended:%Y-%m-%d %H:%M:%S} UTC">'
        f"{ended:%Y-%m-%d %H:%M:%S}</time>"
    ) in page
    assert "<th>When</th>" in page and "When (UTC)" not in page


def test_the_filters_offer_names_and_words(client, officer, agent, revoked):
    page = client.get("/audit/", base_url=CONSOLE, query_string={"action": "impersonation.started"}).text

    assert f'<option value="{agent.id}">{AGENT_NAME} (sam@staff.example)</option>' in page
    assert '<option value="impersonation.started" selected>Impersonation started</option>' in page
    assert (
        '<option value="denied">denied</option>' in page and '<option value="failure">failed</option>' in page
    )


def test_the_names_of_a_page_cost_one_query(app, client, officer, revoked):
    client.get("/audit/", base_url=CONSOLE)  # the filter choices and the chart are kept from here

    with statements(app) as seen:
        page = client.get("/audit/", base_url=CONSOLE)

    assert page.status_code == 200 and ALICE_NAME in page.text
    people = [s for s in seen if "FROM staff" in s or "FROM tenant_user" in s]
    people = [s for s in people if "staff_session" not in s.split("FROM", 1)[1][:30]]
    named = [s for s in people if "UNION ALL" in s]
    assert len(named) == 1 and "FROM staff" in named[0] and "FROM tenant_user" in named[0]
    assert not [s for s in people if s not in named and "tenant_user" in s]


def test_an_event_of_someone_unknown_or_of_the_system_reads_as_words(app, client, officer, clock):
    from tests.support.audit_log import append_events

    append_events(
        app,
        [
            {
                "at": clock.now(),
                "actor_type": "system",
                "actor_label": "sweeper",
                "action": "impersonation.token_expired",
            },
            {
                "at": clock.now(),
                "actor_type": "anonymous",
                "actor_label": "203.0.113.9",
                "action": "staff.sign_in_failed",
                "outcome": "failure",
            },
            {
                "at": clock.now(),
                "actor_type": "system",
                "actor_label": "sweeper",
                "action": "security.alert",
                "outcome": "denied",
                "details": {"kind": "token_replay"},
            },
        ],
    )

    text = visible_text(client.get("/audit/", base_url=CONSOLE).text)

    assert "The sweeper Impersonation link expired unused" in text
    assert "203.0.113.9 (not signed in) Sign-in failed failed" in text
    assert "Alert impersonation link used a second time" in text
    assert "token_replay" not in text and "token_expired" not in text


# --- one impersonation in full ----------------------------------------------------------------------


def test_the_detail_page_names_people_and_words_codes(client, officer, agent, alice, revoked):
    page = client.get(f"/audit/impersonations/{revoked.id}", base_url=CONSOLE).text
    text = visible_text(page)

    assert_no_codes(page)
    assert f"{AGENT_NAME} (sam@staff.example, support)" in text
    assert "Mode read-only, up to 60 minutes" in text and "Consent customer opted in" in text
    assert "How it ended: Ended by the customer." in text
    assert '<span class="end-reason" title="user_revoked">Ended by the customer.</span>' in page
    assert f'title="Customer #{alice}">{ALICE_NAME}</a>' in page
    events = page[page.index(">Audit events</h2>") :]
    assert (
        f'title="Staff member #{agent.id}, sam@staff.example: only their events">{AGENT_NAME}</a>' in events
    )
    assert f"{ALICE_NAME} (customer)" in visible_text(events)


def test_the_detail_page_shows_times_in_one_style(client, officer, revoked):
    page = client.get(f"/audit/impersonations/{revoked.id}", base_url=CONSOLE).text

    assert_times_in_one_style(page)
    assert "When (UTC)" not in page


# --- live sessions ----------------------------------------------------------------------------------


def test_live_sessions_name_people_and_word_the_mode(app, client, officer, agent, alice, clock):
    update_user(app, alice, name=ALICE_NAME)
    browser = app.test_client()
    sign_in(browser, agent, clock)
    launch_and_redeem(browser, agent, clock, alice)
    imp = the_impersonation(app)

    page = client.get("/audit/live", base_url=CONSOLE).text
    text = visible_text(page)

    assert_no_codes(page)
    assert_times_in_one_style(page)
    assert AGENT_NAME in text and ALICE_NAME in text and "read-only" in text
    assert f'<span title="Staff member #{agent.id}">{AGENT_NAME}</span>' in page
    assert '<span class="mode mode-read_only" title="read_only">read-only</span>' in page
    until = imp.expires_at
    assert f'(until <time datetime="{until.strftime("%Y-%m-%dT%H:%M:%S")}Z"' in page


# --- the same end reason, the same words ------------------------------------------------------------


def test_one_end_reason_reads_the_same_on_every_console_page(app, client, officer, agent, alice, clock):
    """Sam ends his own impersonation: his My impersonations says "ended by you", the security team's
    pages and the customer's user page say "ended by the support agent"."""
    browser = app.test_client()
    sign_in(browser, agent, clock)
    launch_and_redeem(browser, agent, clock, alice)
    imp = the_impersonation(app)
    with app.app_context():
        staff = db.session.get(Staff, agent.id)
        lifecycle.end(imp.id, reason="staff_ended", actor=Actor.staff(staff), ip=None, now=clock.now())

    mine = visible_text(browser.get("/impersonations/mine", base_url=CONSOLE).text)
    user_page = visible_text(client.get(f"/users/{alice}", base_url=CONSOLE).text)
    detail = visible_text(client.get(f"/audit/impersonations/{imp.id}", base_url=CONSOLE).text)
    log = visible_text(client.get("/audit/", base_url=CONSOLE).text)

    assert "ended (ended by you)" in mine
    assert "ended (ended by the support agent)" in user_page
    assert "Ended by the support agent." in detail
    assert "Why ended by the support agent" in log
    for text in (mine, user_page, detail, log):
        assert "staff_ended" not in text and "staff ended" not in text and "read_only" not in text
