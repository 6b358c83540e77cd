"""The request flow with approvals (issue 14; DESIGN §11), through the console's and the tenant's
pages: a request that needs a decision waits instead of making a token; once approved, the
requester starts it with a fresh code and lands in the ghost session as it was granted; a denied,
used or lapsed approval starts nothing; break-glass shows red; reason codes filter the audit log."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from impersonator.extensions import db
from impersonator.models import ApprovalRequest, OutboxMessage, User
from tests.support.approvals import set_tenant
from tests.support.impersonation import (
    BANNER,
    READ_ONLY_MESSAGE,
    impersonations,
    redeem,
    request_impersonation,
    token_from_launch,
    user_id,
)
from tests.support.records import audit_actions, audit_events
from tests.support.web import ACME, CONSOLE, GLOBEX, csrf_token, flashes, sign_in, sign_in_customer

APPROVAL_PATH = re.compile(r"/approvals/(\d+)$")


@pytest.fixture
def requester(make_staff):
    return make_staff("impersonator")


@pytest.fixture
def approver(app, make_staff):
    """A security officer's browser (approve by role), signed in on the console."""
    member = make_staff("security")
    browser = app.test_client()
    return member, browser


def ask(client, requester, clock, uid: int, **fields) -> int:
    """The requester asks on the user page; the answer is the request's page (its id)."""
    sign_in(client, requester, clock)
    response = request_impersonation(client, requester, clock, uid, **fields)
    assert response.status_code == 200, response.text
    waiting = APPROVAL_PATH.search(response.request.path)
    assert waiting, f"no approval page: {response.request.path}"
    return int(waiting.group(1))


def decide(approver, clock, approval_id: int, decision: str = "approve", **fields):
    member, browser = approver
    sign_in(browser, member, clock)
    page = browser.get(f"/approvals/{approval_id}", base_url=CONSOLE)
    data = {"csrf_token": csrf_token(page.text), "decision": decision, "note": "", **fields}
    path = f"/approvals/{approval_id}/decide"
    return browser.post(path, base_url=CONSOLE, data=data, follow_redirects=True)


def start(client, requester, clock, approval_id: int):
    page = client.get(f"/approvals/{approval_id}", base_url=CONSOLE)
    clock.next_totp_step()
    data = {"csrf_token": csrf_token(page.text), "totp_code": requester.code()}
    return client.post(f"/approvals/{approval_id}/start", base_url=CONSOLE, data=data, follow_redirects=True)


def approval(app, approval_id: int) -> ApprovalRequest:
    with app.app_context():
        row = db.session.get(ApprovalRequest, approval_id)
        db.session.expunge(row)
        return row


def test_full_mode_waits_for_a_second_person_then_starts_as_granted(
    app, client, requester, approver, alice, clock
):
    approval_id = ask(client, requester, clock, alice, mode="full", reason_code="bug_investigation")
    assert impersonations(app) == []  # no token, no impersonation while it waits
    page = client.get(f"/approvals/{approval_id}", base_url=CONSOLE).text
    assert "waiting for approval" in page and "bug investigation" in page.lower()

    decided = decide(approver, clock, approval_id)
    assert flashes(decided) == ["You approved Impersonator Person's request: they can start it now."]

    handoff = start(client, requester, clock, approval_id)
    _, token = token_from_launch(handoff)
    assert redeem(client, token).status_code == 303
    assert BANNER in client.get("/", base_url=ACME).text
    [imp] = impersonations(app)
    assert (imp.mode, imp.reason_code, imp.access_via) == ("full", "bug_investigation", "opt_in")
    assert approval(app, approval_id).state == "used"
    assert approval(app, approval_id).impersonation_id == imp.id


def test_a_narrowed_mode_holds_at_redemption(app, client, requester, approver, alice, clock):
    approval_id = ask(client, requester, clock, alice, mode="full")
    decide(approver, clock, approval_id, mode="read_only", duration="15")

    _, token = token_from_launch(start(client, requester, clock, approval_id))
    redeem(client, token)

    [imp] = impersonations(app)
    assert (imp.mode, imp.duration_minutes) == ("read_only", 15)
    page = client.get("/account", base_url=ACME)
    data = {"csrf_token": csrf_token(page.text), "name": "X"}
    refused = client.post("/account/name", base_url=ACME, data=data)
    assert refused.status_code == 403 and READ_ONLY_MESSAGE in refused.text


def test_a_denied_request_cannot_be_started(app, client, requester, approver, alice, clock):
    approval_id = ask(client, requester, clock, alice, mode="full")
    decide(approver, clock, approval_id, decision="deny")

    response = start(client, requester, clock, approval_id)

    assert response.status_code == 403, response.text
    assert impersonations(app) == []
    assert audit_events(app, "impersonation.denied")


def test_an_approval_starts_once(app, client, requester, approver, alice, clock):
    approval_id = ask(client, requester, clock, alice, mode="full")
    decide(approver, clock, approval_id)
    assert start(client, requester, clock, approval_id).status_code == 200

    again = start(client, requester, clock, approval_id)

    assert again.status_code == 403
    assert len(impersonations(app)) == 1


def test_an_approval_not_started_in_its_window_starts_nothing(app, client, requester, approver, alice, clock):
    approval_id = ask(client, requester, clock, alice, mode="full")
    decide(approver, clock, approval_id)
    clock.advance(minutes=app.config["APPROVAL_START_MINUTES"] + 1)
    sign_in(client, requester, clock)  # the console session idled out meanwhile

    response = start(client, requester, clock, approval_id)

    assert response.status_code == 403
    assert impersonations(app) == []


