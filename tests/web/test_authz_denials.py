"""Issue 11, item 1: every console refusal for a missing permission is an `authz.denied` audit event
(DESIGN I1), coalesced per session and permission so that a crawler cannot flood the chain (I9), and
a burst from one staff member raises one security alert."""

from __future__ import annotations

import re

import pytest
from sqlalchemy.exc import OperationalError

from impersonator.models import ROLES
from impersonator.services import audit
from impersonator.services.audit.alerts import AUTHZ_DENIAL_BURST
from impersonator.services.audit.authz_denials import COALESCE_WINDOW
from impersonator.services.staff.roles import GRANTS, Permission
from tests.support.impersonation import user_id
from tests.support.records import audit_events, staff_sessions
from tests.support.web import CONSOLE, csrf_token, sign_in
from tests.support.webhooks import messages

REFUSED = "You do not have permission to do that."
CLIENT_IP = "127.0.0.1"  # the test client's address


def page_token(client) -> str:
    """A fresh CSRF token from the home page (its sign-out form), which every role may open."""
    return csrf_token(client.get("/", base_url=CONSOLE).text)


def impersonation_form(client) -> dict:
    return {
        "csrf_token": page_token(client),
        "justification": "Customer asked us to look at the failing export",
        "ticket": "",
        "duration": "30",
        "mode": "read_only",
        "totp_code": "123456",
        "access_code": "",
    }


def alerts_of(app, kind: str) -> list[dict]:
    return [event for event in audit_events(app, "security.alert") if event["details"]["kind"] == kind]


@pytest.mark.parametrize("role", ["security", "admin"])
def test_i1_security_and_admin_starting_an_impersonation_are_refused_and_audited(
    app, client, make_staff, clock, tenants, role
):
    member = make_staff(role)
    sign_in(client, member, clock)
    alice = user_id(app, "alice@acme.example")

    response = client.post(f"/users/{alice}/impersonate", base_url=CONSOLE, data=impersonation_form(client))

    assert response.status_code == 403
    assert REFUSED in response.text
    [event] = audit_events(app, "authz.denied")
    [session] = staff_sessions(app, member.id)
    assert event["actor_type"] == "staff"
    assert event["actor_id"] == member.id
    assert event["actor_label"] == member.email
    assert event["outcome"] == "denied"
    assert event["ip"] == CLIENT_IP
    assert event["details"] == {
        "permission": "impersonate_read_only",
        "path": f"/users/{alice}/impersonate",
        "method": "POST",
        "ip": CLIENT_IP,
        "session_id": session.id,
        "suppressed": 0,
    }
    # The refusal wrote nothing else (no impersonation was requested).
    assert audit_events(app, "impersonation.requested") == []
    assert audit_events(app, "impersonation.denied") == []


def permission_of(app, endpoint: str) -> Permission | None:
    return getattr(app.view_functions[endpoint], "permission", None)


def test_i1_every_view_refused_for_a_missing_permission_is_audited(app, make_staff, clock, tenants):
    """Completeness over the console's URL map: every view that names a permission, asked by every
    role that lacks it (the roles table, services/staff/roles.py), answers 403 and writes one event."""
    refusals = {
        role: [
            rule
            for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule)
            if (permission := permission_of(app, rule.endpoint)) is not None
            and permission not in GRANTS[role]
        ]
        for role in ROLES
    }
    assert sum(map(len, refusals.values())) > 20  # admin and audit pages and POSTs: not an empty table

    problems = []
    for role, rules in refusals.items():
        browser = app.test_client()  # signed in just before its turn, so it never sits idle
        sign_in(browser, make_staff(role), clock)
        for rule in rules:
            # Past the coalescing window, so that each refusal is an event of its own.
            clock.advance(seconds=COALESCE_WINDOW.total_seconds())
            path = re.sub(r"<[^>]+>", "1", rule.rule)
            method = "GET" if "GET" in rule.methods else "POST"
            data = {"csrf_token": page_token(browser)} if method == "POST" else None
            before = len(audit_events(app, "authz.denied"))

            response = browser.open(path, method=method, base_url=CONSOLE, data=data)

            events = audit_events(app, "authz.denied")[before:]
            expected = {"permission": str(permission_of(app, rule.endpoint)), "path": path, "method": method}
            if response.status_code != 403:
                problems.append(f"{role} {method} {path}: answered {response.status_code}")
            elif [{key: e["details"][key] for key in expected} for e in events] != [expected]:
                problems.append(f"{role} {method} {path}: events {[e['details'] for e in events]}")

    assert not problems, "\n".join(problems)


