"""Completeness rows of the admin pages: switches, tenants, staff, webhooks, outbox (issue 5), and
the public enrolment page a new staff member's link opens."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from sqlalchemy import select

from impersonator import clock
from impersonator.extensions import db
from impersonator.models import REASON_CODES, Staff, Tenant, WebhookEndpoint
from impersonator.services.audit import Actor
from impersonator.services.delivery import outbox, webhook_endpoints
from impersonator.services.staff import invites
from impersonator.services.staff.roles import Permission
from tests.support.web import CONSOLE, sign_in
from tests.web.cases import Case

ADMIN_ONLY = {"admin"}
PAGE_ACCESS = {
    "/admin/switches/": ADMIN_ONLY,
    "/admin/webhooks/": ADMIN_ONLY,
    "/admin/outbox/": ADMIN_ONLY,
    # Where a new endpoint's secret and a new enrolment link are shown once (after the POST's redirect).
    "/admin/webhooks/<int:endpoint_id>/secret": ADMIN_ONLY,
    "/admin/staff/<int:staff_id>/enrolment-link": ADMIN_ONLY,
}
POST_PERMISSIONS = {
    "admin_switches.global_switch": Permission.ADMIN,
    "admin_switches.tenant": Permission.ADMIN,
    "staff_admin.create": Permission.ADMIN,
    "staff_admin.invite": Permission.ADMIN,
    "staff_admin.change_role": Permission.ADMIN,
    "staff_admin.set_may_approve": Permission.ADMIN,
    "webhooks_admin.create": Permission.ADMIN,
    "webhooks_admin.enable": Permission.ADMIN,
    "webhooks_admin.disable": Permission.ADMIN,
    "webhooks_admin.delete": Permission.ADMIN,
    "webhooks_admin.send_test": Permission.ADMIN,
    "outbox_admin.retry": Permission.ADMIN,
}

SYSTEM = Actor.system("test")


def signed_in_admin(bed) -> None:
    sign_in(bed.client, bed.make_staff("admin"), bed.clock)


def acme_id(app) -> int:
    with app.app_context():
        return db.session.scalar(select(Tenant.id).where(Tenant.slug == "acme"))


def make_endpoint(app, now, *, url: str = "http://127.0.0.1:9/hooks", active: bool = True) -> int:
    """A webhook endpoint made through the service (its secret is not needed here)."""
    with app.app_context():
        created = webhook_endpoints.create(
            url=url, description="", events=["security.alert"], actor=SYSTEM, ip=None, now=now
        )
        if not active:
            webhook_endpoints.set_active(created.endpoint.id, False, actor=SYSTEM, ip=None, now=now)
        return created.endpoint.id


def an_endpoint(app) -> int:
    return make_endpoint(app, clock.now())


def a_staff_member(app) -> int:
    with app.app_context():
        return db.session.scalar(select(Staff.id).order_by(Staff.id).limit(1))


PATH_EXAMPLES: dict = {"endpoint_id": an_endpoint, "staff_id": a_staff_member}


def make_failed_message(app, now) -> int:
    """A webhook message that gave up."""
    endpoint_id = make_endpoint(app, now)
    with app.app_context():
        endpoint = db.session.get(WebhookEndpoint, endpoint_id)
        message = outbox.enqueue(
            "webhook",
            event_type="security.alert",
            destination=endpoint.url,
            endpoint_id=endpoint.id,
            payload="{}",
            now=now,
        )
        message.status, message.failed_at, message.attempts = "failed", now, 12
        message.last_error = "the endpoint answered 500"
        db.session.commit()
        return message.id


def admin_post(path: Callable, data: dict | None = None, status: int = 303) -> Callable:
    """A signed-in admin's POST; `path(bed)` builds the address (and whatever it needs)."""

    def build(bed) -> Case:
        signed_in_admin(bed)
        return Case(CONSOLE, path(bed), "/", data or {}, accepted_status=status)

    return build


def new_support_member(bed) -> int:
    return bed.make_staff("support").id


