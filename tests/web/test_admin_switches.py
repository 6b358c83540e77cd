"""The admin's switches page (issue 5 §5; DESIGN I1, I4, I5): the global kill switch and each tenant's
switch, access policy and notice defaults. Every change audited with old and new value; a save that
changes nothing writes nothing; switching off ends the sessions it covers at once."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from impersonator.extensions import db
from impersonator.models import MASK_CATEGORIES, REASON_CODES, Tenant
from tests.support.impersonation import (
    BANNER,
    ENDED_TITLE,
    launch,
    launch_and_redeem,
    minutes,
    opt_in,
    redeem,
    update_tenant,
    user_id,
)
from tests.support.records import audit_actions, audit_events
from tests.support.web import ACME, CONSOLE, GLOBEX, csrf_token, flashes, sign_in

PAGE = "/admin/switches/"


@pytest.fixture
def ghost(client, agent, alice, clock):
    """A support agent's browser impersonating Alice (Acme)."""
    assert launch_and_redeem(client, agent, clock, alice).redeemed.status_code == 303
    assert BANNER in client.get("/", base_url=ACME).text
    return client


def tenant_row(app, slug: str) -> Tenant:
    with app.app_context():
        tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug))
        db.session.expunge(tenant)
        return tenant


def switch_global(admin, enabled: str, confirm: bool = True, follow: bool = False):
    token = csrf_token(admin.get(PAGE, base_url=CONSOLE).text)
    data = {"csrf_token": token, "enabled": enabled}
    if confirm:
        data["confirm"] = "y"
    return admin.post("/admin/switches/global", base_url=CONSOLE, data=data, follow_redirects=follow)


def save_tenant(admin, tenant_id: int, follow: bool = False, **values):
    """Post a tenant's form the way the page does: ticked boxes are sent, unticked ones are not."""
    defaults = {
        "impersonation_enabled": True,
        "access_policy": "opt_in_or_code",
        "notify_on_access_default": True,
        "hide_justification": False,
        "two_person": "full",
        "users_choose_approval": False,
        "reason_codes": list(REASON_CODES),
        "reveal_categories": list(MASK_CATEGORIES),
        "reveal_whole_category": False,
        "reveals_full_mode_only": False,
    }
    wanted = defaults | values
    data = {"csrf_token": csrf_token(admin.get(PAGE, base_url=CONSOLE).text)}
    for name, value in wanted.items():
        if value is True:
            data[f"tenant-{tenant_id}-{name}"] = "y"
        elif value is not False:
            data[f"tenant-{tenant_id}-{name}"] = value
    return admin.post(
        f"/admin/switches/tenants/{tenant_id}", base_url=CONSOLE, data=data, follow_redirects=follow
    )


# --- the page --------------------------------------------------------------------------------------


def test_the_page_shows_the_switch_the_open_sessions_and_every_tenant(app, admin, ghost, tenants):
    page = admin.get(PAGE, base_url=CONSOLE)

    assert page.status_code == 200
    assert 'class="switch-state switch-on">on<' in page.text
    assert "1 ghost session is live right now" in page.text
    assert "Switch impersonation off for everyone" in page.text
    assert "Acme" in page.text and "Globex" in page.text
    assert "acme.localhost" in page.text
    acme = tenants["acme"]
    assert f'action="/admin/switches/tenants/{acme}"' in page.text
    assert f'name="tenant-{acme}-impersonation_enabled"' in page.text


def test_i11_tenant_names_are_escaped_on_the_page(app, admin, tenants):
    update_tenant(app, tenants["acme"], name="<script>alert(1)</script> & Co")

    page = admin.get(PAGE, base_url=CONSOLE).text

    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in page


# --- the global kill switch -----------------------------------------------------------------------


