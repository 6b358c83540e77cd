"""Approval requests for the tests: open one the way lifecycle does, read it back, set a tenant's
rules, let an impersonator approve (tests/services/test_approvals.py, tests/postgres/)."""

from __future__ import annotations

from sqlalchemy import select

from impersonator.extensions import db
from impersonator.models import ApprovalRequest, Staff, Tenant, User
from impersonator.services.approvals import requests, rules

JUSTIFICATION = "The customer's export fails with an error"


def asked(mode: str = "read_only", *, reason_code: str = "customer_request", minutes: int = 30, glass=False):
    return requests.Asked(reason_code, JUSTIFICATION, "T-1", mode, minutes, glass)


def set_tenant(app, **values) -> None:
    with app.app_context():
        tenant = db.session.scalar(select(Tenant).where(Tenant.slug == "acme"))
        for name, value in values.items():
            setattr(tenant, name, value)
        db.session.commit()


def open_one(app, clock, staff_id, user_id, how=None, **needs_over) -> int:
    """Open a request the way lifecycle does, and return its id."""
    how = how or asked()
    with app.app_context():
        staff, user = db.session.get(Staff, staff_id), db.session.get(User, user_id)
        needs = rules.needs(user, how.mode, break_glass=how.break_glass, now=clock.now())
        if needs_over:
            needs = rules.Needs(**{**needs.__dict__, **needs_over})
        request = requests.open_request(staff, user, how, needs, ip="203.0.113.5", now=clock.now())
        db.session.commit()
        return request.id


def row(app, request_id) -> ApprovalRequest:
    with app.app_context():
        request = db.session.get(ApprovalRequest, request_id)
        db.session.expunge(request)
        return request


def allow_peer(app, peer_id) -> None:
    with app.app_context():
        db.session.get(Staff, peer_id).may_approve = True
        db.session.commit()


def every_approval_event(
    app, clock, requester_id: int, approver_id: int, officer_id: int, user_id: int
) -> None:
    """Drive one request through each approval event through the approvals service (the request
    flow does not open them yet): requested, approved, denied, withdrawn, expired, cancelled and a
    reviewed break-glass. `approver_id` must hold approve (security), `officer_id` too, another one."""
    from impersonator.services.admin import switches
    from impersonator.services.approvals import closing, decisions
    from impersonator.services.audit import Actor
    from impersonator.services.impersonation import sweep

    approved = open_one(app, clock, requester_id, user_id, asked("full"))
    denied = open_one(app, clock, requester_id, user_id, asked("full"))
    withdrawn = open_one(app, clock, requester_id, user_id, asked("full"))
    glass = open_one(app, clock, requester_id, user_id, asked("full", reason_code="incident", glass=True))
    with app.app_context():
        approver, requester = db.session.get(Staff, approver_id), db.session.get(Staff, requester_id)
        now = clock.now()
        decisions.decide_as_staff(approver, approved, approve=True, note=None, ip=None, now=now)
        decisions.decide_as_staff(approver, denied, approve=False, note=None, ip=None, now=now)
        requests.withdraw(requester, withdrawn, ip=None, now=now)
        decisions.decide_as_staff(approver, glass, approve=True, note=None, ip=None, now=now)
        closing.claim(requester, glass, user_id=user_id, now=now)
        db.session.commit()
        review = "INC-1: the customer's export was stuck; looked read-only, justified."
        decisions.review_break_glass(db.session.get(Staff, officer_id), glass, note=review, ip=None, now=now)
    cancelled = open_one(app, clock, requester_id, user_id, asked("full"))
    with app.app_context():
        switches.set_global_switch(False, actor=Actor.system("test"), ip=None, now=clock.now())
        switches.set_global_switch(True, actor=Actor.system("test"), ip=None, now=clock.now())
    assert row(app, cancelled).state == "cancelled"
    open_one(app, clock, requester_id, user_id, asked("full"))
    clock.advance(hours=25)
    with app.app_context():
        assert sweep.sweep(clock.now()).approvals_expired >= 1  # and the approved one, not started
