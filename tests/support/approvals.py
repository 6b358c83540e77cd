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