def test_i11_the_kill_switch_without_its_confirmation_box_is_a_400_that_changes_nothing(app, admin, ghost):
    before = audit_actions(app)

    response = switch_global(admin, "off", confirm=False)

    assert response.status_code == 400
    assert "Tick the box to confirm" in response.text
    assert audit_actions(app) == before
    assert BANNER in ghost.get("/", base_url=ACME).text


def test_i4_the_kill_switch_ends_every_open_impersonation_audited(
    app, admin, ghost, make_staff, clock, tenants
):
    # A second agent holds a token for Globex's Gina that was never used: redemption refuses it.
    other = make_staff("support")
    other_browser = app.test_client()
    sign_in(other_browser, other, clock)
    gina = user_id(app, "gina@globex.example")
    opt_in(app, gina, clock.now() + minutes(60))
    _, unused_token = launch(other_browser, other, clock, gina)

    response = switch_global(admin, "off", follow=True)

    assert response.status_code == 200
    assert flashes(response) == ["Impersonation is off for everyone. 1 live ghost session ended."]
    assert 'class="switch-state switch-off">off<' in response.text
    [change] = audit_events(app, "settings.impersonation_switch")
    assert change["details"] == {"old": "on", "new": "off"}
    assert change["actor_type"] == "staff"
    [ended] = audit_events(app, "impersonation.ended")
    assert ended["details"]["reason"] == "switched_off" and ended["actor_type"] == "staff"
    page = ghost.get("/", base_url=ACME)
    assert page.status_code == 403
    assert ENDED_TITLE in page.text and "Ended: support access was switched off." in page.text
    refused = redeem(other_browser, unused_token, host=GLOBEX)
    assert refused.status_code == 403
    assert "switched off for everyone" in refused.text
    assert BANNER not in other_browser.get("/", base_url=GLOBEX).text


def test_i5_switching_on_again_is_audited_and_revives_nothing(app, admin, ghost):
    switch_global(admin, "off")

    response = switch_global(admin, "on", follow=True)

    assert flashes(response) == ["Impersonation is on again. Nothing that was ended comes back."]
    changes = [e["details"] for e in audit_events(app, "settings.impersonation_switch")]
    assert changes == [{"old": "on", "new": "off"}, {"old": "off", "new": "on"}]
    assert BANNER not in ghost.get("/", base_url=ACME).text


def test_switching_to_the_state_it_is_in_writes_nothing(app, admin):
    before = audit_actions(app)

    response = switch_global(admin, "on", follow=True)

    assert flashes(response) == ["Impersonation was already on."]
    assert audit_actions(app) == before


def test_i11_a_made_up_switch_value_is_refused(app, admin):
    before = audit_actions(app)

    response = switch_global(admin, "maybe")

    assert response.status_code == 400
    assert flashes(response) == ["Choose on or off."]
    assert audit_actions(app) == before


# --- tenants ----------------------------------------------------------------------------------------


def test_i1_a_tenant_change_is_audited_with_old_and_new_values(app, admin, ghost, tenants):
    acme = tenants["acme"]

    response = save_tenant(admin, acme, follow=True, access_policy="code_always", hide_justification=True)

    assert flashes(response) == ["Saved the settings of Acme."]
    row = tenant_row(app, "acme")
    assert (row.access_policy, row.hide_justification, row.impersonation_enabled) == (
        "code_always",
        True,
        True,
    )
    [event] = audit_events(app, "tenant.settings_changed")
    assert event["target_id"] == acme and event["actor_type"] == "staff"
    assert event["details"] == {
        "tenant": "acme",
        "changes": {
            "access_policy": {"old": "opt_in_or_code", "new": "code_always"},
            "hide_justification": {"old": False, "new": True},
        },
        "sessions_ended": 0,
    }
    assert BANNER in ghost.get("/", base_url=ACME).text  # stricter consent rules end nothing live


