"""Approvals (DESIGN §11, issue 14): what a request needs, who decides it, how each decision is
recorded once, how an approval is used once, and how open requests end without a decision. On
SQLite and PostgreSQL; the race of two approvers is in tests/postgres/test_approval_race.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from impersonator.extensions import db
from impersonator.models import Notification, Staff, Tenant, User
from impersonator.services.admin import switches
from impersonator.services.approvals import closing, decisions, requests, rules
from impersonator.services.audit import Actor
from impersonator.services.errors import DomainError
from impersonator.services.impersonation import sweep
from impersonator.services.staff import accounts
from tests.support.approvals import allow_peer, asked, open_one, row, set_tenant
from tests.support.records import audit_events


@pytest.fixture
def alice(app, tenants):
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.email == "alice@acme.example"))


@pytest.fixture
def people(make_staff):
    """A requester (impersonator), a security officer, and an impersonator who may approve."""
    return {
        "requester": make_staff("impersonator"),
        "officer": make_staff("security"),
        "peer": make_staff("impersonator"),
    }


def as_staff(app, clock, staff_id, request_id, *, approve=True, **kw):
    with app.app_context():
        approver = db.session.get(Staff, staff_id)
        return decisions.decide_as_staff(
            approver, request_id, approve=approve, note=kw.pop("note", None), ip=None, now=clock.now(), **kw
        ).state


def as_customer(app, clock, user_id, request_id, *, approve=True, note=None):
    with app.app_context():
        user = db.session.get(User, user_id)
        return decisions.decide_as_customer(
            user, request_id, approve=approve, note=note, ip=None, now=clock.now()
        ).state


def refusal(call, *args, **kwargs) -> str:
    with pytest.raises(DomainError) as raised:
        call(*args, **kwargs)
    return raised.value.reason


# --- who must decide ------------------------------------------------------------------------------


def test_full_mode_needs_a_second_person_by_default_and_read_only_does_not(app, clock, alice):
    with app.app_context():
        user = db.session.get(User, alice)
        full = rules.needs(user, "full", break_glass=False, now=clock.now())
        read_only = rules.needs(user, "read_only", break_glass=False, now=clock.now())
    assert (full.staff, full.customer, full.consent) == (True, False, "code")
    assert (read_only.staff, read_only.customer, read_only.any) == (False, False, False)


def test_a_tenant_can_require_a_second_person_for_everything_and_customer_approval(app, clock, alice):
    set_tenant(app, two_person="always", access_policy="approve_each")
    with app.app_context():
        needs = rules.needs(db.session.get(User, alice), "read_only", break_glass=False, now=clock.now())
    assert (needs.staff, needs.customer, needs.consent) == (True, True, "approval")


def test_a_user_chooses_to_approve_each_request_only_where_the_tenant_lets_them(app, clock, alice):
    with app.app_context():
        db.session.get(User, alice).approve_each_request = True
        db.session.commit()
        assert not rules.needs(
            db.session.get(User, alice), "read_only", break_glass=False, now=clock.now()
        ).customer
    set_tenant(app, users_choose_approval=True)
    with app.app_context():
        assert rules.needs(
            db.session.get(User, alice), "read_only", break_glass=False, now=clock.now()
        ).customer


def test_break_glass_replaces_consent_by_a_second_person(app, clock, alice):
    with app.app_context():
        needs = rules.needs(db.session.get(User, alice), "read_only", break_glass=True, now=clock.now())
    assert (needs.staff, needs.customer, needs.consent) == (True, False, "emergency")


# --- reason codes and tickets ---------------------------------------------------------------------


def test_reason_codes_are_a_fixed_list_that_a_tenant_can_narrow(app):
    with app.app_context():
        tenant = Tenant(slug="t", name="T")
        assert rules.check_reason_code(tenant, "billing") == "billing"
        assert refusal(rules.check_reason_code, tenant, "curiosity") == "bad_reason_code"
        tenant.reason_codes = "incident legal"
        assert rules.allowed_reason_codes(tenant) == ("incident", "legal")
        assert refusal(rules.check_reason_code, tenant, "billing") == "reason_code_not_allowed"


def test_a_tenant_can_require_a_ticket_id_of_its_own_format(app):
    tenant = Tenant(slug="t", name="T", ticket_pattern=r"SUP-\d{4,6}")
    rules.check_ticket(tenant, "SUP-12345")
    assert refusal(rules.check_ticket, tenant, None) == "ticket_required"
    assert refusal(rules.check_ticket, tenant, "SUP-12345x") == "ticket_malformed"
    assert refusal(rules.check_ticket, tenant, "xSUP-12345") == "ticket_malformed"
    rules.check_ticket(Tenant(slug="u", name="U"), None)  # no pattern: optional


def test_a_ticket_pattern_must_be_a_regular_expression(app):
    assert rules.valid_ticket_pattern("  ") is None
    assert rules.valid_ticket_pattern(r"[A-Z]+-\d+") == r"[A-Z]+-\d+"
    assert refusal(rules.valid_ticket_pattern, "SUP-(") == "ticket_pattern_invalid"
    assert refusal(rules.valid_ticket_pattern, "a" * 201) == "ticket_pattern_too_long"


# --- who may approve ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "flag", "expected"),
    [
        ("support", True, False),
        ("impersonator", False, False),
        ("impersonator", True, True),
        ("security", False, True),
        ("admin", False, True),
    ],
)
def test_who_holds_approve_roles_and_an_admins_choice(role, flag, expected):
    assert rules.may_approve(Staff(role=role, active=True, may_approve=flag)) is expected
    assert rules.may_approve(Staff(role=role, active=False, may_approve=flag)) is False


# --- requests and decisions -----------------------------------------------------------------------


def test_a_request_is_audited_and_the_customer_is_emailed_when_they_decide(app, clock, alice, people):
    set_tenant(app, access_policy="approve_each")
    request_id = open_one(app, clock, people["requester"].id, alice)

    [event] = audit_events(app, "approval.requested")
    assert event["actor_id"] == people["requester"].id
    assert event["details"]["approval_id"] == request_id
    assert event["details"]["reason_code"] == "customer_request"
    assert event["details"]["needs_customer"] is True
    with app.app_context():
        [notice] = db.session.scalars(select(Notification)).all()
    assert (notice.kind, notice.status) == ("support.approval_wanted", "sent")
    assert "asks to sign in to your account" in notice.body
    assert row(app, request_id).waiting_for == ["customer"]


def test_both_approvals_are_needed_when_both_are_required(app, clock, alice, people):
    set_tenant(app, access_policy="approve_each")
    request_id = open_one(app, clock, people["requester"].id, alice, asked("full"))
    assert row(app, request_id).waiting_for == ["customer", "staff"]

    assert as_customer(app, clock, alice, request_id) == "pending"
    assert row(app, request_id).waiting_for == ["staff"]
    assert as_staff(app, clock, people["officer"].id, request_id) == "approved"

    approved = row(app, request_id)
    assert approved.start_by == clock.now() + timedelta(minutes=30)
    final = [e for e in audit_events(app, "approval.approved") if e["details"]["complete"]]
    assert [e["actor_id"] for e in final] == [people["officer"].id]


def test_the_requester_never_approves_their_own_request(app, clock, alice, people):
    allow_peer(app, people["requester"].id)
    request_id = open_one(app, clock, people["requester"].id, alice, asked("full"))

    assert refusal(as_staff, app, clock, people["requester"].id, request_id) == "own_request"
    assert row(app, request_id).state == "pending"


def test_only_approvers_decide_for_staff(app, clock, alice, people, make_staff):
    request_id = open_one(app, clock, people["requester"].id, alice, asked("full"))

    assert refusal(as_staff, app, clock, people["peer"].id, request_id) == "may_not_approve"
    assert refusal(as_staff, app, clock, make_staff("support").id, request_id) == "may_not_approve"
    allow_peer(app, people["peer"].id)
    assert as_staff(app, clock, people["peer"].id, request_id) == "approved"


def test_an_approver_may_narrow_never_widen(app, clock, alice, people):
    full = open_one(app, clock, people["requester"].id, alice, asked("full", minutes=30))
    assert refusal(as_staff, app, clock, people["officer"].id, full, duration_minutes=60) == "cannot_widen"
    assert (
        as_staff(app, clock, people["officer"].id, full, mode="read_only", duration_minutes=15) == "approved"
    )
    narrowed = row(app, full)
    assert (narrowed.granted_mode, narrowed.granted_minutes) == ("read_only", 15)
    assert (narrowed.mode, narrowed.duration_minutes) == ("full", 30)

    set_tenant(app, two_person="always")
    read_only = open_one(app, clock, people["requester"].id, alice, asked("read_only"))
    assert refusal(as_staff, app, clock, people["officer"].id, read_only, mode="full") == "cannot_widen"


def test_a_denial_closes_the_request_and_a_later_decision_is_told_so(app, clock, alice, people):
    set_tenant(app, access_policy="approve_each")
    request_id = open_one(app, clock, people["requester"].id, alice, asked("full"))

    assert as_customer(app, clock, alice, request_id, approve=False, note="Not now, please") == "denied"
    assert refusal(as_staff, app, clock, people["officer"].id, request_id) == "already_decided"
    assert refusal(as_customer, app, clock, alice, request_id) == "already_decided"
    [denied] = audit_events(app, "approval.denied")
    assert denied["actor_type"] == "customer"
    assert denied["details"]["note"] == "Not now, please"
    assert denied["outcome"] == "denied"


def test_a_customer_decides_only_their_own_requests(app, clock, alice, people, tenants):
    set_tenant(app, access_policy="approve_each")
    request_id = open_one(app, clock, people["requester"].id, alice)
    with app.app_context():
        gina = db.session.scalar(select(User.id).where(User.email == "gina@globex.example"))
    assert refusal(as_customer, app, clock, gina, request_id) == "not_your_decision"


def test_a_request_nobody_answers_expires_in_the_sweep(app, clock, alice, people):
    request_id = open_one(app, clock, people["requester"].id, alice, asked("full"))
    clock.advance(hours=23, minutes=59)
    with app.app_context():
        assert sweep.sweep(clock.now()).approvals_expired == 0
    clock.advance(minutes=1)
    assert refusal(as_staff, app, clock, people["officer"].id, request_id) == "approval_expired"
    with app.app_context():
        assert sweep.sweep(clock.now()).approvals_expired == 1
        assert sweep.sweep(clock.now()).approvals_expired == 0
    assert row(app, request_id).state == "expired"
    [expired] = audit_events(app, "approval.expired")
    assert (expired["actor_label"], expired["details"]["close_reason"]) == ("sweeper", "unanswered")


def test_an_approval_is_used_once_within_its_window(app, clock, alice, people):
    request_id = open_one(app, clock, people["requester"].id, alice, asked("full"))
    as_staff(app, clock, people["officer"].id, request_id)
    with app.app_context():
        requester = db.session.get(Staff, people["requester"].id)
        officer = db.session.get(Staff, people["officer"].id)
        assert (
            refusal(closing.claim, officer, request_id, user_id=alice, now=clock.now()) == "not_your_request"
        )
        assert closing.claim(requester, request_id, user_id=alice, now=clock.now()).state == "used"
        db.session.commit()
        assert (
            refusal(closing.claim, requester, request_id, user_id=alice, now=clock.now()) == "approval_used"
        )


def test_an_approval_not_started_within_its_window_expires(app, clock, alice, people):
    request_id = open_one(app, clock, people["requester"].id, alice, asked("full"))
    as_staff(app, clock, people["officer"].id, request_id)
    clock.advance(minutes=30)
    with app.app_context():
        requester = db.session.get(Staff, people["requester"].id)
        assert (
            refusal(closing.claim, requester, request_id, user_id=alice, now=clock.now())
            == "approval_expired"
        )
        db.session.rollback()
        assert sweep.sweep(clock.now()).approvals_expired == 1
    assert [e["details"]["close_reason"] for e in audit_events(app, "approval.expired")] == ["not_started"]


def test_the_requester_withdraws_an_open_request_and_nobody_else_can(app, clock, alice, people):
    request_id = open_one(app, clock, people["requester"].id, alice, asked("full"))
    with app.app_context():
        officer = db.session.get(Staff, people["officer"].id)
        assert refusal(requests.withdraw, officer, request_id, ip=None, now=clock.now()) == "not_your_request"
        requester = db.session.get(Staff, people["requester"].id)
        assert requests.withdraw(requester, request_id, ip=None, now=clock.now()).state == "withdrawn"
        assert (
            refusal(requests.withdraw, requester, request_id, ip=None, now=clock.now()) == "approval_closed"
        )
    assert len(audit_events(app, "approval.withdrawn")) == 1


def test_the_kill_switch_the_tenant_switch_and_lost_standing_cancel_open_requests(app, clock, alice, people):
    admin = Actor.system("test")
    first = open_one(app, clock, people["requester"].id, alice, asked("full"))
    with app.app_context():
        switches.set_global_switch(False, actor=admin, ip=None, now=clock.now())
        switches.set_global_switch(True, actor=admin, ip=None, now=clock.now())
    second = open_one(app, clock, people["requester"].id, alice, asked("full"))
    with app.app_context():
        tenant_id = db.session.scalar(select(Tenant.id).where(Tenant.slug == "acme"))
        wanted = switches.TenantSettings.of(db.session.get(Tenant, tenant_id))
        off = switches.TenantSettings(**{**wanted.__dict__, "impersonation_enabled": False})
        switches.update_tenant(tenant_id, off, actor=admin, ip=None, now=clock.now())
        switches.update_tenant(tenant_id, wanted, actor=admin, ip=None, now=clock.now())
    third = open_one(app, clock, people["requester"].id, alice, asked("full"))
    with app.app_context():
        accounts.disable_staff(
            db.session.get(Staff, people["requester"].id), actor=admin, ip=None, now=clock.now()
        )

    reasons = {
        e["details"]["approval_id"]: e["details"]["close_reason"]
        for e in audit_events(app, "approval.cancelled")
    }
    assert reasons == {first: "switched_off", second: "policy_changed", third: "staff_disabled"}


# --- break-glass ----------------------------------------------------------------------------------


def test_break_glass_only_for_incidents_and_accounts_without_consent(app, clock, alice, people):
    with app.app_context():
        requester, user = db.session.get(Staff, people["requester"].id), db.session.get(User, alice)
        assert refusal(rules.check_break_glass, requester, user, "billing", now=clock.now()) == (
            "break_glass_needs_incident"
        )
        rules.check_break_glass(requester, user, "incident", now=clock.now())
        user.support_access_opt_in_until = clock.now() + timedelta(hours=1)
        assert refusal(rules.check_break_glass, requester, user, "incident", now=clock.now()) == (
            "break_glass_not_needed"
        )


def test_break_glass_alerts_emails_the_customer_at_once_and_waits_for_a_review(app, clock, alice, people):
    glass = open_one(
        app, clock, people["requester"].id, alice, asked("full", reason_code="incident", glass=True)
    )

    [alert] = [e for e in audit_events(app, "security.alert") if e["details"]["kind"] == "break_glass"]
    assert alert["details"]["approval_id"] == glass
    with app.app_context():
        [notice] = db.session.scalars(select(Notification)).all()
        assert notice.kind == "support.break_glass"
        requester = db.session.get(Staff, people["requester"].id)
        user = db.session.get(User, alice)
        # Even while it is only pending, a second glass waits for the first one's review.
        assert refusal(rules.check_break_glass, requester, user, "incident", now=clock.now()) == (
            "break_glass_review_pending"
        )
    as_staff(app, clock, people["officer"].id, glass)
    with app.app_context():
        requester = db.session.get(Staff, people["requester"].id)
        closing.claim(requester, glass, user_id=alice, now=clock.now())
        db.session.commit()
        review = "Outage INC-7: read the customer's failing export; justified."
        officer = db.session.get(Staff, people["officer"].id)
        assert refusal(
            decisions.review_break_glass, requester, glass, note=review, ip=None, now=clock.now()
        ) == ("may_not_review")
        assert refusal(decisions.review_break_glass, officer, glass, note="ok", ip=None, now=clock.now()) == (
            "review_too_short"
        )
        decisions.review_break_glass(officer, glass, note=review, ip=None, now=clock.now())
        assert refusal(
            decisions.review_break_glass, officer, glass, note=review, ip=None, now=clock.now()
        ) == ("already_decided")
        rules.check_break_glass(requester, db.session.get(User, alice), "incident", now=clock.now())
    [reviewed] = audit_events(app, "approval.reviewed")
    assert reviewed["actor_id"] == people["officer"].id


def test_a_security_officer_cannot_review_their_own_break_glass(app, clock, alice, make_staff):
    officer, other = make_staff("admin"), make_staff("security")
    glass = open_one(app, clock, officer.id, alice, asked("read_only", reason_code="incident", glass=True))
    as_staff(app, clock, other.id, glass)
    with app.app_context():
        closing.claim(db.session.get(Staff, officer.id), glass, user_id=alice, now=clock.now())
        db.session.commit()
        me = db.session.get(Staff, officer.id)
        note = "My own emergency, reviewed by me: never allowed."
        assert (
            refusal(decisions.review_break_glass, me, glass, note=note, ip=None, now=clock.now())
            == "own_request"
        )


# --- events out -----------------------------------------------------------------------------------


def test_every_approval_event_can_reach_webhooks():
    from impersonator.models import WEBHOOK_EVENTS

    for action in ("requested", "approved", "denied", "expired", "withdrawn", "cancelled", "reviewed"):
        assert f"approval.{action}" in WEBHOOK_EVENTS
