"""`make run` as shipped (issue 10): the README's first clicks, as printed, against the web server
and the outbox worker running side by side, started by the Makefile's launcher on a fresh instance.

Before the fix the idle worker held SQLite's write lock between polls, and every page here waited
out the busy timeout and answered 503: each request below must answer quickly instead.
"""

from __future__ import annotations

import html
import os
import re
import shlex
import subprocess
import sys
import time
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import urlsplit

import pyotp
import pytest
import requests
from playwright.sync_api import Page, expect

from impersonator import ROOT
from impersonator.services.demo import CUSTOMER_PASSWORD, DEMO_STAFF_NAMES, staff_password
from tests.shipped.conftest import READY_LINE, Launched, launch
from tests.support.browser import artifact_path
from tests.support.web import csrf_token

pytestmark = pytest.mark.browser

CONSOLE_HOST = "console.localhost"
ACME_HOST = "acme.localhost"
ALICE_EMAIL = "alice@acme.example"
ALICE_NAME = "Alice Anderson"
JUSTIFICATION = "Alice asked us to check her quarterly budget project with her."
# Far above a page's few milliseconds here, far below the 5 s a lock wait costs (the bug took 10 s).
QUICK_SECONDS = 2.0
MAIL_WAIT_SECONDS = 20  # the worker polls every 2 s
NOTICE = "Support is accessing your"  # the access notice's subject


def code(secret: str, *, steps_ago: int = 0) -> str:
    """A TOTP code: the server accepts this step's and the previous one's, each once per member. A
    sign-in with the previous step's code leaves this step's code for the impersonation's step-up."""
    return pyotp.TOTP(secret).at(time.time() - 30 * steps_ago)


class Visitor:
    """One person's requests to one host of the running product, sent the way a browser sends them
    (Host header, cookies, CSRF token read from the page), each one timed."""

    def __init__(self, product: Launched, host: str) -> None:
        self.base = f"http://127.0.0.1:{product.port}"
        self.host = f"{host}:{product.port}"
        self.session = requests.Session()
        self.slowest = 0.0

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        started = time.perf_counter()
        response = self.session.request(
            method, self.base + path, headers={"Host": self.host}, allow_redirects=False, timeout=30, **kwargs
        )
        elapsed = time.perf_counter() - started
        self.slowest = max(self.slowest, elapsed)
        assert elapsed < QUICK_SECONDS, f"{method} {self.host}{path} took {elapsed:.1f} s"
        assert response.status_code < 500, f"{method} {path}: {response.status_code}\n{response.text[:500]}"
        return response

    def get(self, path: str) -> requests.Response:
        return self.request("GET", path)

    def submit(self, page: str, action: str, data: dict) -> requests.Response:
        """GET `page`, then POST `data` to `action` with the page's CSRF token."""
        token = csrf_token(self.get(page).text)
        return self.request("POST", action, data={"csrf_token": token, **data})


def staff_signs_in(product: Launched, role: str, *, steps_ago: int = 0) -> Visitor:
    console = Visitor(product, CONSOLE_HOST)
    email = f"{role}@impersonator.example"
    answer = console.submit("/sign-in", "/sign-in", {"email": email, "password": staff_password(role)})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/sign-in/code"), answer.text
    secret = product.totp_secrets()[role]
    answer = console.submit("/sign-in/code", "/sign-in/code", {"code": code(secret, steps_ago=steps_ago)})
    assert answer.status_code == 302, answer.text
    home = console.get("/")
    assert home.status_code == 200
    assert f"Welcome, {DEMO_STAFF_NAMES[role]}" in home.text
    return console


def access_notices(instance: Path, to: str) -> list[str]:
    """Subjects of the mails the worker wrote to `to` in the instance's mail folder."""
    subjects = []
    for path in sorted((instance / "mail").glob("*.eml")):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        if message["To"] == to:
            subjects.append(str(message["Subject"]))
    return subjects


def mails(instance: Path, to: str, subject_part: str) -> int:
    return len([subject for subject in access_notices(instance, to) if subject_part in subject])


def wait_for_mail(instance: Path, to: str, subject_part: str, *, more_than: int = 0) -> None:
    """Wait until the worker has written more than `more_than` such mails."""
    deadline = time.monotonic() + MAIL_WAIT_SECONDS
    while mails(instance, to, subject_part) <= more_than:
        if time.monotonic() > deadline:
            pytest.fail(f"no new mail to {to} about {subject_part!r} within {MAIL_WAIT_SECONDS} s")
        time.sleep(0.25)


# --- what the launcher prints --------------------------------------------------------------------


