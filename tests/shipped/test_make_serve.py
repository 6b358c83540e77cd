"""`make serve` as shipped (issue 12): the Makefile's launcher in production on a throwaway PostgreSQL,
gunicorn (gunicorn.conf.py) and the outbox worker as real processes, talked to over HTTP only.

No TLS proxy runs here: the test stands in for one, as TRUSTED_PROXY_COUNT=1 tells the app, sending
`X-Forwarded-Proto: https` and letting the `Secure` cookies travel back over the loopback.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pyotp
import pytest
import requests
from sqlalchemy import func, select

from impersonator import ROOT, create_app
from impersonator.extensions import db
from impersonator.models import OutboxMessage, Tenant, TenantDomain
from impersonator.services.delivery import mail
from tests.conftest import _dispose, config_for
from tests.shipped.conftest import Launched, start_launcher
from tests.shipped.test_make_run import Visitor
from tests.support.postgres import free_port
from tests.support.web import csrf_token

pytestmark = pytest.mark.postgres

SERVING = "Impersonator is serving"
CONSOLE_HOST = "console.localhost"
TENANT_HOST = "acme.localhost"
READY_TIMEOUT_SECONDS = 60
WEB_WORKERS = 2
FLASK = [sys.executable, "-m", "flask", "--app", "app"]
_DELIVERED = re.compile(r"outbox delivered id=(msg_[\w-]+)")


def make_serve_arguments(port: int) -> list[str]:
    """The launcher's arguments exactly as the Makefile's `serve` recipe writes them, with our port."""
    recipe = re.search(r"^serve:.*\n\t(.+)$", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M).group(1)
    assert recipe == "@$(PY) scripts/launch.py serve --bind $(SERVE_BIND)"
    return ["serve", "--bind", f"127.0.0.1:{port}"]


def production_environment(database_url: str, mail_dir: Path) -> dict[str, str]:
    """What an operator exports: production secrets of their own, PostgreSQL, one TLS proxy in front."""
    ours = ("DATABASE_URL", "MAIL_DIR", "PUBLIC_PORT", "PUBLIC_SCHEME", "IMPERSONATOR_INSTANCE")
    env = {k: v for k, v in os.environ.items() if k not in ours and not k.startswith("SESSION_COOKIE")}
    env.update(
        IMPERSONATOR_ENV="development",  # what the Makefile exports for `make run`: serve must override it
        SECRET_KEY=secrets.token_urlsafe(32),
        AUDIT_HMAC_KEY=secrets.token_urlsafe(32),
        DATABASE_URL=database_url,
        CONSOLE_HOST=CONSOLE_HOST,
        TRUSTED_PROXY_COUNT="1",
        MAIL_BACKEND="file",
        MAIL_DIR=str(mail_dir),
        WEB_CONCURRENCY=str(WEB_WORKERS),
    )
    return env


def serve(env: dict[str, str], instance: Path) -> Launched:
    """`make serve`'s launcher, ready: it said so and /readyz answers 200."""
    port = free_port()
    launched = start_launcher(make_serve_arguments(port), env, port, instance, SERVING)
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while True:
        try:
            answer = requests.get(
                launched.url("127.0.0.1", "/readyz"), headers={"Host": CONSOLE_HOST}, timeout=5
            )
            if answer.status_code == 200:
                return launched
        except requests.RequestException:  # not listening yet, or busy starting its workers
            pass
        if time.monotonic() > deadline:
            launched.stop()
            pytest.fail(f"/readyz never answered 200:\n{launched.output[-4000:]}", pytrace=False)
        time.sleep(0.2)


@pytest.fixture(scope="module")
def database_url(postgres_server) -> str:
    return postgres_server.create_database("make_serve")


@pytest.fixture(scope="module")
def environment(database_url, tmp_path_factory) -> dict[str, str]:
    return production_environment(database_url, tmp_path_factory.mktemp("mail"))


@pytest.fixture(scope="module")
def served(environment, tmp_path_factory):
    launched = serve(environment, tmp_path_factory.mktemp("serve"))
    try:
        yield launched
    finally:
        launched.stop()


@pytest.fixture(scope="module")
def same_database(database_url, served):
    """An app of this process on the served database (after `flask db upgrade` ran), to set the scene."""
    app = create_app(config_for(database_url))
    yield app
    _dispose(app)


