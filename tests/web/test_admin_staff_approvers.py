"""Who approves other members' requests (DESIGN §7, §11): security officers and administrators by
their role; an impersonator only when an admin lets them, on the Staff page; audited; never oneself."""

from __future__ import annotations

import pytest

from impersonator.extensions import db
from impersonator.models import Staff
from impersonator.services.approvals import rules
from impersonator.services.audit import Actor
from impersonator.services.errors import NotAllowed
from impersonator.services.staff import accounts
from tests.support.records import audit_actions, audit_events, staff_row
from tests.support.staff_admin import STAFF_PAGE, admin_post
from tests.support.web import CONSOLE, csrf_token, flashes, sign_in


def set_approver(admin, staff_id: int, allowed: str, **kwargs):
    return admin_post(admin, f"/admin/staff/{staff_id}/may-approve", {"allowed": allowed}, **kwargs)


def may_approve(app, staff_id: int) -> bool:
    with app.app_context():
        return rules.may_approve(db.session.get(Staff, staff_id))


def test_an_admin_lets_an_impersonator_approve_and_stops_it_audited(app, admin, make_staff):
    member = make_staff("impersonator")
    assert not may_approve(app, member.id)
    page = admin.get(STAFF_PAGE, base_url=CONSOLE).text
    assert "Let approve requests" in page and "approves requests</span>" not in page

    response = set_approver(admin, member.id, "yes", follow_redirects=True)

    assert flashes(response) == ["Impersonator Person may now approve other staff members' requests."]
    assert "approves requests</span>" in response.text and "Stop approving requests" in response.text
    assert may_approve(app, member.id)
    [event] = audit_events(app, "staff.approver_changed")
    assert event["target_id"] == member.id
    assert event["details"]["may_approve"] == {"old": False, "new": True}

    response = set_approver(admin, member.id, "no", follow_redirects=True)

    assert flashes(response) == ["Impersonator Person no longer approves other staff members' requests."]
    assert not may_approve(app, member.id)
    assert [e["details"]["may_approve"]["new"] for e in audit_events(app, "staff.approver_changed")] == [
        True,
        False,
    ]


def test_the_same_setting_again_writes_nothing(app, admin, make_staff):
    member = make_staff("impersonator")
    before = audit_actions(app)

    response = set_approver(admin, member.id, "no", follow_redirects=True)

    assert flashes(response) == []
    assert audit_actions(app) == before


def test_other_roles_approve_by_role_and_are_not_set_here(app, admin, make_staff):
    support, officer = make_staff("support"), make_staff("security")

    for member in (support, officer):
        response = set_approver(admin, member.id, "yes", follow_redirects=True)
        assert flashes(response) == [
            "Only an impersonator's approving is set here: other roles approve by their role."
        ]
        assert staff_row(app, member.id).may_approve is False
    assert not may_approve(app, support.id) and may_approve(app, officer.id)
    assert audit_events(app, "staff.approver_changed") == []


def test_nobody_changes_their_own_approving(app, make_staff, clock):
    member = make_staff("impersonator")
    with app.app_context():
        me = db.session.get(Staff, member.id)
        with pytest.raises(NotAllowed) as refused:
            accounts.set_may_approve(me, True, actor=Actor.staff(me), ip=None, now=clock.now())
        assert refused.value.reason == "self_approver_change"
    assert staff_row(app, member.id).may_approve is False


def test_a_new_role_starts_without_approving(app, admin, make_staff):
    member = make_staff("impersonator")
    set_approver(admin, member.id, "yes")

    admin_post(admin, f"/admin/staff/{member.id}/role", {f"staff-{member.id}-role": "support"})
    admin_post(admin, f"/admin/staff/{member.id}/role", {f"staff-{member.id}-role": "impersonator"})

    assert staff_row(app, member.id).may_approve is False
    assert not may_approve(app, member.id)


def test_only_admins_set_approvers(app, client, make_staff, clock):
    member = make_staff("impersonator")
    officer = make_staff("security")
    sign_in(client, officer, clock)
    token = csrf_token(client.get("/", base_url=CONSOLE).text)

    data = {"csrf_token": token, "allowed": "yes"}
    response = client.post(f"/admin/staff/{member.id}/may-approve", base_url=CONSOLE, data=data)

    assert response.status_code == 403
    assert staff_row(app, member.id).may_approve is False
