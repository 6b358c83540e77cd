"""A walk over every distinct page of both faces in Chromium, as each kind of visitor (issue 13): signed
out, each staff role, a ghost in read-only and in full mode, a customer, and the error pages. At every
page it calls the given checks at 1280 and at 390 px (axe-core in test_accessibility.py, the page's
width in test_layout.py).

The console's pages come from its URL map, so a new GET page is crawled for every role without anyone
remembering to add it; `NOT_PAGES` names what is no HTML page, and `completeness()` fails when a GET
endpoint of either face is neither visited nor named there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import pyotp
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import BuildError

from impersonator import clock as app_clock
from impersonator.extensions import db
from impersonator.models import Impersonation, Staff, WebhookEndpoint
from impersonator.services.approvals import decisions
from impersonator.services.delivery import outbox
from impersonator.services.demo import DemoStaff, demo_staff_email
from tests.browser.conftest import LiveServer, next_totp_step, seed_demo_staff
from tests.support.browser import ACME_HOST, CONSOLE_HOST, TIMEOUT_MS
from tests.support.impersonation import user_id
from tests.support.staff_admin import member_id as staff_id
from tests.support.webhooks import subscribe

WIDTHS = {1280: 900, 390: 844}
ROLES = ("support", "impersonator", "security", "admin")
ALICE_EMAIL, ALICE_NAME = "alice@acme.example", "Alice Anderson"
CUSTOMER_PASSWORD = "customer-demo-password"
INVITEE_PASSWORD = "a long new password for Nora"
JUSTIFICATION = "Alice asked us to check why her project list looks empty today."
# A receiver's answer as long as the outbox keeps (500 characters), with no place to break a line.
LONG_ERROR = "HTTP 502 from https://hooks.example.com/impersonator/receive: " + "upstream-timeout-" * 26

# GET endpoints that are no page for a person: files, health probes, exports, refusals of a link's
# old shape. The crawl fails on any GET endpoint that is neither visited nor named here.
NOT_PAGES = {
    "console": {
        *("static", "health.healthz", "health.readyz", "audit_log.export", "jwks.keys", "approvals.state"),
    },
    "tenant": {"static"},
}
NOT_PAGE_PREFIXES = ("api.",)
ON_THEIR_OWN = {"staff_invites.token_in_address", "users.handoff"}  # the JSON API
# Pages that show one record the walk does not make yet (being built beside this walk): named, so
# each stays a known gap rather than a forgotten page.
NOT_YET_WALKED = {
    "console": {"api_keys_admin.created"},
    "tenant": set(),
}

Check = Callable[[Page, str], None]


@dataclass
class Crawl:
    """Where the walk has been: every (face, endpoint) it opened, and each label it checked."""

    live_server: LiveServer
    browser: Browser
    checks: list[Check]
    visited: set[tuple[str, str]] = field(default_factory=set)
    labels: list[str] = field(default_factory=list)
    contexts: list[BrowserContext] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)

    def faces(self) -> dict[str, Flask]:
        app = self.live_server.app
        return {"console": app, "tenant": app.extensions["impersonator.tenant_app"]}

    def new_page(self) -> Page:
        context = self.browser.new_context(viewport={"width": 1280, "height": WIDTHS[1280]})
        context.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        return context.new_page()

    def note(self, page: Page) -> None:
        """Record which endpoint the page now showing belongs to (after redirects)."""
        host, _, path = page.url.split("://", 1)[1].partition("/")
        host = host.split(":")[0]
        if host not in (CONSOLE_HOST, ACME_HOST):
            return
        face = "console" if host == CONSOLE_HOST else "tenant"
        adapter = self.faces()[face].url_map.bind(host)
        try:
            endpoint, _ = adapter.match("/" + path.split("?")[0].split("#")[0], method="GET")
        except (NotFound, MethodNotAllowed):
            return
        self.visited.add((face, endpoint))

    def look(self, page: Page, label: str) -> None:
        """Run every check on the page as it is now, at each width; back to 1280 px after."""
        self.note(page)
        self.labels.append(label)
        for width, height in WIDTHS.items():
            page.set_viewport_size({"width": width, "height": height})
            for check in self.checks:
                check(page, f"{label} @ {width}px")
        page.set_viewport_size({"width": 1280, "height": WIDTHS[1280]})

    def visit(self, page: Page, host: str, path: str, label: str) -> None:
        response = page.goto(self.live_server.url(host, path))
        if response is not None and response.status >= 500:  # a broken page is no page to check
            self.broken.append(f"{label}: {path} answered {response.status}")
        self.look(page, label)

    def completeness(self) -> list[str]:
        """Every GET endpoint of either face that the walk neither opened nor excused."""
        missing = []
        for face, app in self.faces().items():
            for rule in app.url_map.iter_rules():
                if (
                    "GET" not in (rule.methods or ())
                    or rule.endpoint in NOT_PAGES[face] | NOT_YET_WALKED[face]
                    or rule.endpoint.startswith(NOT_PAGE_PREFIXES)
                ):
                    continue
                if (face, rule.endpoint) not in self.visited:
                    missing.append(f"{face} {rule.endpoint} {rule.rule}")
        return sorted(set(missing))

    def close(self) -> None:
        for context in self.contexts:
            context.close()


def seed_world(live_server: LiveServer, now) -> None:
    """What makes the admin pages show their widest rows: an endpoint, and messages that failed."""
    app = live_server.app
    subscribe(app, "https://hooks.example.com/impersonator/receive", now)
    with app.app_context():
        for status in ("failed", "pending"):
            message = outbox.enqueue(
                "webhook",
                event_type="impersonation.started",
                destination="https://hooks.example.com/impersonator/receive",
                payload="{}",
                now=now,
            )
            message.status, message.attempts, message.last_error = status, 7, LONG_ERROR
            if status == "failed":
                message.failed_at = now
            else:
                message.next_attempt_at = now + timedelta(minutes=30)
        db.session.commit()


def staff_sign_in(crawl: Crawl, page: Page, member: DemoStaff, *, look: bool) -> None:
    """Email and password, then the code; each step's page checked when `look`."""
    page.goto(crawl.live_server.url(CONSOLE_HOST, "/"))
    expect(page.get_by_role("heading", name="Staff sign-in")).to_be_visible()
    if look:
        crawl.look(page, "console sign-in")
    page.get_by_label("Email").fill(member.email)
    page.get_by_label("Password").fill(member.password)
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Authenticator code")).to_be_visible()
    if look:
        crawl.look(page, "console sign-in code")
    page.get_by_label("Authenticator code").fill(pyotp.TOTP(member.totp_secret).now())
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name=f"Welcome, {member.name}")).to_be_visible()