class BehindTls(Visitor):
    """A browser reaching gunicorn through a TLS-terminating proxy (one trusted hop)."""

    def __init__(self, product: Launched, host: str) -> None:
        super().__init__(product, host)
        self.session.headers.update(
            {
                "X-Forwarded-Proto": "https",
                "X-Forwarded-For": "198.51.100.7",
                "Referer": f"https://{self.host}/",  # Flask-WTF checks it on HTTPS
            }
        )

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        # requests keeps `Secure` cookies off plain HTTP; past the proxy, the browser's HTTPS, they go.
        self.session.headers["Cookie"] = "; ".join(f"{c.name}={c.value}" for c in self.session.cookies)
        return super().request(method, path, **kwargs)


def access_log(launched: Launched) -> list[dict]:
    """gunicorn's access log lines, as relayed by the launcher (`web    | {…}`)."""
    entries = []
    for line in launched.lines:
        name, _, rest = line.partition(" | ")
        if name.strip() == "web" and rest.startswith("{"):
            entry = json.loads(rest)
            if entry.get("logger") == "gunicorn.access":
                entries.append(entry)
    return entries


def wait_for(condition, what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {seconds} s")
        time.sleep(0.2)


# --- health -----------------------------------------------------------------------------------------


def test_health_answers_on_the_console_host_only_without_sign_in_or_cookie(served):
    def get(host: str, path: str) -> requests.Response:
        return requests.get(served.url("127.0.0.1", path), headers={"Host": host}, timeout=10)

    ready, alive = get(CONSOLE_HOST, "/readyz"), get(CONSOLE_HOST, "/healthz")
    assert (ready.status_code, ready.json()) == (200, {"ok": True})
    assert (alive.status_code, alive.text) == (200, "ok\n")
    assert "Set-Cookie" not in ready.headers and "Set-Cookie" not in alive.headers
    for path in ("/readyz", "/healthz"):
        assert get(TENANT_HOST, path).status_code == 404


# --- the first clicks, through gunicorn ----------------------------------------------------------------


def test_a_staff_member_made_with_the_cli_enrols_signs_in_and_searches_leaving_no_query_in_the_log(
    served, environment, same_database
):
    created = subprocess.run(
        [*FLASK, "staff", "create", "--email", "ada@corp.example", "--name", "Ada Admin", "--role", "admin"],
        cwd=ROOT,
        env={**environment, "IMPERSONATOR_ENV": "production"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    password = re.search(r"Initial password \(shown once[^)]*\): (\S+)", created.stdout).group(1)

    console = BehindTls(served, CONSOLE_HOST)
    answer = console.submit("/sign-in", "/sign-in", {"email": "ada@corp.example", "password": password})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/sign-in/enrol"), answer.text
    enrol = console.get("/sign-in/enrol")
    secret = re.search(r'id="totp-secret"[^>]*>([A-Z2-7 ]+)</code>', enrol.text).group(1).replace(" ", "")
    answer = console.request(
        "POST",
        "/sign-in/enrol",
        data={"csrf_token": csrf_token(enrol.text), "code": pyotp.TOTP(secret).now()},
    )
    assert answer.status_code == 302, answer.text
    assert "Welcome, Ada Admin" in console.get("/").text

    # A search for a customer's address and a token in an address: both reach gunicorn's log as paths.
    term, token = "someone.private@customer.example", "eyJpIjoxfQ.tOkEn.never-in-any-log"
    searched, probed = console.get(f"/search?q={term}"), console.get(f"/readyz?token={token}")
    assert (searched.status_code, probed.status_code) == (200, 200)

    # A tenant page on a tenant domain (production has no demo data: the tenant is made here).
    with same_database.app_context():
        tenant = Tenant(slug="acme", name="Acme", created_at=datetime.now(UTC))
        tenant.domains.append(TenantDomain(domain=TENANT_HOST))
        db.session.add(tenant)
        db.session.commit()
    tenant_page = BehindTls(served, TENANT_HOST).get("/sign-in")
    assert tenant_page.status_code == 200 and "Acme" in tenant_page.text

    # Each line is found by the request id its response carried.
    ids = {response.headers["X-Request-Id"]: response for response in (searched, probed, tenant_page)}
    wait_for(lambda: ids.keys() <= {e["request_id"] for e in access_log(served)}, "the access log lines")
    logged = {e["request_id"]: e for e in access_log(served) if e["request_id"] in ids}
    assert [(e["host"], e["path"], e["status"]) for e in logged.values()] == [
        (f"{CONSOLE_HOST}:{served.port}", "/search", 200),
        (f"{CONSOLE_HOST}:{served.port}", "/readyz", 200),
        (f"{TENANT_HOST}:{served.port}", "/sign-in", 200),
    ]
    assert all("?" not in e["path"] and "?" not in e["message"] for e in access_log(served))
    assert term not in served.output and token not in served.output


# --- two outbox workers ------------------------------------------------------------------------------


def test_two_outbox_workers_deliver_each_message_once_by_id(served, environment, same_database):
    """I10 across processes: `make serve`'s worker and a second one (another machine's) drain one queue;
    each message is claimed once (one attempt) and delivered once, by its id."""
    second = subprocess.Popen(
        [*FLASK, "outbox", "work"],
        cwd=ROOT,
        env={**environment, "IMPERSONATOR_ENV": "production", "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    second_lines: list[str] = []
    threading.Thread(target=lambda: second_lines.extend(second.stdout), daemon=True).start()
    try:
        wait_for(lambda: any("outbox worker started" in line for line in second_lines), "the second worker")
        with same_database.app_context():
            now = datetime.now(UTC)
            ids = [
                mail.enqueue(
                    mail.Mail(f"user{n}@customer.example", f"Message {n}", "text", "<p>html</p>"),
                    event_type="test.two_workers",
                    now=now,
                ).message_id
                for n in range(300)
            ]
            db.session.commit()

        def all_delivered() -> bool:
            with same_database.app_context():
                statuses = db.session.execute(
                    select(OutboxMessage.status, func.count())
                    .where(OutboxMessage.message_id.in_(ids))
                    .group_by(OutboxMessage.status)
                ).all()
                db.session.rollback()
            return dict(statuses) == {"delivered": len(ids)}

        wait_for(all_delivered, "300 messages delivered", seconds=90)
        with same_database.app_context():
            attempts = db.session.scalars(
                select(OutboxMessage.attempts).where(OutboxMessage.message_id.in_(ids))
            ).all()
            db.session.rollback()
        assert set(attempts) == {1}  # one claim each: no message was attempted by both workers
        time.sleep(0.5)  # the last log lines
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(second.pid, signal.SIGKILL)
            second.wait()

    sent = Counter(_DELIVERED.findall(served.output) + _DELIVERED.findall("".join(second_lines)))
    assert {message_id: sent[message_id] for message_id in ids} == dict.fromkeys(ids, 1)
    assert len(list(Path(environment["MAIL_DIR"]).glob("*.eml"))) >= len(ids)


# --- starting and stopping --------------------------------------------------------------------------


def group_members(pgid: int) -> set[int]:
    """Live processes of a process group (from /proc; zombies count as gone)."""
    members = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.add(int(stat.parent.name))
    return members


def test_sigterm_stops_gunicorn_its_workers_and_the_outbox_worker_and_exits_0(environment, tmp_path):
    launched = serve(environment, tmp_path)
    started = group_members(launched.process.pid)
    # The launcher, the outbox worker, gunicorn's master and its workers.
    assert len(started) == 3 + WEB_WORKERS, launched.output[-2000:]

    assert launched.stop() == 0
    with pytest.raises(ProcessLookupError):
        os.killpg(launched.process.pid, 0)
    assert not group_members(launched.process.pid)
    with pytest.raises(requests.ConnectionError):
        requests.get(launched.url("127.0.0.1", "/healthz"), headers={"Host": CONSOLE_HOST}, timeout=5)
    assert "stopped (exit" not in launched.output  # no child died on its own


def test_an_insecure_environment_starts_nothing_and_says_why_in_one_line(environment, tmp_path):
    env = {
        **environment,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}",
        "SESSION_COOKIE_SECURE": "false",
    }
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "launch.py"), *make_serve_arguments(free_port())],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    refusals = [line for line in result.stderr.splitlines() if line.startswith("impersonator:")]
    assert len(refusals) == 1, result.stderr
    assert "SQLite" in refusals[0] and "SESSION_COOKIE_SECURE" in refusals[0]
    assert "Booting worker" not in result.stdout and "outbox worker started" not in result.stdout