def test_the_last_lines_printed_are_the_console_address_and_the_sign_in(product):
    printed = [line.strip() for line in product.output.splitlines() if line.strip()]
    tail = printed[printed.index(next(line for line in printed if READY_LINE in line)) :]
    assert tail[1] == f"Open     http://{CONSOLE_HOST}:{product.port}/"
    assert tail[2] == "Sign in  support@impersonator.example  /  support-demo-password"
    assert tail[3].startswith("Code     make codes")
    # Everything the two processes said at start-up came before, each line named after its process.
    before = printed[: printed.index(tail[0])]
    assert any(line.startswith("worker | outbox worker started") for line in before)
    assert any(line.startswith("web    |") and "Running on" in line for line in before)


def test_the_address_flask_prints_leads_to_the_console(product):
    for host in ("127.0.0.1", "localhost"):
        answer = requests.get(
            f"http://127.0.0.1:{product.port}/",
            headers={"Host": f"{host}:{product.port}"},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code == 302
        assert answer.headers["Location"] == product.url(CONSOLE_HOST)
        assert answer.headers["X-Request-Id"]


# --- the first clicks over HTTP, while the worker runs -------------------------------------------


def test_the_admin_signs_in_and_a_new_member_enrols_with_a_link_no_log_line_holds(product, page: Page):
    # By now the worker has polled for a while: an idle pass is where it used to keep the lock.
    console = staff_signs_in(product, "admin")
    assert ALICE_NAME in console.get("/search?q=acme").text
    assert "outbox work" in console.get("/admin/outbox/").text

    # A new member's one-time link carries its token in the fragment, which no browser sends.
    created = console.submit(
        "/admin/staff/",
        "/admin/staff/",
        {"email": "nina@corp.example", "name": "Nina New", "role": "support"},
    )
    # Post/Redirect/Get: the link is shown once, on the page the POST redirects to.
    assert created.status_code == 303, created.text
    shown = console.get(urlsplit(created.headers["Location"]).path)
    link = html.unescape(re.search(r'id="enrolment-link"[^>]*>([^<]+)</code>', shown.text).group(1))
    token = link.split("#", 1)[1]
    assert link == product.url(CONSOLE_HOST, f"/enrol#{token}")
    page.goto(link)
    expect(page.get_by_role("heading", name="Welcome, Nina New")).to_be_visible()
    assert "#" not in page.url  # the script took the code off the address bar
    page.get_by_label("New password", exact=True).fill("nina's long new password")
    page.get_by_label("Repeat the new password").fill("nina's long new password")
    page.get_by_role("button", name="Set password and continue").click()
    expect(page.get_by_text("Now set up your authenticator app.")).to_be_visible()
    time.sleep(0.5)  # the web server's last lines
    assert token not in product.output


def test_the_security_officer_runs_the_command_the_audit_page_prints_as_printed(product):
    console = staff_signs_in(product, "security")
    audit_page = console.get("/audit/")
    assert audit_page.status_code == 200
    command = html.unescape(re.search(r"<code>([^<]*audit verify)</code>", audit_page.text).group(1))
    assert command == ".venv/bin/flask audit verify"

    # Typed in the checkout with no variable to guess: the instance folder's `make run` mark makes it
    # development. (IMPERSONATOR_INSTANCE only points at this test's instance instead of instance/.)
    env = {k: v for k, v in os.environ.items() if k not in ("IMPERSONATOR_ENV", "DATABASE_URL")}
    env["IMPERSONATOR_INSTANCE"] = str(product.instance)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    argv = shlex.split(command)
    argv[0] = str(Path(sys.executable).parent / "flask")  # this run's venv, wherever make test made it
    verified = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)

    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith("audit chain OK")
    assert "verified up to" in console.get("/audit/").text


def test_impersonating_alice_over_http_ends_cleanly_and_the_worker_mails_the_notice(product):
    notices_before = mails(product.instance, ALICE_EMAIL, NOTICE)
    console = staff_signs_in(product, "impersonator", steps_ago=1)
    results = console.get("/search?q=acme")
    alice_id = re.search(rf'href="/users/(\d+)"[^>]*>\s*{ALICE_NAME}', results.text).group(1)
    secret = product.totp_secrets()["impersonator"]
    requested = console.submit(
        f"/users/{alice_id}",
        f"/users/{alice_id}/impersonate",
        {
            "justification": JUSTIFICATION,
            "ticket": "",
            "duration": "15",
            "mode": "read_only",
            "totp_code": code(secret),
        },
    )
    # POST-redirect-GET: the handoff page is the redirect's one GET.
    assert requested.status_code == 303, requested.text
    launch_page = console.get(urlsplit(requested.headers["Location"]).path)
    assert launch_page.status_code == 200, launch_page.text
    action = re.search(r'<form method="post" action="([^"]+)" data-autosubmit', launch_page.text).group(1)
    token = re.search(r'name="token" value="([^"]+)"', launch_page.text).group(1)
    assert action == product.url(ACME_HOST, "/impersonation/redeem")

    tenant = Visitor(product, ACME_HOST)
    redeemed = tenant.request("POST", "/impersonation/redeem", data={"token": token})
    assert redeemed.status_code == 303
    home = tenant.get("/")
    assert home.status_code == 200
    assert "Impersonation in progress" in home.text and ALICE_NAME in home.text
    ended = tenant.submit("/", "/impersonation/end", {})
    assert ended.status_code == 303
    # The confirmation on the tenant (200), linking back to the console's page of the user.
    landed = tenant.get(urlsplit(ended.headers["Location"]).path)
    assert landed.status_code == 200 and "You ended your impersonation of" in landed.text
    assert f'href="{product.url(CONSOLE_HOST, f"/users/{alice_id}")}"' in landed.text

    # The worker delivers the access notice: a file in the instance's mail folder, within seconds.
    wait_for_mail(product.instance, ALICE_EMAIL, NOTICE, more_than=notices_before)


