"""Helpers for the impersonation flow, used the way a browser does: the user page's form on the
console, the handoff page's form POST to the tenant domain, the ghost's own pages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from impersonator import clock as app_clock
from impersonator.extensions import db
from impersonator.models import GhostRequest, Impersonation, Tenant, User
from impersonator.services.consent import access_codes
from tests.support.web import ACME, CONSOLE, csrf_token

REDEEM_PATH = "/impersonation/redeem"
END_PATH = "/impersonation/end"
JUSTIFICATION = "Customer reports the invoice export fails (ticket 4711)"
BANNER = 'id="ghost-banner"'
READ_ONLY_MESSAGE = "This impersonation is read-only: changes are not allowed."
ENDED_TITLE = "<h1>Impersonation ended</h1>"
COOKIE = "impersonator_tenant"

_FORM = re.compile(r'<form method="post" action="([^"]*)" data-autosubmit>(.*?)</form>', re.S)
_TOKEN = re.compile(r'<input type="hidden" name="token" value="([^"]+)">')


def open_user_page(client: FlaskClient, user_id: int) -> TestResponse:
    """The console's page of a customer user (the staff member must be signed in)."""
    return client.get(f"/users/{user_id}", base_url=CONSOLE)


def request_impersonation(client: FlaskClient, staff_account, clock, user_id: int, **fields) -> TestResponse:
    """Fill in the user page's impersonation form and submit it, in a fresh TOTP step.

    Defaults: a good justification, 60 minutes, read-only, the current TOTP code. A field given as
    None is left out of the POST; any other value is posted as given (hidden-field tampering too).
    A granted request redirects to the handoff page (POST-redirect-GET), which this follows, as a
    browser does: the response is then that page's one GET.
    """
    page = open_user_page(client, user_id)
    clock.next_totp_step()
    data = {
        "csrf_token": csrf_token(page.text),
        "justification": JUSTIFICATION,
        "ticket": "",
        "duration": "60",
        "mode": "read_only",
        "access_code": "",
        "reason_code": "customer_request",
        "totp_code": staff_account.code(),
        **fields,
    }
    data = {name: value for name, value in data.items() if value is not None}
    return client.post(f"/users/{user_id}/impersonate", base_url=CONSOLE, data=data, follow_redirects=True)


def token_from_launch(response: TestResponse) -> tuple[str, str]:
    """(redeem_url, token) from the handoff page's auto-submitted form."""
    assert response.status_code == 200, response.text
    form = _FORM.search(response.text)
    assert form, "no auto-submitted form on the handoff page"
    token = _TOKEN.search(form.group(2))
    assert token, "no token field in the handoff form"
    return form.group(1), token.group(1)


def redeem(client: FlaskClient, token: str | None, host: str = ACME) -> TestResponse:
    """POST the token to the tenant domain's redemption address, as the handoff form does."""
    data = {} if token is None else {"token": token}
    return client.post(REDEEM_PATH, base_url=host, data=data)


@dataclass
class Launched:
    """A launched and redeemed impersonation: its token, and what the tenant domain answered."""

    token: str
    redeem_url: str
    redeemed: TestResponse


_APPROVAL = re.compile(r"^/approvals/(\d+)$")
SECOND_PERSON = "second-person@staff.example"  # the security officer who approves for `launch`


def launch(client: FlaskClient, staff_account, clock, user_id: int, **fields) -> tuple[str, str]:
    """Request an impersonation that must be granted; returns (redeem_url, token). One that waits
    for a second staff member (full mode) is approved by a security officer made for the purpose,
    then started from its page with a fresh code, as the requester would."""
    response = request_impersonation(client, staff_account, clock, user_id, **fields)
    waiting = _APPROVAL.match(response.request.path)
    if waiting:
        response = approve_and_start(client, staff_account, clock, int(waiting.group(1)))
    return token_from_launch(response)