def test_the_reveal_policy_is_saved_and_audited(app, admin, tenants):
    acme = tenants["acme"]

    response = save_tenant(
        admin, acme, follow=True, reveal_categories=["payment", "contact"], reveal_whole_category=True
    )

    assert flashes(response) == ["Saved the settings of Acme."]
    row = tenant_row(app, "acme")
    assert (row.reveal_categories, row.reveal_whole_category, row.reveals_full_mode_only) == (
        "payment contact",
        True,
        False,
    )
    [event] = audit_events(app, "tenant.settings_changed")
    assert event["details"]["changes"] == {
        "reveal_categories": {"old": None, "new": "payment contact"},
        "reveal_whole_category": {"old": False, "new": True},
    }
    page = admin.get(PAGE, base_url=CONSOLE).text
    boxes = re.findall(
        rf'<input (checked )?[^>]*name="tenant-{acme}-reveal_categories"[^>]*value="(\w+)"', page
    )
    assert boxes == [
        ("checked ", "payment"),
        ("", "government_id"),
        ("checked ", "contact"),
        ("", "private_notes"),
    ]

    save_tenant(admin, acme, reveal_categories=[])  # none ticked: no reveal at all
    assert tenant_row(app, "acme").reveal_categories == ""


def test_a_tenant_save_that_changes_nothing_writes_nothing(app, admin, tenants):
    before = audit_actions(app)

    response = save_tenant(admin, tenants["acme"], follow=True)

    assert flashes(response) == ["Nothing changed for Acme."]
    assert audit_actions(app) == before


def test_the_notice_default_can_be_turned_off_and_on(app, admin, tenants):
    save_tenant(admin, tenants["acme"], notify_on_access_default=False)
    assert tenant_row(app, "acme").notify_on_access_default is False

    save_tenant(admin, tenants["acme"], notify_on_access_default=True)
    assert tenant_row(app, "acme").notify_on_access_default is True
    changes = [e["details"]["changes"] for e in audit_events(app, "tenant.settings_changed")]
    assert changes == [
        {"notify_on_access_default": {"old": True, "new": False}},
        {"notify_on_access_default": {"old": False, "new": True}},
    ]


@pytest.mark.parametrize(
    "values",
    [{"impersonation_enabled": False}, {"access_policy": "off"}],
    ids=["impersonation-off", "policy-off"],
)
def test_i4_switching_a_tenant_off_ends_its_sessions_at_once_and_no_other(
    app, admin, ghost, make_staff, clock, tenants, values
):
    response = save_tenant(admin, tenants["acme"], follow=True, **values)

    assert flashes(response) == ["Saved the settings of Acme. 1 live ghost session ended."]
    [ended] = audit_events(app, "impersonation.ended")
    assert ended["details"]["reason"] == "policy_changed"
    assert ended["actor_type"] == "staff"  # the admin ended it, in the same transaction as the change
    [change] = audit_events(app, "tenant.settings_changed")
    assert change["details"]["sessions_ended"] == 1
    page = ghost.get("/", base_url=ACME)
    assert page.status_code == 403
    assert "Ended: the customer&#39;s access rules changed." in page.text


def test_i5_a_tenant_switched_off_refuses_new_requests(app, admin, client, agent, alice, clock, tenants):
    save_tenant(admin, tenants["acme"], impersonation_enabled=False)

    page = client.get(f"/users/{alice}", base_url=CONSOLE)

    assert "impersonation off for this tenant" in page.text
    assert "Start impersonation" not in page.text


def test_i11_an_unknown_access_policy_is_refused_and_changes_nothing(app, admin, tenants):
    before = audit_actions(app)

    response = save_tenant(admin, tenants["acme"], access_policy="everyone")

    assert response.status_code == 400
    assert "Not a valid choice" in response.text
    assert tenant_row(app, "acme").access_policy == "opt_in_or_code"
    assert audit_actions(app) == before


def test_an_unknown_tenant_is_404(app, admin, tenants):
    response = save_tenant(admin, 999999, access_policy="off")

    assert response.status_code == 404