def start_ghost(crawl: Crawl, page: Page, member: DemoStaff, traveller, *, mode: str, look: bool) -> None:
    """The user page's form, the handoff page (held back once to be checked), the tenant's home."""
    alice = user_id(crawl.live_server.app, ALICE_EMAIL)
    page.goto(crawl.live_server.url(CONSOLE_HOST, f"/users/{alice}"))
    page.get_by_label("Justification").fill(JUSTIFICATION)
    if mode == "full":
        page.get_by_label("Mode").select_option("full")
    next_totp_step(traveller)
    page.get_by_label("Authenticator code").fill(pyotp.TOTP(member.totp_secret).now())
    if look:
        # The handoff page submits itself; without its script it waits for the button.
        page.route("**/js/handoff.js", lambda route: route.abort())
    page.get_by_role("button", name="Start impersonation").click()
    if mode == "full":
        approve_as_second_person(crawl, page, member, traveller)
    if look:
        expect(page.get_by_role("button", name="Continue to Acme Corporation")).to_be_visible()
        crawl.look(page, "console launch (handoff)")
        page.unroute("**/js/handoff.js")
        page.get_by_role("button", name="Continue to Acme Corporation").click()
    expect(page).to_have_url(crawl.live_server.url(ACME_HOST, "/"))
    expect(page.get_by_role("region", name="Impersonation in progress")).to_be_visible()


