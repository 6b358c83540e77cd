"""DESIGN §7: who may open which console page. Deny by default: a view is public or names its permission."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Blueprint
from sqlalchemy import select

from config import TestingConfig
from impersonator import create_app, web
from impersonator.console.access import requires
from impersonator.extensions import db
from impersonator.models import ROLES, User
from impersonator.services.staff.roles import Permission
from tests.support.records import audit_actions, staff_row, staff_sessions
from tests.support.web import CONSOLE, csrf_token, flashes, sign_in
from tests.web.cases import admin, api_keys, approvals, audit

# The console pages anyone may open: the way in and the way out. Adding one is a decision.
PUBLIC_ENDPOINTS = {
    "static",
    "sign_in.form",
    "sign_in.submit",
    "sign_in.code",
    "sign_in.enrol",
    "sign_in.sign_out",
    # A new staff member's one-time enrolment link: the link is the credential.
    "staff_invites.opener",
    "staff_invites.open_link",
    "staff_invites.submit",
    "staff_invites.token_in_address",
    # Probes of load balancers and orchestrators: one word of state, nothing else (tests/web/test_health.py).
    "health.healthz",
    "health.readyz",
    # The public keys that verify act tokens, for the product's back-ends (tests/web/test_jwks.py).
    "jwks.keys",
    # The JSON API: never the sign-in cookie; its own bearer-key and scope check (console/api/).
    "api.openapi",
    "api.impersonations",
    "api.impersonation",
    "api.live_sessions",
    "api.terminate_session",
    "api.audit_events",
}
PUBLIC_TENANT_ENDPOINTS = {
    "static",
    "customer_sign_in.form",
    "customer_sign_in.submit",
    "customer_sign_in.sign_out",
    # The handoff arrives before anyone is signed in on the tenant domain; End checks the ghost itself.
    "impersonation.redeem",
    "impersonation.end",
    # The page *End* lands on: the ghost session is over, so nobody is signed in there any more.
    "impersonation.ended",
    # A GET of the redemption address: refused (405) to everyone, cancelling a token it carries.
    "impersonation.redeem_refused",
}
_NAV = re.compile(r"<nav[^>]*>(.*?)</nav>", re.S)


# Built at collection time (the factory does no I/O) so that every rule is a test of its own.
BUILT = create_app(TestingConfig)
CONSOLE_RULES = sorted(BUILT.url_map.iter_rules(), key=lambda rule: rule.rule)


def concrete(rule_path: str) -> str:
    """A URL matching the rule: every variable part becomes 1."""
    return re.sub(r"<[^>]+>", "1", rule_path)


def nav_links(html: str) -> str:
    match = _NAV.search(html)
    return match.group(1) if match else ""


def page_token(client, path: str = "/") -> str:
    """The CSRF token of the page's first form (on a signed-in console page: the sign-out form)."""
    response = client.get(path, base_url=CONSOLE)
    assert response.status_code == 200
    return csrf_token(response.text)


@pytest.mark.parametrize("rule", CONSOLE_RULES, ids=lambda rule: f"{rule.endpoint}:{rule.rule}")
def test_deny_by_default_every_console_view_is_public_or_names_its_permission(rule):
    with BUILT.test_request_context():
        is_public = web.is_public(rule.endpoint)
    permission = getattr(BUILT.view_functions[rule.endpoint], "permission", None)

    if rule.endpoint in PUBLIC_ENDPOINTS:
        assert is_public and permission is None
    else:
        assert not is_public, f"{rule.endpoint} is public but not in PUBLIC_ENDPOINTS"
        assert isinstance(permission, Permission), f"{rule.endpoint} declares no @requires(Permission.X)"


def test_deny_by_default_every_tenant_view_but_sign_in_needs_a_customer():
    tenant_app = BUILT.extensions["impersonator.tenant_app"]
    with tenant_app.test_request_context():
        public_views = {
            rule.endpoint for rule in tenant_app.url_map.iter_rules() if web.is_public(rule.endpoint)
        }

    assert public_views == PUBLIC_TENANT_ENDPOINTS


