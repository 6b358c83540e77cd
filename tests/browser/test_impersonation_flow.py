"""The impersonation flow in a real browser (issue 3): a support agent finds a customer, says why,
proves who they are, lands on the tenant domain under the ghost banner, is refused a change in
read-only mode, and ends the session (DESIGN §1, I3, I4, I7). Driven by visible labels and roles."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pyotp
import pytest
import time_machine
from playwright.sync_api import Request, expect

from impersonator.services.demo import DEMO_PROJECTS
from tests.browser.conftest import next_totp_step, seed_demo_staff, sign_in
from tests.support.browser import ACME_HOST, CONSOLE_HOST, artifact_path
from tests.support.impersonation import READ_ONLY_MESSAGE, ghost_requests, the_impersonation, user_id

pytestmark = pytest.mark.browser

ALICE_EMAIL = "alice@acme.example"
ALICE_NAME = "Alice Anderson"
JUSTIFICATION = "Alice cannot find her quarterly budget project and asked us to look."
TICKET = "SUP-4711"
REDEEM_PATH = "/impersonation/redeem"


def enable_every_control(page) -> None:
    """What a ghost could do in the developer tools: take `disabled` off every control."""
    page.evaluate("document.querySelectorAll('[disabled]').forEach(e => e.removeAttribute('disabled'))")


@pytest.mark.parametrize("live_server", ["sqlite", "postgresql"], indirect=True)
def test_support_agent_impersonates_read_only_and_ends(live_server, page):
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request))
    alice_projects = DEMO_PROJECTS[ALICE_EMAIL]

    # The server thread shares this process, so time-machine moves its clock as well as ours; the
    # browser's clock is installed at the same instant and moved with it (the banner's countdown).
    with time_machine.travel(datetime.now(UTC), tick=True) as traveller:
        page.clock.install(time=datetime.now(UTC))
        agent = seed_demo_staff(live_server)["support"]
        alice_id = user_id(live_server.app, ALICE_EMAIL)
        next_totp_step(traveller, page)
        sign_in(page, live_server, agent)

        page.get_by_label("Search users").fill("acme")
        page.get_by_role("button", name="Search").click()
        expect(page).to_have_url(re.compile(r"/search\?q=acme$"))
        page.get_by_role("link", name=ALICE_NAME).click()

        expect(page).to_have_url(live_server.url(CONSOLE_HOST, f"/users/{alice_id}"))
        expect(page.get_by_role("heading", name=ALICE_NAME, exact=True)).to_be_visible()
        expect(page.get_by_text("Your role impersonates in read-only mode.")).to_be_visible()
        expect(page.get_by_label("Duration")).to_have_value("60")
        page.get_by_label("Justification").fill(JUSTIFICATION)
        page.get_by_label("Ticket reference").fill(TICKET)
        # The sign-in used this step's code: the step-up needs the next one.
        next_totp_step(traveller, page)
        page.get_by_label("Authenticator code").fill(pyotp.TOTP(agent.totp_secret).now())
        page.screenshot(path=artifact_path("impersonation-user-page"), full_page=True)
        page.get_by_role("button", name="Start impersonation").click()

        # The handoff page posts the token by itself; the tenant answers 303 to its clean home page.
        expect(page).to_have_url(live_server.url(ACME_HOST, "/"))
        banner = page.get_by_role("region", name="Impersonation in progress")
        expect(banner).to_be_visible()
        for words in ("You are signed in as", ALICE_NAME, agent.name, "read-only"):
            expect(banner).to_contain_text(words)
        expect(banner).to_contain_text(re.compile(r"\b(59|60) min left"))
        expect(page.get_by_role("heading", name=f"Hello, {ALICE_NAME}")).to_be_visible()
        projects = page.get_by_role("region", name="Projects")
        for name in alice_projects:
            expect(projects.get_by_role("cell", name=name, exact=True)).to_be_visible()
        page.screenshot(path=artifact_path("impersonation-ghost-home"), full_page=True)

        # Read-only: the forms are drawn disabled, with the reason (issue 13). Re-enabled by hand (as
        # with the browser's developer tools), a new project is still refused with a clear page, and
        # nothing is created.
        expect(page.get_by_role("button", name="Create project")).to_be_disabled()
        expect(page.get_by_text("Read-only impersonation: changes are off.").first).to_be_visible()
        enable_every_control(page)
        page.get_by_label("Project name").fill("Ghost was here")
        with page.expect_response(lambda r: r.request.method == "POST") as created:
            page.get_by_role("button", name="Create project").click()
        assert created.value.status == 403
        expect(page.get_by_role("heading", name="Read-only impersonation")).to_be_visible()
        expect(page.get_by_text(READ_ONLY_MESSAGE)).to_be_visible()
        expect(banner).to_be_visible()
        page.screenshot(path=artifact_path("impersonation-read-only-refusal"), full_page=True)

        # So is renaming one; the banner is still there on the next GET, and the names are unchanged.
        page.get_by_role("link", name="Projects").click()
        expect(banner).to_contain_text(ALICE_NAME)
        enable_every_control(page)
        page.get_by_label(f"New name for {alice_projects[0]}").fill("Renamed by the ghost")
        with page.expect_response(lambda r: r.request.method == "POST") as renamed:
            page.get_by_role("row", name=alice_projects[0]).get_by_role("button", name="Rename").click()
        assert renamed.value.status == 403
        expect(page.get_by_text(READ_ONLY_MESSAGE)).to_be_visible()
        page.goto(live_server.url(ACME_HOST, "/"))
        expect(banner).to_be_visible()
        expect(projects.get_by_role("cell", name="Ghost was here")).to_have_count(0)
        expect(projects.get_by_role("cell", name="Renamed by the ghost")).to_have_count(0)
        expect(projects.get_by_role("cell", name=alice_projects[0], exact=True)).to_be_visible()

        # End: a confirmation on the tenant's page (200), one click back to the console's page of the
        # user, and the tenant no longer knows the ghost.
        with page.expect_response(lambda r: r.url.endswith("/impersonation/ended")) as landed:
            banner.get_by_role("button", name="End impersonation").click()
        assert landed.value.status == 200
        expect(page.get_by_role("heading", name="Impersonation ended")).to_be_visible()
        expect(page.get_by_text(f"You ended your impersonation of {ALICE_NAME}.")).to_be_visible()
        expect(page.locator("#ghost-banner")).to_have_count(0)
        page.screenshot(path=artifact_path("impersonation-ended-confirmation"), full_page=True)
        page.get_by_role("link", name=f"Back to {ALICE_NAME} on the console").click()
        expect(page).to_have_url(live_server.url(CONSOLE_HOST, f"/users/{alice_id}"))
        expect(page.get_by_role("heading", name=ALICE_NAME, exact=True)).to_be_visible()
        history = page.get_by_role("table").filter(has_text=JUSTIFICATION)
        expect(history).to_contain_text("ended (ended by the support agent)")
        page.screenshot(path=artifact_path("impersonation-console-after-end"), full_page=True)

        page.goto(live_server.url(ACME_HOST, "/"))
        expect(page).to_have_url(live_server.url(ACME_HOST, "/sign-in"))
        expect(page.get_by_role("heading", name="Sign in to Acme Corporation")).to_be_visible()
        expect(page.locator("#ghost-banner")).to_have_count(0)

    # The token travelled in a POST body only: never in an address, never leaked as a Referer.
    assert [r.url for r in requests if "token=" in r.url] == []
    [redemption] = [r for r in requests if r.url == live_server.url(ACME_HOST, REDEEM_PATH)]
    assert redemption.method == "POST"
    assert "token=" in (redemption.post_data or "")
    assert "referer" not in redemption.all_headers()

    imp = the_impersonation(live_server.app)
    assert (imp.user_id, imp.mode, imp.reason, imp.ticket) == (alice_id, "read_only", JUSTIFICATION, TICKET)
    assert imp.end_reason == "staff_ended"
    posts = [
        (path, status) for method, path, status in ghost_requests(live_server.app, imp.id) if method == "POST"
    ]
    assert [status for _, status in posts] == [403, 403, 303]
    assert posts[0][0] == "/projects"
    assert re.fullmatch(r"/projects/\d+/rename", posts[1][0])
    assert posts[2][0] == "/impersonation/end"