def approve_as_second_person(crawl: Crawl, page: Page, member: DemoStaff, traveller) -> None:
    """Full mode waits for a second person (DESIGN §11): the request's page as it waits, the demo
    security officer's approval (through the service), the page once approved, then Start."""
    expect(page.locator("#approval-state")).to_contain_text("waiting for a second staff member")
    crawl.look(page, "console approval request: waiting")
    approval_id = int(page.url.rstrip("/").rsplit("/", 1)[1])
    with crawl.live_server.app.app_context():
        officer = db.session.scalar(select(Staff).where(Staff.email == demo_staff_email("security")))
        decisions.decide_as_staff(officer, approval_id, approve=True, note=None, ip=None, now=app_clock.now())
    page.reload()
    expect(page.get_by_role("heading", name="Start the impersonation")).to_be_visible()
    crawl.look(page, "console approval request: approved")
    next_totp_step(traveller)
    page.get_by_label("Authenticator code").fill(pyotp.TOTP(member.totp_secret).now())
    page.get_by_role("button", name="Start impersonation").click()


def ghost_pages(crawl: Crawl, page: Page, mode: str) -> None:
    for path, name in (
        ("/", "home"),
        ("/billing", "billing (masked)"),
        ("/account", "account"),
        ("/settings/support-access", "support access (refused)"),
        ("/settings/support-access/history", "access history (refused)"),
    ):
        crawl.visit(page, ACME_HOST, path, f"tenant ghost {mode}: {name}")


def console_pages(crawl: Crawl, page: Page, role: str, args: dict[str, dict]) -> None:
    """Every console GET page of the URL map, as `role` (a page it may not open shows its 403)."""
    # The old link shape and the handoff page are opened on their own (signed out, and by Start).
    skip = NOT_PAGES["console"] | NOT_YET_WALKED["console"] | ON_THEIR_OWN
    app = crawl.live_server.app
    with app.test_request_context(base_url=f"http://{CONSOLE_HOST}"):
        from flask import url_for

        rules = sorted(
            (rule.rule, rule.endpoint)
            for rule in app.url_map.iter_rules()
            if "GET" in (rule.methods or ())
            and rule.endpoint not in skip
            and not rule.endpoint.startswith(NOT_PAGE_PREFIXES)
        )
        paths = []
        for _, endpoint in rules:
            try:
                paths.append((endpoint, url_for(endpoint, **args.get(endpoint, {}))))
            except BuildError:  # a page needing ids the walk has no value for: completeness() names it
                continue
    for endpoint, path in paths:
        crawl.visit(page, CONSOLE_HOST, path, f"console {role}: {endpoint}")
    crawl.visit(page, CONSOLE_HOST, "/search?q=acme", f"console {role}: search results")


def walk(live_server: LiveServer, browser: Browser, traveller, checks: list[Check]) -> Crawl:
    """The whole walk; returns the crawl (its completeness and labels) with every context closed."""
    crawl = Crawl(live_server, browser, checks)
    try:
        _walk(crawl, traveller)
    finally:
        crawl.close()
    return crawl