@pytest.mark.parametrize(
    "rule",
    [rule for rule in CONSOLE_RULES if rule.endpoint not in PUBLIC_ENDPOINTS],
    ids=lambda rule: f"{rule.endpoint}:{rule.rule}",
)
def test_deny_by_default_a_signed_out_visitor_is_sent_to_sign_in(client, rule):
    path = concrete(rule.rule)
    method = "GET" if "GET" in rule.methods else "POST"
    data = (
        {"csrf_token": csrf_token(client.get("/sign-in", base_url=CONSOLE).text)}
        if method == "POST"
        else None
    )

    response = client.open(path, method=method, base_url=CONSOLE, data=data)

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/sign-in"
    assert parse_qs(location.query) == {"next": [path]}


def test_deny_by_default_the_next_parameter_keeps_the_query(client):
    response = client.get("/admin/staff/?page=2", base_url=CONSOLE)

    assert response.status_code == 302
    assert parse_qs(urlsplit(response.headers["Location"]).query) == {"next": ["/admin/staff/?page=2"]}


# --- the role table, DESIGN §7 ------------------------------------------------------------------

EVERY_ROLE = {"support", "impersonator", "security", "admin"}
PAGE_ACCESS = {
    "/": EVERY_ROLE,
    "/admin/staff/": {"admin"},
    "/search": EVERY_ROLE,
    "/users/<int:user_id>": EVERY_ROLE,
    "/impersonations/mine": {"support", "impersonator"},
    **audit.PAGE_ACCESS,
    **admin.PAGE_ACCESS,
    **api_keys.PAGE_ACCESS,
    **approvals.PAGE_ACCESS,
}
# The permission each console POST names (the sign-in steps are public, above).
POST_PERMISSIONS = {
    "staff_admin.disable": Permission.ADMIN,
    "staff_admin.reset_totp": Permission.ADMIN,
    "users.impersonate": Permission.IMPERSONATE_READ_ONLY,
    "impersonations.end": Permission.IMPERSONATE_READ_ONLY,
    **audit.POST_PERMISSIONS,
    **admin.POST_PERMISSIONS,
    **api_keys.POST_PERMISSIONS,
    **approvals.POST_PERMISSIONS,
}


def alice_id(app) -> int:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.email == "alice@acme.example"))


# A real id for each `<int:name>` of a rule, so that a role that may open the page sees 200.
PATH_EXAMPLES = {
    "user_id": alice_id,
    **audit.PATH_EXAMPLES,
    **admin.PATH_EXAMPLES,
    **api_keys.PATH_EXAMPLES,
}
_VARIABLE = re.compile(r"<int:(\w+)>")


def example_path(app, rule_path: str) -> str:
    return _VARIABLE.sub(lambda match: str(PATH_EXAMPLES[match.group(1)](app)), rule_path)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", sorted(PAGE_ACCESS))
def test_roles_each_page_opens_only_for_the_roles_of_design_section_7(
    app, client, make_staff, clock, tenants, role, path
):
    sign_in(client, make_staff(role), clock)

    response = client.get(example_path(app, path), base_url=CONSOLE)

    assert response.status_code == (200 if role in PAGE_ACCESS[path] else 403)
    if response.status_code == 403:
        assert "You do not have permission to do that." in response.text


# Pages that open once, for one staff member (tests/web/test_launch_once.py checks their roles).
ONE_TIME_PAGES = {"/users/<int:user_id>/impersonate/<int:impersonation_id>"}


def test_roles_every_console_page_is_in_the_role_table():
    pages = {
        rule.rule for rule in CONSOLE_RULES if rule.endpoint not in PUBLIC_ENDPOINTS and "GET" in rule.methods
    }

    assert pages == set(PAGE_ACCESS) | ONE_TIME_PAGES | approvals.RECORD_PAGES


def test_roles_every_console_post_names_the_permission_of_design_section_7():
    posts = {
        rule.endpoint: BUILT.view_functions[rule.endpoint].permission
        for rule in CONSOLE_RULES
        if rule.endpoint not in PUBLIC_ENDPOINTS and "POST" in rule.methods
    }

    assert posts == POST_PERMISSIONS


