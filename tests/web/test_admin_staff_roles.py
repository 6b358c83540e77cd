"""Changing a staff member's role (issue 5 §5; DESIGN I1, I4, I6): audited with its old and new
value; a role that may no longer hold a ghost session's mode ends it at once; only admins manage staff."""

from __future__ import annotations

import pytest

from tests.support.impersonation import BANNER, ENDED_TITLE, launch_and_redeem, the_impersonation
from tests.support.records import audit_actions, audit_events, staff_row
from tests.support.staff_admin import admin_post, member_id
from tests.support.web import ACME, CONSOLE, csrf_token, flashes, sign_in


def change_role(admin, staff_id: int, role: str, **kwargs):
    return admin_post(admin, f"/admin/staff/{staff_id}/role", {f"staff-{staff_id}-role": role}, **kwargs)


def test_i1_a_role_change_is_audited_with_old_and_new(app, admin, make_staff):
    member = make_staff("support")

    response = change_role(admin, member.id, "security", follow_redirects=True)

    assert flashes(response) == ["Support Person is now Security team (was Support agent)."]
    assert staff_row(app, member.id).role == "security"
    [event] = audit_events(app, "staff.role_changed")
    assert event["target_id"] == member.id
    assert event["details"]["role"] == {"old": "support", "new": "security"}
    assert event["details"]["impersonations_ended"] == 0


def test_the_same_role_again_writes_nothing(app, admin, make_staff):
    member = make_staff("support")
    before = audit_actions(app)

    response = change_role(admin, member.id, "support", follow_redirects=True)

    assert flashes(response) == ["Support Person already has that role."]
    assert audit_actions(app) == before


def test_i4_a_role_without_impersonation_ends_the_ghost_at_once(app, admin, client, make_staff, alice, clock):
    member = make_staff("support")
    sign_in(client, member, clock)
    launch_and_redeem(client, member, clock, alice)
    assert BANNER in client.get("/", base_url=ACME).text

    change_role(admin, member.id, "security")

    assert the_impersonation(app).end_reason == "staff_disabled"
    page = client.get("/", base_url=ACME)
    assert page.status_code == 403
    assert ENDED_TITLE in page.text and "Ended: your access was withdrawn." in page.text
    [event] = audit_events(app, "staff.role_changed")
    assert event["details"]["impersonations_ended"] == 1
    assert [e["details"]["reason"] for e in audit_events(app, "impersonation.ended")] == ["staff_disabled"]
    assert client.get(f"/users/{alice}", base_url=CONSOLE).status_code == 200  # security may still search


def test_i4_a_role_that_keeps_the_mode_keeps_the_ghost(app, admin, client, make_staff, alice, clock):
    member = make_staff("support")
    sign_in(client, member, clock)
    launch_and_redeem(client, member, clock, alice)

    change_role(admin, member.id, "impersonator")

    assert BANNER in client.get("/", base_url=ACME).text
    assert the_impersonation(app).ended_at is None


def test_i4_from_impersonator_to_support_ends_a_full_mode_session(
    app, admin, client, make_staff, alice, clock
):
    member = make_staff("impersonator")
    sign_in(client, member, clock)
    launch_and_redeem(client, member, clock, alice, mode="full")

    change_role(admin, member.id, "support")

    assert ENDED_TITLE in client.get("/", base_url=ACME).text
    assert the_impersonation(app).end_reason == "staff_disabled"


def test_an_admin_cannot_change_their_own_role(app, admin, admin_account):
    page = admin.get("/admin/staff/", base_url=CONSOLE).text
    before = audit_actions(app)

    response = change_role(admin, admin_account.id, "support", follow_redirects=True)

    assert f'action="/admin/staff/{admin_account.id}/role"' not in page
    assert flashes(response) == ["You cannot change your own role."]
    assert staff_row(app, admin_account.id).role == "admin"
    assert audit_actions(app) == before


def test_i11_a_made_up_role_is_refused(app, admin, make_staff):
    member = make_staff("support")
    before = audit_actions(app)

    response = change_role(admin, member.id, "superuser")

    assert response.status_code == 400
    assert flashes(response) == ["Choose one of the roles offered."]
    assert staff_row(app, member.id).role == "support"
    assert audit_actions(app) == before


def test_unknown_members_are_404(app, admin):
    for action in ("role", "invite", "disable", "reset-totp"):
        assert admin_post(admin, f"/admin/staff/999999/{action}").status_code == 404


# --- only admins ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["support", "impersonator", "security"])
@pytest.mark.parametrize("action", ["create", "role", "invite"])
def test_roles_only_an_admin_may_create_members_change_roles_or_make_links(
    app, client, make_staff, clock, role, action
):
    target = make_staff("support")
    sign_in(client, make_staff(role), clock)
    before = audit_actions(app)
    token = csrf_token(client.get("/", base_url=CONSOLE).text)
    path, data = {
        "create": ("/admin/staff/", {"email": "x@staff.example", "name": "X", "role": "admin"}),
        "role": (f"/admin/staff/{target.id}/role", {f"staff-{target.id}-role": "admin"}),
        "invite": (f"/admin/staff/{target.id}/invite", {}),
    }[action]

    response = client.post(path, base_url=CONSOLE, data={"csrf_token": token, **data})

    assert response.status_code == 403
    assert staff_row(app, target.id).role == "support"
    assert member_id(app, "x@staff.example") is None
    # Nothing changed; the refusal itself is on the record (issue 11).
    assert audit_actions(app) == [*before, ("authz.denied", "denied")]
