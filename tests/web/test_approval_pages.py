"""The approvals pages (DESIGN §11, issue 14): the console's queue and request page, where a second
staff member decides, the requester withdraws and a security officer reviews a break-glass; and the
customer's Support requests page on the tenant, where they approve or deny. Forms are posted the
way a browser does (CSRF tokens read from the page). Requests are opened through the approvals
service here; tests/web/test_approval_flow.py makes them from the user page."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from impersonator.extensions import db
from impersonator.models import Staff, User
from impersonator.services.approvals import closing, requests
from tests.support.approvals import allow_peer, asked, open_one, row, set_tenant
from tests.support.customer import sign_in_as
from tests.support.records import audit_events
from tests.support.web import ACME, CONSOLE, GLOBEX, csrf_token, flashes, post_form, sign_in

REQUESTS = "/settings/support-access/requests"


@pytest.fixture
def alice(app, tenants):
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.email == "alice@acme.example"))


@pytest.fixture
def requester(make_staff):
    return make_staff("impersonator")


def browser(app, member, clock):
    client = app.test_client()
    sign_in(client, member, clock)
    return client


def page(client, request_id):
    return client.get(f"/approvals/{request_id}", base_url=CONSOLE)


def decide(client, request_id, decision="approve", **data):
    return post_form(
        client,
        CONSOLE,
        f"/approvals/{request_id}",
        f"/approvals/{request_id}/decide",
        {"decision": decision, **data},
    )


# --- the console ----------------------------------------------------------------------------------


def test_an_approver_sees_the_queue_and_approves_narrower(app, clock, alice, requester, make_staff):
    request_id = open_one(app, clock, requester.id, alice, asked("full", minutes=60))
    officer = browser(app, make_staff("security"), clock)

    queue = officer.get("/approvals", base_url=CONSOLE)
    assert queue.status_code == 200
    assert "Waiting for your approval" in queue.text
    assert f"/approvals/{request_id}" in queue.text
    shown = page(officer, request_id)
    assert "Your decision" in shown.text
    assert "The customer&#39;s export fails with an error" in shown.text

    response = decide(officer, request_id, mode="read_only", duration="30", note="Read-only will do")
    assert response.status_code == 303
    after = officer.get(response.headers["Location"], base_url=CONSOLE)
    assert "they can start it now" in " ".join(flashes(after))
    approved = row(app, request_id)
    assert (approved.state, approved.granted_mode, approved.granted_minutes) == ("approved", "read_only", 30)
    assert approved.staff_note == "Read-only will do"


def test_a_wider_grant_than_asked_is_refused_on_the_page(app, clock, alice, requester, make_staff):
    request_id = open_one(app, clock, requester.id, alice, asked("full", minutes=30))
    officer = browser(app, make_staff("security"), clock)

    response = decide(officer, request_id, mode="full", duration="60")

    assert response.status_code == 400
    assert "never lengthen" in response.text
    assert row(app, request_id).state == "pending"


def test_the_requester_sees_no_decision_form_and_cannot_post_one(app, clock, alice, requester):
    allow_peer(app, requester.id)
    request_id = open_one(app, clock, requester.id, alice, asked("full"))
    mine = browser(app, requester, clock)

    shown = page(mine, request_id)
    assert shown.status_code == 200
    assert "Your decision" not in shown.text
    assert "Withdraw this request" in shown.text
    assert (
        f"/approvals/{request_id}"
        not in mine.get("/approvals", base_url=CONSOLE).text.split("Your requests")[0]
    )

    response = decide(mine, request_id)
    assert response.status_code == 403
    assert "cannot approve your own request" in response.text
    assert row(app, request_id).state == "pending"


def test_only_approvers_may_post_a_decision(app, clock, alice, requester, make_staff):
    request_id = open_one(app, clock, requester.id, alice, asked("full"))
    peer = make_staff("impersonator")  # may impersonate; an admin has not let them approve

    agent = browser(app, make_staff("support"), clock)
    assert agent.get(f"/approvals/{request_id}", base_url=CONSOLE).status_code == 404  # not theirs to read
    not_yet = browser(app, peer, clock)
    refused = decide(not_yet, request_id)
    assert refused.status_code == 404  # not an approver: the request is not theirs to see either
    allow_peer(app, peer.id)
    assert decide(not_yet, request_id).status_code == 303
    assert row(app, request_id).state == "approved"


def test_a_decision_made_a_moment_earlier_is_reported_not_repeated(app, clock, alice, requester, make_staff):
    request_id = open_one(app, clock, requester.id, alice, asked("full"))
    first, second = browser(app, make_staff("security"), clock), browser(app, make_staff("admin"), clock)
    token_page = page(second, request_id)  # the second approver opened the page before the first decided
    assert decide(first, request_id, "deny").status_code == 303

    late = second.post(
        f"/approvals/{request_id}/decide",
        base_url=CONSOLE,
        data={"csrf_token": csrf_token(token_page.text), "decision": "approve"},
    )
    assert late.status_code == 409
    assert "already denied" in late.text
    assert row(app, request_id).state == "denied"


def test_the_state_endpoint_answers_json_for_the_live_page(app, clock, alice, requester, make_staff):
    request_id = open_one(app, clock, requester.id, alice, asked("full"))
    mine = browser(app, requester, clock)

    state = mine.get(f"/approvals/{request_id}/state", base_url=CONSOLE)
    assert state.headers["Cache-Control"] == "no-store"
    assert json.loads(state.text) == {
        "state": "pending",
        "label": "waiting for approval",
        "waiting_for": ["staff"],
    }
    assert 'data-poll="/approvals/' in page(mine, request_id).text
    assert "js/approval-live.js" in page(mine, request_id).text


def test_the_requester_withdraws(app, clock, alice, requester):
    request_id = open_one(app, clock, requester.id, alice, asked("full"))
    mine = browser(app, requester, clock)

    response = post_form(mine, CONSOLE, f"/approvals/{request_id}", f"/approvals/{request_id}/withdraw", {})

    assert response.status_code == 303
    assert row(app, request_id).state == "withdrawn"
    assert "Withdraw this request" not in page(mine, request_id).text


def test_a_security_officer_reviews_a_used_break_glass(app, clock, alice, requester, make_staff):
    glass = open_one(app, clock, requester.id, alice, asked("full", reason_code="incident", glass=True))
    officer_account = make_staff("security")
    officer = browser(app, officer_account, clock)
    assert decide(officer, glass).status_code == 303
    with app.app_context():
        closing.claim(db.session.get(Staff, requester.id), glass, user_id=alice, now=clock.now())
        db.session.commit()

    assert "Break-glass accesses to review" in officer.get("/approvals", base_url=CONSOLE).text
    review = "INC-9: the customer's data export was stuck; opened it read-only and fixed it."
    response = post_form(
        officer, CONSOLE, f"/approvals/{glass}", f"/approvals/{glass}/review", {"note": review}
    )
    assert response.status_code == 303
    assert row(app, glass).review_note == review
    assert audit_events(app, "approval.reviewed")[0]["actor_id"] == officer_account.id


# --- the customer ---------------------------------------------------------------------------------


def test_the_customer_approves_a_request_on_their_support_requests_page(app, client, clock, alice, requester):
    set_tenant(app, access_policy="approve_each")
    request_id = open_one(app, clock, requester.id, alice, asked("read_only"))
    sign_in_as(client, "alice@acme.example")

    listing = client.get(REQUESTS, base_url=ACME)
    assert listing.status_code == 200
    assert "Impersonator Person asks to access your account" in listing.text
    assert "You asked for help" in listing.text  # the reason, in the customer's words
    response = post_form(client, ACME, REQUESTS, f"{REQUESTS}/{request_id}/decide", {"decision": "approve"})

    assert response.status_code == 303
    assert "they may start within 30 minutes" in " ".join(flashes(client.get(REQUESTS, base_url=ACME)))
    assert row(app, request_id).state == "approved"
    [event] = [e for e in audit_events(app, "approval.approved") if e["actor_type"] == "customer"]
    assert event["actor_id"] == alice


def test_the_customer_denies_with_a_note(app, client, clock, alice, requester):
    set_tenant(app, access_policy="approve_each")
    request_id = open_one(app, clock, requester.id, alice, asked("read_only"))
    sign_in_as(client, "alice@acme.example")

    data = {"decision": "deny", "note": "Please call me first"}
    assert post_form(client, ACME, REQUESTS, f"{REQUESTS}/{request_id}/decide", data).status_code == 303

    denied = row(app, request_id)
    assert (denied.state, denied.customer_note) == ("denied", "Please call me first")
    assert "No request is waiting for you." in client.get(REQUESTS, base_url=ACME).text


def test_another_customer_cannot_decide_and_learns_nothing(app, client, clock, alice, requester):
    set_tenant(app, access_policy="approve_each")
    request_id = open_one(app, clock, requester.id, alice, asked("read_only"))
    sign_in_as(client, "gina@globex.example", host=GLOBEX)

    response = post_form(client, GLOBEX, REQUESTS, f"{REQUESTS}/{request_id}/decide", {"decision": "approve"})

    assert response.status_code == 404
    assert row(app, request_id).state == "pending"


def test_a_customer_chooses_to_approve_each_request_where_the_tenant_allows(app, client, clock, alice):
    sign_in_as(client, "alice@acme.example")
    assert "Ask me to approve every support access" not in client.get(REQUESTS, base_url=ACME).text
    refused = post_form(client, ACME, REQUESTS, f"{REQUESTS}/choice", {"approve_each": "y"})
    assert refused.status_code == 403

    set_tenant(app, users_choose_approval=True)
    assert "Ask me to approve every support access" in client.get(REQUESTS, base_url=ACME).text
    assert post_form(client, ACME, REQUESTS, f"{REQUESTS}/choice", {"approve_each": "y"}).status_code == 303
    with app.app_context():
        assert db.session.get(User, alice).approve_each_request is True
    assert audit_events(app, "support_access.approval_choice_changed")[0]["details"]["new"] is True


def test_the_queue_shows_the_oldest_50_and_says_more_are_waiting(app, clock, alice, requester, make_staff):
    opened = []
    for _ in range(51):
        opened.append(open_one(app, clock, requester.id, alice, asked("full", minutes=60)))
        clock.advance(seconds=1)
    officer = browser(app, make_staff("security"), clock)

    queue = officer.get("/approvals", base_url=CONSOLE).text

    shown = [request_id for request_id in opened if f'href="/approvals/{request_id}"' in queue]
    assert shown == opened[:50]
    assert "More requests are waiting: these are the 50 oldest." in queue

    with app.app_context():
        requests.withdraw(db.session.get(Staff, requester.id), opened[0], ip=None, now=clock.now())
        db.session.commit()
    queue = officer.get("/approvals", base_url=CONSOLE).text
    assert f'href="/approvals/{opened[50]}"' in queue
    assert "More requests are waiting" not in queue