def test_i1_fifty_refusals_in_a_row_are_coalesced_counted_and_raise_one_alert(
    make_app, app, make_staff, clock, runner
):
    # Slack on: the alert reaches the outbox like every security alert does.
    slack_app = make_app(SLACK_WEBHOOK_URL="https://hooks.slack.example/services/T/B/X")
    browser = slack_app.test_client()
    member = make_staff("support")
    sign_in(browser, member, clock)

    answers = {browser.get("/admin/staff/", base_url=CONSOLE).status_code for _ in range(50)}

    assert answers == {403}
    [event] = audit_events(app, "authz.denied")
    assert event["details"]["suppressed"] == 0
    [alert] = alerts_of(app, "authz_denied_burst")
    assert alert["actor_id"] == member.id
    assert alert["details"]["refusals"] == AUTHZ_DENIAL_BURST.threshold
    assert [m.event_type for m in messages(app, "slack")] == ["security.alert"]

    # The next event for that session and permission carries the count of the coalesced ones.
    clock.advance(seconds=COALESCE_WINDOW.total_seconds())
    assert browser.get("/admin/outbox/", base_url=CONSOLE).status_code == 403
    events = audit_events(app, "authz.denied")
    assert len(events) == 2
    assert events[-1]["details"]["suppressed"] == 49
    assert len(alerts_of(app, "authz_denied_burst")) == 1
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output


def test_i1_refusals_of_different_permissions_are_events_of_their_own(app, client, make_staff, clock):
    sign_in(client, make_staff("support"), clock)

    for path in ("/admin/staff/", "/admin/staff/", "/audit/", "/audit/"):
        assert client.get(path, base_url=CONSOLE).status_code == 403

    assert [e["details"]["permission"] for e in audit_events(app, "authz.denied")] == ["admin", "audit"]
    assert alerts_of(app, "authz_denied_burst") == []


def test_a_burst_alert_needs_the_refusals_within_the_window(app, client, make_staff, clock):
    sign_in(client, make_staff("support"), clock)
    spread = AUTHZ_DENIAL_BURST.window / (AUTHZ_DENIAL_BURST.threshold - 1)

    for _ in range(AUTHZ_DENIAL_BURST.threshold):
        assert client.get("/admin/staff/", base_url=CONSOLE).status_code == 403
        clock.advance(seconds=spread.total_seconds() + 1)

    assert alerts_of(app, "authz_denied_burst") == []


def test_i1_a_refusal_whose_audit_write_fails_is_still_a_403(app, client, make_staff, clock, monkeypatch):
    sign_in(client, make_staff("support"), clock)
    real_record = audit.record

    def record(action, **kwargs):
        if action == "authz.denied":
            raise OperationalError("INSERT INTO audit_event", {}, Exception("disk I/O error"))
        return real_record(action, **kwargs)

    monkeypatch.setattr(audit, "record", record)

    response = client.get("/admin/staff/", base_url=CONSOLE)

    assert response.status_code == 403
    assert REFUSED in response.text
    assert audit_events(app, "authz.denied") == []
    monkeypatch.setattr(audit, "record", real_record)
    # Nothing half-written stayed behind: the next refusal is recorded as the first.
    assert client.get("/admin/staff/", base_url=CONSOLE).status_code == 403
    [event] = audit_events(app, "authz.denied")
    assert event["details"]["suppressed"] == 0
    assert client.get("/", base_url=CONSOLE).status_code == 200


def test_a_permitted_page_writes_no_refusal(app, client, make_staff, clock):
    sign_in(client, make_staff("admin"), clock)

    assert client.get("/admin/staff/", base_url=CONSOLE).status_code == 200

    assert audit_events(app, "authz.denied") == []