def _walk(crawl: Crawl, traveller) -> None:
    live_server = crawl.live_server
    staff = seed_demo_staff(live_server)
    seed_world(live_server, app_clock.now())
    next_totp_step(traveller)

    # Signed out, on both faces, and the error pages.
    outsider = crawl.new_page()
    crawl.visit(outsider, CONSOLE_HOST, "/no-such-page", "console 404")
    crawl.visit(outsider, CONSOLE_HOST, "/enrol", "console enrolment link opener")
    crawl.visit(outsider, CONSOLE_HOST, "/enrol/old-style-link", "console old enrolment link")
    crawl.visit(outsider, ACME_HOST, "/", "tenant sign-in")
    crawl.visit(outsider, ACME_HOST, "/no-such-page", "tenant 404")
    crawl.visit(outsider, ACME_HOST, "/impersonation/redeem", "tenant redeem by GET (refused)")
    crawl.visit(outsider, "nowhere.localhost", "/", "unknown host 404")

    pages = {role: crawl.new_page() for role in ROLES}
    # A read-only ghost that ends with End; a full one that stays live while the console is crawled.
    staff_sign_in(crawl, pages["support"], staff["support"], look=True)
    start_ghost(crawl, pages["support"], staff["support"], traveller, mode="read_only", look=True)
    ghost_pages(crawl, pages["support"], "read-only")
    support = pages["support"]
    support.get_by_role("button", name="End impersonation").click()
    expect(support.get_by_role("heading", name="Impersonation ended")).to_be_visible()
    crawl.look(support, "tenant ghost read-only: ended by End")
    support.get_by_role("link", name=f"Back to {ALICE_NAME} on the console").click()
    expect(support.get_by_role("heading", name=ALICE_NAME, exact=True)).to_be_visible()
    crawl.look(support, "console support: user page after End")

    next_totp_step(traveller)
    staff_sign_in(crawl, pages["impersonator"], staff["impersonator"], look=False)
    start_ghost(crawl, pages["impersonator"], staff["impersonator"], traveller, mode="full", look=False)
    ghost_pages(crawl, pages["impersonator"], "full")

    with live_server.app.app_context():
        latest = db.session.scalars(select(Impersonation.id).order_by(Impersonation.id.desc())).first()
        endpoint = db.session.scalars(select(WebhookEndpoint.id)).first()
    args = {
        "users.show": {"user_id": user_id(live_server.app, ALICE_EMAIL)},
        "impersonation_detail.show": {"impersonation_id": latest},
        "webhooks_admin.secret": {"endpoint_id": endpoint},
        "staff_admin.invite_link": {"staff_id": staff_id(live_server.app, staff["support"].email)},
    }
    for role in ROLES:
        if role in ("security", "admin"):
            next_totp_step(traveller)
            staff_sign_in(crawl, pages[role], staff[role], look=False)
        console_pages(crawl, pages[role], role, args)

    # A new staff member: the admin's one-time link, the invitee's password page and the QR code page.
    admin = pages["admin"]
    admin.goto(live_server.url(CONSOLE_HOST, "/admin/staff/"))
    admin.get_by_label("Name").fill("Nora Newcomer")
    admin.get_by_label("Email").fill("nora@impersonator.example")
    admin.get_by_role("button", name="Create and make an enrolment link").click()
    expect(admin.locator("#enrolment-link")).to_be_visible()
    crawl.look(admin, "console admin: a new enrolment link")
    invitee = crawl.new_page()
    invitee.goto(admin.locator("#enrolment-link").inner_text().strip())
    expect(invitee.get_by_role("heading", name="Welcome, Nora Newcomer")).to_be_visible()
    crawl.look(invitee, "console invitee: choose a password")
    invitee.get_by_label("New password", exact=True).fill(INVITEE_PASSWORD)
    invitee.get_by_label("Repeat the new password").fill(INVITEE_PASSWORD)
    invitee.get_by_role("button", name="Set password and continue").click()
    expect(invitee.get_by_role("heading", name="Set up your authenticator")).to_be_visible()
    crawl.look(invitee, "console invitee: authenticator enrolment")

    # The full ghost is terminated from the console; its next click shows the tenant's ended page.
    ghost = pages["impersonator"]
    terminator = pages["security"]
    terminator.goto(live_server.url(CONSOLE_HOST, "/audit/live"))
    terminator.get_by_label("Reason").first.fill("Checking the ended page of the tenant face.")
    terminator.get_by_role("button", name="Terminate").first.click()
    expect(terminator.get_by_role("heading", name="Live sessions")).to_be_visible()
    ghost.goto(live_server.url(ACME_HOST, "/account"))
    expect(ghost.get_by_role("heading", name="Impersonation ended")).to_be_visible()
    crawl.look(ghost, "tenant ghost: impersonation ended")

    # The customer on their own pages.
    customer = crawl.new_page()
    customer.goto(live_server.url(ACME_HOST, "/sign-in"))
    customer.get_by_label("Email").fill(ALICE_EMAIL)
    customer.get_by_label("Password").fill(CUSTOMER_PASSWORD)
    customer.get_by_role("button", name="Sign in").click()
    expect(customer.get_by_role("heading", name=f"Hello, {ALICE_NAME}")).to_be_visible()
    crawl.look(customer, "tenant customer: home")
    for path, name in (
        ("/billing", "billing"),
        ("/account", "account"),
        ("/settings/support-access", "support access"),
        ("/settings/support-access/history", "access history"),
        ("/settings/support-access/requests", "support requests"),
    ):
        crawl.visit(customer, ACME_HOST, path, f"tenant customer: {name}")
    customer.goto(live_server.url(ACME_HOST, "/settings/support-access"))
    customer.get_by_role("button", name="Generate a code").click()
    expect(customer.locator("#access-code")).to_be_visible()
    crawl.look(customer, "tenant customer: a new access code")
