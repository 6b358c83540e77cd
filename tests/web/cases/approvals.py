"""Completeness rows of the approvals pages (issue 14): the console's queue and request page, the
customer's Support requests page."""

from __future__ import annotations

from impersonator.extensions import db
from impersonator.models import Staff
from impersonator.services.approvals import closing, decisions
from impersonator.services.staff.roles import Permission
from tests.support.approvals import asked, open_one, set_tenant
from tests.support.impersonation import user_id
from tests.support.web import ACME, CONSOLE, sign_in, sign_in_customer
from tests.web.cases import Case

EVERY_ROLE = {"support", "impersonator", "security", "admin"}
PAGE_ACCESS = {"/approvals": EVERY_ROLE}
# A request's own pages open for its requester, approvers and the security team, and are not found
# by anyone else (tests/web/test_approval_pages.py).
RECORD_PAGES = {"/approvals/<int:approval_id>", "/approvals/<int:approval_id>/state"}
POST_PERMISSIONS = {
    "approvals.decide": Permission.APPROVE,
    "approvals.withdraw": Permission.IMPERSONATE_READ_ONLY,
    "approvals.start": Permission.IMPERSONATE_READ_ONLY,
    "approvals.review": Permission.AUDIT,
}
REQUESTS = "/settings/support-access/requests"


def _request(bed, *, glass: bool = False) -> tuple[int, object]:
    """A full-mode request by an impersonator for Alice; returns its id and the requester."""
    requester = bed.make_staff("impersonator")
    how = asked("full", reason_code="incident", glass=True) if glass else asked("full")
    return open_one(bed.app, bed.clock, requester.id, user_id(bed.app, "alice@acme.example"), how), requester


def decide(bed) -> Case:
    request_id, _ = _request(bed)
    sign_in(bed.client, bed.make_staff("security"), bed.clock)
    path = f"/approvals/{request_id}"
    return Case(CONSOLE, f"{path}/decide", path, {"decision": "approve"}, accepted_status=303)


def withdraw(bed) -> Case:
    request_id, requester = _request(bed)
    sign_in(bed.client, requester, bed.clock)
    path = f"/approvals/{request_id}"
    return Case(CONSOLE, f"{path}/withdraw", path, {}, accepted_status=303)


def start(bed) -> Case:
    """The requester starts an approved request with a fresh code: the handoff page follows."""
    request_id, requester = _request(bed)
    officer = bed.make_staff("security")
    with bed.app.app_context():
        approver, now = db.session.get(Staff, officer.id), bed.clock.now()
        decisions.decide_as_staff(approver, request_id, approve=True, note=None, ip=None, now=now)
    sign_in(bed.client, requester, bed.clock)
    bed.clock.next_totp_step()
    path = f"/approvals/{request_id}"
    return Case(CONSOLE, f"{path}/start", path, {"totp_code": requester.code()}, accepted_status=303)


def review(bed) -> Case:
    request_id, requester = _request(bed, glass=True)
    officer = bed.make_staff("security")
    with bed.app.app_context():
        now = bed.clock.now()
        decisions.decide_as_staff(
            db.session.get(Staff, officer.id), request_id, approve=True, note=None, ip=None, now=now
        )
        alice = user_id(bed.app, "alice@acme.example")
        closing.claim(db.session.get(Staff, requester.id), request_id, user_id=alice, now=now)
        db.session.commit()
    sign_in(bed.client, officer, bed.clock)
    path = f"/approvals/{request_id}"
    note = {"note": "INC-1: the export was stuck; looked at it read-only, justified."}
    return Case(CONSOLE, f"{path}/review", path, note, accepted_status=303)


def _alice_signed_in(bed) -> None:
    assert sign_in_customer(bed.client, ACME, "alice@acme.example", "customer password").status_code == 303


def customer_decide(bed) -> Case:
    set_tenant(bed.app, access_policy="approve_each")
    request_id, _ = _request(bed)
    _alice_signed_in(bed)
    return Case(ACME, f"{REQUESTS}/{request_id}/decide", REQUESTS, {"decision": "deny"}, accepted_status=303)


def customer_choice(bed) -> Case:
    set_tenant(bed.app, users_choose_approval=True)
    _alice_signed_in(bed)
    return Case(ACME, f"{REQUESTS}/choice", REQUESTS, {"approve_each": "y"}, accepted_status=303)


CSRF_CASES: dict = {
    ("console", "approvals.decide"): decide,
    ("console", "approvals.withdraw"): withdraw,
    ("console", "approvals.start"): start,
    ("console", "approvals.review"): review,
    ("tenant", "support_requests.decide"): customer_decide,
    ("tenant", "support_requests.choose"): customer_choice,
}