def enrolment_submit(bed) -> Case:
    """The public POST of an enrolment link's password: the opener page carries the form's token."""
    member = bed.make_staff("support", enrolled=False)
    with bed.app.app_context():
        issued = invites.issue(db.session.get(Staff, member.id), actor=SYSTEM, ip=None, now=bed.clock.now())
    token = urlsplit(issued.url).fragment
    password = "a long new staff password"
    data = {"token": token, "password": password, "confirmation": password}
    return Case(CONSOLE, "/enrol", "/enrol", data, accepted_status=303)


def enrolment_open(bed) -> Case:
    """The link's page posts the fragment's token: the opener page carries the form's token."""
    member = bed.make_staff("support", enrolled=False)
    with bed.app.app_context():
        issued = invites.issue(db.session.get(Staff, member.id), actor=SYSTEM, ip=None, now=bed.clock.now())
    return Case(
        CONSOLE, "/enrol/open", "/enrol", {"token": urlsplit(issued.url).fragment}, accepted_status=200
    )


def tenant_settings(bed) -> Case:
    """Acme's form as the switches page posts it: the field names carry the tenant's id."""
    signed_in_admin(bed)
    tenant_id = acme_id(bed.app)
    prefix = f"tenant-{tenant_id}-"
    data = {
        prefix + "impersonation_enabled": "y",
        prefix + "access_policy": "code_always",
        prefix + "notify_on_access_default": "y",
        prefix + "two_person": "full",
        prefix + "reason_codes": list(REASON_CODES),
    }
    return Case(CONSOLE, f"/admin/switches/tenants/{tenant_id}", "/", data, accepted_status=303)


def change_role(bed) -> Case:
    """The staff list's role form: its field name carries the member's id."""
    signed_in_admin(bed)
    member_id = new_support_member(bed)
    data = {f"staff-{member_id}-role": "impersonator"}
    return Case(CONSOLE, f"/admin/staff/{member_id}/role", "/", data, accepted_status=303)


CSRF_CASES = {
    ("console", "admin_switches.global_switch"): admin_post(
        lambda bed: "/admin/switches/global", {"enabled": "off", "confirm": "y"}
    ),
    ("console", "admin_switches.tenant"): tenant_settings,
    ("console", "staff_admin.create"): admin_post(
        lambda bed: "/admin/staff/",
        {"email": "newcomer@staff.example", "name": "New Comer", "role": "support"},
    ),
    ("console", "staff_admin.invite"): admin_post(
        lambda bed: f"/admin/staff/{new_support_member(bed)}/invite"
    ),
    ("console", "staff_admin.change_role"): change_role,
    ("console", "staff_admin.set_may_approve"): admin_post(
        lambda bed: f"/admin/staff/{bed.make_staff('impersonator').id}/may-approve", {"allowed": "yes"}
    ),
    ("console", "webhooks_admin.create"): admin_post(
        lambda bed: "/admin/webhooks/",
        {"url": "http://127.0.0.1:9/hooks", "description": "SIEM", "events": ["security.alert"]},
    ),
    ("console", "webhooks_admin.enable"): admin_post(
        lambda bed: f"/admin/webhooks/{make_endpoint(bed.app, bed.clock.now(), active=False)}/enable"
    ),
    ("console", "webhooks_admin.disable"): admin_post(
        lambda bed: f"/admin/webhooks/{make_endpoint(bed.app, bed.clock.now())}/disable"
    ),
    ("console", "webhooks_admin.delete"): admin_post(
        lambda bed: f"/admin/webhooks/{make_endpoint(bed.app, bed.clock.now())}/delete"
    ),
    ("console", "webhooks_admin.send_test"): admin_post(
        lambda bed: f"/admin/webhooks/{make_endpoint(bed.app, bed.clock.now())}/test"
    ),
    ("console", "outbox_admin.retry"): admin_post(
        lambda bed: f"/admin/outbox/{make_failed_message(bed.app, bed.clock.now())}/retry"
    ),
    ("console", "staff_invites.submit"): enrolment_submit,
    ("console", "staff_invites.open_link"): enrolment_open,
}