def approve_and_start(client: FlaskClient, staff_account, clock, approval_id: int) -> TestResponse:
    """A second staff member approves the request (through the service), then the requester starts
    it from its page in a fresh TOTP step; the response is the handoff page."""
    from impersonator.models import Staff
    from impersonator.services.approvals import decisions
    from impersonator.services.audit import Actor
    from impersonator.services.staff.accounts import create_staff

    app = client.application
    with app.app_context():
        approver = db.session.scalar(select(Staff).where(Staff.email == SECOND_PERSON))
        if approver is None:
            approver, _ = create_staff(
                email=SECOND_PERSON,
                name="Second Person",
                role="security",
                actor=Actor.system("test"),
                now=clock.now(),
            )
            db.session.commit()
        decisions.decide_as_staff(approver, approval_id, approve=True, note=None, ip=None, now=clock.now())
    page = client.get(f"/approvals/{approval_id}", base_url=CONSOLE)
    clock.next_totp_step()
    data = {"csrf_token": csrf_token(page.text), "totp_code": staff_account.code()}
    return client.post(f"/approvals/{approval_id}/start", base_url=CONSOLE, data=data, follow_redirects=True)


def launch_and_redeem(client: FlaskClient, staff_account, clock, user_id: int, **fields) -> Launched:
    """Request an impersonation, then follow the handoff onto the tenant domain with the same client."""
    redeem_url, token = launch(client, staff_account, clock, user_id, **fields)
    return Launched(token, redeem_url, redeem(client, token))


def end_ghost(client: FlaskClient, host: str = ACME) -> TestResponse:
    """Press *End* in the banner: the CSRF token comes from the ghost's own page."""
    page = client.get("/", base_url=host)
    return client.post(END_PATH, base_url=host, data={"csrf_token": csrf_token(page.text)})


def user_id(app, email: str) -> int:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.email == email))


def opt_in(app, user_id: int, until: datetime | None) -> None:
    """The customer opts in to support access until `until` (None: opts out)."""
    with app.app_context():
        db.session.get(User, user_id).support_access_opt_in_until = until
        db.session.commit()


def make_access_code(app, user_id: int) -> str:
    """A fresh support access code for the user, as their settings page would show it."""
    with app.app_context():
        code = access_codes.generate(db.session.get(User, user_id), now=app_clock.now())
        db.session.commit()
        return code


def update_tenant(app, tenant_id: int, **values) -> None:
    with app.app_context():
        tenant = db.session.get(Tenant, tenant_id)
        for name, value in values.items():
            setattr(tenant, name, value)
        db.session.commit()


def update_user(app, user_id: int, **values) -> None:
    with app.app_context():
        user = db.session.get(User, user_id)
        for name, value in values.items():
            setattr(user, name, value)
        db.session.commit()


def impersonations(app) -> list[Impersonation]:
    """Every impersonation row, oldest first, detached for assertions."""
    with app.app_context():
        rows = list(db.session.scalars(select(Impersonation).order_by(Impersonation.id)))
        for row in rows:
            db.session.expunge(row)
        return rows


def the_impersonation(app) -> Impersonation:
    """The one impersonation of the test (fails if there is not exactly one)."""
    [row] = impersonations(app)
    return row


def ghost_requests(app, impersonation_id: int) -> list[tuple[str, str, int]]:
    """(method, path, status) of each request recorded for the ghost session, in order."""
    with app.app_context():
        rows = db.session.scalars(
            select(GhostRequest)
            .where(GhostRequest.impersonation_id == impersonation_id)
            .order_by(GhostRequest.id)
        )
        return [(r.method, r.path, r.status) for r in rows]


def copy_ghost_cookie(source: FlaskClient, target: FlaskClient, *, to_domain: str = "acme.localhost") -> None:
    """Give `target` the tenant session cookie `source` holds for acme.localhost."""
    cookie = source.get_cookie(COOKIE, domain="acme.localhost")
    assert cookie is not None, "no tenant session cookie on acme.localhost"
    target.set_cookie(COOKIE, cookie.value, domain=to_domain)


def minutes(count: int) -> timedelta:
    return timedelta(minutes=count)