def test_a_token_sent_in_an_address_never_reaches_the_log(product):
    """I3: tokens travel in a form's body. One pasted into an address is refused (and cancelled, see
    tests/web/test_redeem.py), and the web server's log line keeps the path, not the query."""
    token = "eyJpIjoxfQ.aBcDeF.c2lnbmF0dXJlLW5vdC1pbi1hbnktbG9n"
    tenant = Visitor(product, ACME_HOST)

    assert tenant.get(f"/impersonation/redeem?token={token}").status_code == 405
    refused = tenant.request("POST", f"/impersonation/redeem?token={token}", data={"token": token})
    assert refused.status_code == 400

    deadline = time.monotonic() + 10
    while product.output.count("/impersonation/redeem?…") < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert product.output.count("/impersonation/redeem?…") >= 2  # both lines, without their query
    assert token not in product.output
    assert "c2lnbmF0dXJl" not in product.output


# --- the README's clicks in Chromium ---------------------------------------------------------------


def test_the_readme_clicks_in_chromium(product, page: Page):
    notices_before = mails(product.instance, ALICE_EMAIL, NOTICE)
    secret = product.totp_secrets()["support"]
    page.goto(product.url(CONSOLE_HOST))
    expect(page.get_by_role("heading", name="Staff sign-in")).to_be_visible()
    page.get_by_label("Email").fill("support@impersonator.example")
    page.get_by_label("Password").fill(staff_password("support"))
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Authenticator code").fill(code(secret, steps_ago=1))
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name=f"Welcome, {DEMO_STAFF_NAMES['support']}")).to_be_visible()

    page.get_by_label("Search users").fill("acme")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=ALICE_NAME).click()
    expect(page.get_by_role("heading", name=ALICE_NAME, exact=True)).to_be_visible()
    page.get_by_label("Justification").fill(JUSTIFICATION)
    page.get_by_label("Authenticator code").fill(code(secret))
    page.get_by_role("button", name="Start impersonation").click()

    expect(page).to_have_url(product.url(ACME_HOST))
    banner = page.get_by_role("region", name="Impersonation in progress")
    expect(banner).to_contain_text(ALICE_NAME)
    expect(banner).to_contain_text(DEMO_STAFF_NAMES["support"])
    page.screenshot(path=artifact_path("make-run-ghost-home"), full_page=True)
    banner.get_by_role("button", name="End impersonation").click()
    expect(page.get_by_role("heading", name="Impersonation ended")).to_be_visible()
    page.get_by_role("link", name=f"Back to {ALICE_NAME} on the console").click()
    expect(page.get_by_role("heading", name=ALICE_NAME, exact=True)).to_be_visible()
    expect(page.get_by_role("table").filter(has_text=JUSTIFICATION)).to_contain_text("ended")

    # Alice, on her own domain: her access history shows it, and she generates a code for support.
    page.goto(product.url(ACME_HOST))
    page.get_by_label("Email").fill(ALICE_EMAIL)
    page.get_by_label("Password").fill(CUSTOMER_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name=f"Hello, {ALICE_NAME}")).to_be_visible()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Support access").click()
    page.get_by_role("button", name="Generate a code").click()
    expect(page.get_by_text("It will not be shown again")).to_be_visible()
    page.screenshot(path=artifact_path("make-run-customer-code"), full_page=True)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Support access").click()
    page.get_by_role("link", name="access history").click()
    expect(page.get_by_role("main")).to_contain_text(JUSTIFICATION)
    wait_for_mail(product.instance, ALICE_EMAIL, NOTICE, more_than=notices_before)


# --- stopping ------------------------------------------------------------------------------------


def test_sigterm_stops_the_web_server_and_the_worker(tmp_path):
    launched = launch(tmp_path / "instance")
    answer = requests.get(launched.url("127.0.0.1"), allow_redirects=False, timeout=10)
    assert answer.status_code == 302

    assert launched.stop() == 0
    with pytest.raises(ProcessLookupError):  # nothing is left of its process group: no orphan
        os.killpg(launched.process.pid, 0)
    with pytest.raises(requests.ConnectionError):
        requests.get(launched.url("127.0.0.1"), timeout=5)
    assert "stopped (exit" not in launched.output  # neither child died on its own