@pytest.mark.parametrize("role", ["support", "impersonator", "security"])
@pytest.mark.parametrize("action", ["disable", "reset-totp"])
def test_roles_only_an_admin_may_change_staff(app, client, make_staff, clock, role, action):
    target = make_staff("support")
    sign_in(client, make_staff(role), clock)
    before = audit_actions(app)

    response = client.post(
        f"/admin/staff/{target.id}/{action}", base_url=CONSOLE, data={"csrf_token": page_token(client)}
    )

    assert response.status_code == 403
    assert "You do not have permission to do that." in response.text
    row = staff_row(app, target.id)
    assert row.active and row.totp_enrolled
    # Nothing changed; the refusal itself is on the record (issue 11).
    assert audit_actions(app) == [*before, ("authz.denied", "denied")]


def test_roles_an_admin_may_disable_staff(app, client, make_staff, clock):
    target = make_staff("support")
    sign_in(client, make_staff("admin"), clock)

    response = client.post(
        f"/admin/staff/{target.id}/disable", base_url=CONSOLE, data={"csrf_token": page_token(client)}
    )

    assert response.status_code == 303
    assert not staff_row(app, target.id).active
    assert ("staff.disabled", "success") in audit_actions(app)


@pytest.mark.parametrize("role", ROLES)
def test_roles_the_staff_link_is_shown_only_to_admins(client, make_staff, clock, role):
    sign_in(client, make_staff(role), clock)

    nav = nav_links(client.get("/", base_url=CONSOLE).text)

    assert ">Home</a>" in nav
    assert ('href="/admin/staff/">Staff</a>' in nav) == (role == "admin")


def test_roles_an_admin_cannot_disable_herself(app, client, make_staff, clock):
    admin = make_staff("admin")
    sign_in(client, admin, clock)

    response = client.post(
        f"/admin/staff/{admin.id}/disable",
        base_url=CONSOLE,
        data={"csrf_token": page_token(client)},
        follow_redirects=True,
    )

    assert response.status_code == 200
    assert flashes(response) == ["You cannot disable your own account."]
    assert staff_row(app, admin.id).active
    assert [s.ended_at for s in staff_sessions(app, admin.id)] == [None]
    assert client.get("/", base_url=CONSOLE).status_code == 200


def test_roles_the_staff_list_offers_no_self_disable_button(client, make_staff, clock):
    admin = make_staff("admin")
    other = make_staff("support")
    sign_in(client, admin, clock)

    page = client.get("/admin/staff/", base_url=CONSOLE).text

    assert f'action="/admin/staff/{other.id}/disable"' in page
    assert f'action="/admin/staff/{admin.id}/disable"' not in page


def test_roles_an_unknown_staff_member_is_404_for_an_admin(client, make_staff, clock):
    sign_in(client, make_staff("admin"), clock)

    response = client.post(
        "/admin/staff/999999/disable", base_url=CONSOLE, data={"csrf_token": page_token(client)}
    )

    assert response.status_code == 404


def test_deny_by_default_an_unmarked_view_is_refused_even_to_an_admin(make_app, make_staff, clock):
    fresh = make_app()
    extra = Blueprint("extra", __name__)

    @extra.get("/unmarked")
    def unmarked():
        return "the unmarked page"

    @extra.get("/marked")
    @requires(Permission.ADMIN)
    def marked():
        return "the marked page"

    @extra.get("/open")
    @web.public
    def open_page():
        return "the open page"

    fresh.register_blueprint(extra)
    client = fresh.test_client()

    assert client.get("/unmarked", base_url=CONSOLE).status_code == 302
    assert client.get("/open", base_url=CONSOLE).text == "the open page"
    sign_in(client, make_staff("admin"), clock)
    refused = client.get("/unmarked", base_url=CONSOLE)
    assert refused.status_code == 403
    assert "the unmarked page" not in refused.text
    assert client.get("/marked", base_url=CONSOLE).text == "the marked page"