def test_starting_needs_a_fresh_code(app, client, requester, approver, alice, clock):
    approval_id = ask(client, requester, clock, alice, mode="full")
    decide(approver, clock, approval_id)
    page = client.get(f"/approvals/{approval_id}", base_url=CONSOLE)

    wrong = client.post(
        f"/approvals/{approval_id}/start",
        base_url=CONSOLE,
        data={"csrf_token": csrf_token(page.text), "totp_code": "000000"},
    )

    assert wrong.status_code in (400, 401, 403)
    assert impersonations(app) == [] and approval(app, approval_id).state == "approved"


def test_the_customer_approves_on_their_own_page_then_support_starts(app, client, requester, alice, clock):
    set_tenant(app, access_policy="approve_each")
    approval_id = ask(client, requester, clock, alice, reason_code="billing")
    assert approval(app, approval_id).waiting_for == ["customer"]
    assert ">Ask for approval</button>" in client.get(f"/users/{alice}", base_url=CONSOLE).text

    customer = app.test_client()
    sign_in_customer(customer, ACME, "alice@acme.example", "customer password")
    page = customer.get("/settings/support-access/requests", base_url=ACME)
    assert "Impersonator Person" in page.text and "billing" in page.text.lower()
    form = re.search(r'action="(/settings/support-access/requests/\d+/decide)"', page.text)
    decided = customer.post(
        form.group(1),
        base_url=ACME,
        data={"csrf_token": csrf_token(page.text), "decision": "approve", "note": ""},
    )
    assert decided.status_code == 303

    _, token = token_from_launch(start(client, requester, clock, approval_id))
    assert redeem(client, token).status_code == 303
    [imp] = impersonations(app)
    assert (imp.access_via, imp.reason_code) == ("approval", "billing")


def test_break_glass_waits_for_a_second_person_shows_red_and_needs_a_review(
    app, client, requester, approver, tenants, clock
):
    gina = user_id(app, "gina@globex.example")  # has not consented: needs a code
    approval_id = ask(client, requester, clock, gina, reason_code="incident", break_glass="y")
    assert approval(app, approval_id).break_glass
    assert audit_events(app, "security.alert")  # raised at once, before anyone decides
    with app.app_context():  # and the customer is told at once, before anyone decides
        mail = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "mail")).all()
        assert [m.destination for m in mail] == ["gina@globex.example"]

    decide(approver, clock, approval_id)
    _, token = token_from_launch(start(client, requester, clock, approval_id))
    assert redeem(client, token, host=GLOBEX).status_code == 303
    [imp] = impersonations(app)
    assert (imp.break_glass, imp.access_via, imp.reason_code) == (True, "emergency", "incident")

    _, browser = approver
    log = browser.get("/audit/", base_url=CONSOLE).text
    assert log.count(" row-break-glass") >= 2  # the request, its approval, the start…
    detail = browser.get(f"/audit/impersonations/{imp.id}", base_url=CONSOLE).text
    assert "Break-glass" in detail and "incident" in detail

    before = len(audit_actions(app))
    again = request_impersonation(client, requester, clock, gina, reason_code="incident", break_glass="y")
    assert again.status_code == 403
    assert "must review it before you can break glass again" in again.text
    assert len(audit_actions(app)) == before + 1  # the refusal, audited


def test_break_glass_only_for_incidents(app, client, requester, tenants, clock):
    gina = user_id(app, "gina@globex.example")
    sign_in(client, requester, clock)

    response = request_impersonation(client, requester, clock, gina, reason_code="billing", break_glass="y")

    assert response.status_code == 403
    assert "Break-glass is only for incidents" in response.text
    assert impersonations(app) == []


def test_the_audit_log_filters_by_reason_code(app, client, requester, approver, alice, clock):
    sign_in(client, requester, clock)
    token_from_launch(request_impersonation(client, requester, clock, alice, reason_code="billing"))
    token_from_launch(request_impersonation(client, requester, clock, alice, reason_code="legal"))
    billing, legal = impersonations(app)
    officer, browser = approver
    sign_in(browser, officer, clock)

    page = browser.get("/audit/", base_url=CONSOLE, query_string={"reason": "billing"}).text

    assert f"impersonation #{billing.id}" in page and f"impersonation #{legal.id}" not in page
    assert '<option value="billing" selected>' in page
    bad = browser.get("/audit/", base_url=CONSOLE, query_string={"reason": "boredom"})
    assert bad.status_code == 400 and "The reason is one of" in bad.text


def test_the_form_offers_only_the_reasons_the_company_allows(app, client, requester, alice, clock):
    set_tenant(app, reason_codes="billing legal", ticket_pattern=r"SUP-\d+")
    sign_in(client, requester, clock)

    page = client.get(f"/users/{alice}", base_url=CONSOLE).text

    assert '<option value="billing"' in page and '<option value="legal"' in page
    assert '<option value="incident"' not in page and '<option value="customer_request"' not in page
    assert "Acme requires a ticket id of its own format with every request." in page


def test_a_customer_who_approves_each_request_is_offered_no_code(app, alice):
    set_tenant(app, users_choose_approval=True)
    with app.app_context():
        db.session.get(User, alice).approve_each_request = True
        db.session.commit()
    customer = app.test_client()
    sign_in_customer(customer, ACME, "alice@acme.example", "customer password")

    page = customer.get("/settings/support-access", base_url=ACME).text

    assert "Support asks you before every access" in page
    assert 'href="/settings/support-access/requests">Support requests</a>' in page
    assert "Generate a code" not in page and "Allow support to access my account" not in page
