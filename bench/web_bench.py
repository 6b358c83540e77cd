"""Web benchmarks: requests per second through gunicorn, measured with wrk, each page stated against
the one-read floor measured in the same run (MEASURED.md), with a verdict per target.

    .venv/bin/python -m bench.web_bench [--seconds 10]

The product runs as production runs it (`make serve`'s shape): IMPERSONATOR_ENV=production on a
throwaway PostgreSQL (tests/support/postgres.py, migrated with flask_migrate.upgrade and seeded with
the demo data), keys of 32+ characters made for the run, gunicorn with the shipped gunicorn.conf.py
(sync workers, the JSON access logger, max_requests recycling), behind a pretend TLS proxy:
TRUSTED_PROXY_COUNT=1 and every request carries `X-Forwarded-Proto: https`, so the `__Host-` cookies
are `Secure` and the client sends them back itself, as a browser does past the proxy. What the bench
changes from production, and why:

- WEB_CONCURRENCY=2: the reference of MEASURED.md (production would start 2 x CPUs + 1);
- the access log goes to a file of its own instead of stdout; the bench reads it to count every
  response's status, so a redirect or a refusal in the middle of a run cannot hide behind a 3xx;
- the rate limits (SEARCH_, IMPERSONATION_, REDEEM_, SIGN_IN_RATE_LIMIT) are "off": a benchmark is
  exactly the traffic they refuse, so the figures do not include the limits' counting;
- TOKEN_TTL_SECONDS=120 (the most the configuration allows), so no token lapses during a run.

There is no SQLite bed: production refuses SQLite, and the targets are stated on PostgreSQL.

Scenarios, each a probe (status and page content), a warm-up, the measured wrk run, and the same
probe again:

- baseline: `bench/bare_app.py`, GET / (first and last);
- MEASURED.md's ladder on the bare app, each rung one layer more: a signed session cookie read, a
  cached Jinja template, one user by primary key on PostgreSQL: the one-read floor, measured right
  after the first baseline and again right before the last; the product rows divide by the mean;
- console search GET /search?q=alice as a signed-in support agent: target >= 0.5 x floor;
- tenant home on acme.localhost in the customer's own session and the same page in a real ghost
  session (requested through `lifecycle.request`, redeemed through the web), in the order customer,
  ghost, ghost, customer, so that a machine that speeds up or slows down favours neither: target
  ghost >= 0.95 x customer;
- redemptions: POST /impersonation/redeem with a fresh token per request: target >= 0.35 x floor;
- worker memory: the RSS of each gunicorn worker of the product after the last product scenario,
  and the peak of any worker sampled during the run (recycled ones included): target <= 150 MiB.

Next to each figure: what one request costs in-process (test client, no HTTP server), in ms and in SQL
statements, transactions, pre-pings and PostgreSQL round trips; the floor's in-process ms comes from
the bare app the same way. It prints a table, appends it to bench/RESULTS.md, and exits 1 when a
target is missed, a probe failed, or any response had another status than the scenario's (200 for
pages, 303 for redemptions; redirects included) or a socket error. Everything it starts listens on
127.0.0.1 and is stopped on exit, Ctrl-C included.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import event, insert, select, text
from sqlalchemy.engine import Engine

from bench import bare_app
from config import RATE_LIMIT_SETTINGS, ProductionConfig
from impersonator import clock, create_app
from impersonator.extensions import db
from impersonator.models import Impersonation, Staff, Tenant, User
from impersonator.services.demo import CUSTOMER_PASSWORD, DemoStaff, seed_demo
from impersonator.services.impersonation import handoff, lifecycle, tokens
from impersonator.services.passwords import hash_password
from impersonator.services.staff import totp
from scripts.procfs import children_of, rss_mib
from tests.support.postgres import PostgresServer

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
MIGRATIONS = str(ROOT / "migrations")
GUNICORN_CONF = ROOT / "gunicorn.conf.py"

# Made for the run, 58 characters each: production refuses published keys and keys under 32.
SECRET_KEY = "web-bench-only-secret-key-" + secrets.token_hex(16)
AUDIT_HMAC_KEY = "web-bench-only-audit-key-" + secrets.token_hex(16)
CONSOLE_HOST = "console.localhost"
TENANT_HOST = "acme.localhost"
# What the pretend TLS proxy (one trusted hop) adds to every request, the bench's and wrk's alike.
PROXY_HEADERS = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}
CUSTOMER_EMAIL = "alice@acme.example"
SEARCH_QUERY = "alice"
SEARCH_PATH = f"/search?q={SEARCH_QUERY}"
GHOST_MARK = b"/impersonation/end"  # the ghost banner's End button posts here; customers never see it
TOKEN_TTL_SECONDS = 120  # the longest the configuration allows: no token expires during a run
# Besides the demo data: enough users that "alice" fills a whole result page (50 rows).
EXTRA_USERS = 2_000
EXTRA_ALICES = 200
WORKERS = 2
WRK_THREADS = 2
CONNECTIONS = 16
# A response slower than this is a socket error for wrk (its default, 2 s, trips on a loaded machine).
WRK_TIMEOUT_SECONDS = 10
SOCKET_ERRORS = ("connect", "read", "write", "timeout")
PROFILE_REQUESTS = 200  # in-process requests per scenario for the ms and SQL counts
FLOOR_PATH = "/user/postgresql"
FLOOR = "floor: + user by primary key, PostgreSQL (TCP)"
# MEASURED.md's ladder on bench/bare_app.py, each adding one layer; the last is the one-read floor.
RUNGS = (
    ("/cookie", "rung: + signed session cookie read"),
    ("/template", "rung: + cached Jinja template"),
)
# The targets (issue 12).
SEARCH_X_FLOOR = 0.5
GHOST_X_CUSTOMER = 0.95
REDEEM_X_FLOOR = 0.35
WORKER_RSS_MIB = 150
RSS_SAMPLE_SECONDS = 1.0


# ---------------------------------------------------------------------------------------------------
# Configuration: the same settings for the app built here (seeding, cookies) and for gunicorn.

# Inherited variables that would change what is measured; the bench sets the ones it needs itself.
NOT_INHERITED = (
    "DATABASE_URL",
    "SESSION_COOKIE_SECURE",
    "SECURITY_HSTS",
    "PUBLIC_SCHEME",
    "PUBLIC_PORT",
    "TRUSTED_PROXY_COUNT",
    "WEB_CONCURRENCY",
    "GUNICORN_BIND",
    "GUNICORN_MAX_REQUESTS",
    "LOG_LEVEL",
    *RATE_LIMIT_SETTINGS,
)


def inherited_environment() -> dict[str, str]:
    return {
        name: value
        for name, value in os.environ.items()
        if name not in NOT_INHERITED and not name.startswith("BARE_")
    }


def app_environment(database_url: str) -> dict[str, str]:
    """The gunicorn subprocess's environment: production behind one TLS proxy, rate limits off."""
    env = inherited_environment()
    env.update(
        IMPERSONATOR_ENV="production",
        SECRET_KEY=SECRET_KEY,
        AUDIT_HMAC_KEY=AUDIT_HMAC_KEY,
        DATABASE_URL=database_url,
        CONSOLE_HOST=CONSOLE_HOST,
        TRUSTED_PROXY_COUNT="1",
        TOKEN_TTL_SECONDS=str(TOKEN_TTL_SECONDS),
        WEB_CONCURRENCY=str(WORKERS),
        **dict.fromkeys(RATE_LIMIT_SETTINGS, "off"),
    )
    return env


def bare_environment(bed: Bed) -> dict[str, str]:
    """The bare app's environment (bench/bare_app.py): its cookie key and the bed's database."""
    env = inherited_environment()
    env.update(
        BARE_SECRET_KEY=SECRET_KEY,
        BARE_POSTGRESQL_URL=bed.url,
        BARE_POSTGRESQL_USER_ID=str(bed.alice_id),
        WEB_CONCURRENCY=str(WORKERS),
    )
    return env


def in_process_config(database_url: str) -> type[ProductionConfig]:
    """The configuration `app_environment` gives gunicorn, as a class for this process's own app."""
    return type(
        "WebBenchConfig",
        (ProductionConfig,),
        {
            "SECRET_KEY": SECRET_KEY,
            "AUDIT_HMAC_KEY": AUDIT_HMAC_KEY,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "CONSOLE_HOST": CONSOLE_HOST,
            "PUBLIC_SCHEME": "https",
            "PUBLIC_PORT": 0,
            "TRUSTED_PROXY_COUNT": 1,
            "SESSION_COOKIE_SECURE": True,
            "SECURITY_HSTS": True,
            "TOKEN_TTL_SECONDS": TOKEN_TTL_SECONDS,
            **dict.fromkeys(RATE_LIMIT_SETTINGS, "off"),
        },
    )


def tenant_face(app: Flask) -> Flask:
    return app.extensions["impersonator.tenant_app"]


# ---------------------------------------------------------------------------------------------------
# Processes: gunicorn servers and wrk runs.


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def http_request(
    port: int, method: str, path: str, host: str, cookie: str | None = None, form: str | None = None
) -> Answer:
    """One request as the proxy would pass it on (PROXY_HEADERS), on a connection of its own."""
    headers = {"Host": host, **PROXY_HEADERS, **({"Cookie": cookie} if cookie else {})}
    if form is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=form, headers=headers)
        response = conn.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        conn.close()


class Gunicorn:
    """gunicorn with the shipped gunicorn.conf.py on 127.0.0.1, in a process group of its own, its
    access log (JSON lines) in a file the bench reads."""

    def __init__(
        self, name: str, target: str, env: dict[str, str], workdir: Path, extra: tuple[str, ...] = ()
    ) -> None:
        self.name, self.target, self.extra = name, target, extra
        self.port = free_port()
        self.env = {**env, "GUNICORN_BIND": f"127.0.0.1:{self.port}"}
        self.log_path = workdir / f"gunicorn-{name}.log"
        self.access_path = workdir / f"access-{name}.jsonl"
        self.access_offset = 0
        self.process: subprocess.Popen | None = None

    def start(self) -> Gunicorn:
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            str(GUNICORN_CONF),
            "--chdir",
            str(ROOT),
            "--access-logfile",
            str(self.access_path),
            *self.extra,
            self.target,
        ]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(  # noqa: S603  (a fixed command)
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn ({self.name}) exited:\n{self.log_tail()}")
            try:
                http_request(self.port, "GET", "/", "bench.invalid")
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"gunicorn ({self.name}) did not answer in 30 s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Stop the master and its workers: the whole process group we started, by its id."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=35)  # gunicorn.conf.py's graceful_timeout is 30 s
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            pass

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def workers(self) -> list[int]:
        return children_of(self.process.pid) if self.process else []

    def recycled(self) -> int:
        """Workers that left after max_requests (gunicorn.conf.py), from gunicorn's own log."""
        try:
            return self.log_path.read_text(errors="replace").count("Autorestarting worker")
        except OSError:
            return 0

    def mark(self) -> None:
        """Count statuses from here on (see `statuses`)."""
        self.settle()
        self.access_offset = self.access_size()

    def access_size(self) -> int:
        try:
            return self.access_path.stat().st_size
        except OSError:
            return 0

    def settle(self, quiet: float = 0.3, most: float = 5.0) -> None:
        """Wait until the access log stops growing: the last requests of a run are logged after wrk
        has gone (each line is written once its response is sent)."""
        deadline = time.monotonic() + most
        size, still_since = self.access_size(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now_size = self.access_size()
            if now_size != size:
                size, still_since = now_size, time.monotonic()
            elif time.monotonic() - still_since >= quiet:
                return

    def statuses(self) -> Counter[int]:
        """The statuses of the responses logged since `mark`; the mark moves to the end."""
        self.settle()
        with self.access_path.open("rb") as log:
            log.seek(self.access_offset)
            chunk = log.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self.access_offset += len(complete)
        counted: Counter[int] = Counter()
        for line in complete.splitlines():
            try:
                counted[int(json.loads(line)["status"])] += 1
            except (ValueError, KeyError, TypeError):
                counted[0] += 1  # not an access line of ours: unexpected
        return counted

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


class RssSampler:
    """The RSS of each worker of a server, every RSS_SAMPLE_SECONDS while running: the peak per
    worker process, the ones max_requests replaced included."""

    def __init__(self, server: Gunicorn) -> None:
        self.server = server
        self.peaks: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> dict[int, float]:
        now = {pid: rss for pid in self.server.workers() if (rss := rss_mib(pid)) is not None}
        for pid, rss in now.items():
            self.peaks[pid] = max(rss, self.peaks.get(pid, 0.0))
        return now

    def _run(self) -> None:
        while not self._stop.wait(RSS_SAMPLE_SECONDS):
            self.sample()


@dataclass
class WrkResult:
    requests_per_second: float
    requests: int
    bad_status: int  # wrk's "Non-2xx or 3xx responses"
    socket_errors: dict[str, int]  # connect, read, write, timeout
    latency_avg: str

    @property
    def failed_sockets(self) -> int:
        return sum(self.socket_errors.values())


def run_wrk(
    url: str, *, seconds: int, headers: dict[str, str], script: Path | None = None, args=()
) -> WrkResult:
    command = ["wrk", "-t", str(WRK_THREADS), "-c", str(CONNECTIONS), "-d", f"{seconds}s"]
    command += ["--timeout", f"{WRK_TIMEOUT_SECONDS}s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    if script:
        command += ["-s", str(script)]
    command.append(url)
    if args:
        command += ["--", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    out = done.stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if done.returncode != 0 or not found:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{out}\n{done.stderr}")
    total = re.search(r"(\d+) requests in", out)
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    latency = re.search(r"Latency\s+(\S+)", out)
    return WrkResult(
        requests_per_second=float(found.group(1)),
        requests=int(total.group(1)) if total else 0,
        bad_status=int(bad.group(1)) if bad else 0,
        socket_errors=dict(zip(SOCKET_ERRORS, map(int, sock.groups()), strict=True)) if sock else {},
        latency_avg=latency.group(1) if latency else "?",
    )


# The redemption load: each request POSTs the next unused token. wrk gives every thread a Lua state of
# its own, so thread k takes the lines k, k + n, k + 2n … of the token file: no token is sent twice.
REDEEM_LUA = """
local next_id = 0
function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
end

function init(args)
  local path, threads = args[1], tonumber(args[2])
  tokens, position = {}, 0
  local line_number = 0
  for line in io.lines(path) do
    if line_number % threads == thread_id then
      tokens[#tokens + 1] = line
    end
    line_number = line_number + 1
  end
  wrk.method = "POST"
  wrk.path = "/impersonation/redeem"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

function request()
  position = position + 1
  -- Out of tokens: a deliberately bad one, so the run shows refusals instead of replays.
  local token = tokens[position] or "exhausted"
  return wrk.format(nil, nil, nil, "token=" .. token)
end
"""


# ---------------------------------------------------------------------------------------------------
# In-process SQL counting (SQLAlchemy events), next to each figure.


class SqlCounter:
    """Statements, transactions and pool pre-pings while `active`, across every engine."""

    def __init__(self) -> None:
        self.active = False
        self.statements = self.transactions = self.pings = 0
        event.listen(Engine, "before_cursor_execute", self._statement)
        event.listen(Engine, "commit", self._transaction)
        event.listen(Engine, "rollback", self._transaction)

    def _statement(self, *_args: Any) -> None:
        if self.active:
            self.statements += 1

    def _transaction(self, *_args: Any) -> None:
        if self.active:
            self.transactions += 1

    def watch_pings(self, app: Flask) -> None:
        """pool_pre_ping runs `SELECT 1` on the raw connection, out of sight of the events above."""
        for face in (app, tenant_face(app)):
            with face.app_context():
                dialect = db.engine.dialect
            if getattr(dialect, "_bench_counted", False):
                continue
            original = dialect.do_ping

            def counted(dbapi_connection, _original=original):
                if self.active:
                    self.pings += 1
                return _original(dbapi_connection)

            dialect.do_ping = counted
            dialect._bench_counted = True

    def reset(self) -> None:
        self.statements = self.transactions = self.pings = 0


@dataclass
class SqlCost:
    statements: float
    transactions: float
    pings: float
    ms: float  # in-process wall time per request (test client, no HTTP server)

    def round_trips(self) -> float:
        """Client-server round trips on PostgreSQL: each statement and ping, plus BEGIN and the end of
        every transaction (psycopg sends BEGIN itself)."""
        return self.statements + self.pings + 2 * self.transactions


# ---------------------------------------------------------------------------------------------------
# The database: migrated, seeded, with the cookies and tokens the scenarios need.


CSRF = re.compile(rb'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(page) -> str:
    found = CSRF.search(page.data)
    if not found:
        raise RuntimeError(f"no CSRF token on {page.request.path} ({page.status_code})")
    return found.group(1).decode()


def expect(response, status: int, step: str) -> None:
    if response.status_code != status:
        body = response.get_data(as_text=True)[:500]
        raise RuntimeError(f"{step}: expected {status}, got {response.status_code}\n{body}")


def cookie_header(client, app: Flask, host: str, first_page: str) -> str:
    """The session cookie as a browser holds it once it has opened `first_page`: signing in rotates
    the session, and the first page with a form adds its CSRF token to it. A cookie taken before that
    would have every measured request add the token again and send the cookie back re-signed, a cost
    a browser pays once (the probes check that no measured response sets a cookie)."""
    expect(client.get(first_page, **behind_proxy(host)), 200, f"first page {first_page} on {host}")
    name = app.config["SESSION_COOKIE_NAME"]
    cookie = client.get_cookie(name, domain=host)
    if cookie is None:
        raise RuntimeError(f"no {name} cookie for {host}")
    if not cookie.secure:
        raise RuntimeError(f"{name} is not Secure: the bench is not measuring production")
    return f"{name}={cookie.value}"


def behind_proxy(host: str) -> dict[str, Any]:
    """Test-client arguments for a request reaching the app as the pretend TLS proxy passes it on;
    Flask-WTF checks the Referer of a form posted over HTTPS, so it is sent as a browser would."""
    return {"base_url": f"https://{host}", "headers": {**PROXY_HEADERS, "Referer": f"https://{host}/"}}


@dataclass
class Bed:
    """The migrated, seeded database and everything the scenarios send."""

    url: str
    app: Flask
    staff: dict[str, DemoStaff]
    alice_id: int
    acme_id: int
    console_cookie: str = ""
    customer_cookie: str = ""
    ghost_cookie: str = ""
    staff_made: int = 0  # bench impersonators created for tokens so far (issue_tokens)
    costs: dict[str, SqlCost] = field(default_factory=dict)

    @classmethod
    def prepare(cls, url: str) -> Bed:
        app = create_app(in_process_config(url))
        with app.app_context():
            upgrade(directory=MIGRATIONS)
            staff = {account.role: account for account in seed_demo(now=clock.now(), issuer="web_bench")}
            acme = db.session.scalar(select(Tenant).where(Tenant.slug == "acme"))
            globex = db.session.scalar(select(Tenant).where(Tenant.slug == "globex"))
            alice = db.session.scalar(select(User).where(User.email == CUSTOMER_EMAIL))
            add_users(acme.id, globex.id)
            bed = cls(url, app, staff, alice.id, acme.id)
        bed.console_cookie = bed.sign_in_staff("support")
        bed.customer_cookie = bed.sign_in_customer()
        bed.ghost_cookie = bed.start_ghost_session()
        return bed

    def sign_in_staff(self, role: str) -> str:
        """Password, then the TOTP code computed from the stored secret, as a browser would."""
        account = self.staff[role]
        client = self.app.test_client()
        via = behind_proxy(CONSOLE_HOST)
        page = client.get("/sign-in", **via)
        form = {"csrf_token": csrf_token(page), "email": account.email, "password": account.password}
        expect(client.post("/sign-in", data=form, **via), 302, "staff password")
        page = client.get("/sign-in/code", **via)
        code = totp.code_at(account.totp_secret, clock.now())
        form = {"csrf_token": csrf_token(page), "code": code}
        expect(client.post("/sign-in/code", data=form, **via), 302, "staff TOTP")
        return cookie_header(client, self.app, CONSOLE_HOST, SEARCH_PATH)

    def sign_in_customer(self) -> str:
        client = self.app.test_client()
        via = behind_proxy(TENANT_HOST)
        page = client.get("/sign-in", **via)
        form = {"csrf_token": csrf_token(page), "email": CUSTOMER_EMAIL, "password": CUSTOMER_PASSWORD}
        expect(client.post("/sign-in", data=form, **via), 303, "customer sign-in")
        return cookie_header(client, tenant_face(self.app), TENANT_HOST, "/")

    def start_ghost_session(self) -> str:
        """A real ghost session: requested through the service (step-up TOTP included), redeemed on
        the tenant's domain through the web. The impersonator signs nothing else in, so its TOTP step
        is free."""
        account = self.staff["impersonator"]
        with self.app.app_context():
            staff = db.session.scalar(select(Staff).where(Staff.email == account.email))
            now = clock.now()
            ask = lifecycle.Request(
                user_id=self.alice_id,
                justification="Web benchmark: the customer reports a broken home page.",
                ticket="BENCH-1",
                duration_minutes=60,
                mode="read_only",
                totp_code=totp.code_at(account.totp_secret, now),
                access_code=None,
                reason_code="bug_investigation",
            )
            issued = lifecycle.request(staff, ask, ip="127.0.0.1", user_agent="web_bench", now=now)
            launch = handoff.hand_over(staff.id, ask.user_id, issued.impersonation_id, now=now)
        client = self.app.test_client()
        response = client.post(
            "/impersonation/redeem", data={"token": launch.token}, **behind_proxy(TENANT_HOST)
        )
        expect(response, 303, "ghost redemption")
        return cookie_header(client, tenant_face(self.app), TENANT_HOST, "/")

    def issue_tokens(self, count: int) -> list[str]:
        """Redirect tokens for alice, ready to redeem.

        This bypasses `lifecycle.request`: its TOTP step-up allows one issue per 30 s per staff
        member. It inserts the Impersonation rows the service would insert (same columns, same
        policy: a read-only impersonation of an opted-in customer) and signs each token with
        `tokens.issue(Claims(...))`, exactly as the service does. What it skips, the
        "impersonation.requested" audit row, is not part of a redemption's cost.

        The tokens are spread over bench staff members, at most ALERT_IMPERSONATIONS_PER_HOUR each:
        through the product, one member starts at most one impersonation per 30-second TOTP step,
        so one member redeeming thousands within the hour would measure a history nobody can have
        (the redemption's rate alert reads that member's last hour)."""
        with self.app.app_context():
            per_member = self.app.config["ALERT_IMPERSONATIONS_PER_HOUR"]
            staff_ids = self.bench_staff(-(-count // per_member))
            now = clock.now()
            rows = [
                {
                    "staff_id": staff_ids[n // per_member],
                    "user_id": self.alice_id,
                    "tenant_id": self.acme_id,
                    "reason": "Web benchmark: redemption throughput.",
                    "ticket": "BENCH-2",
                    "mode": "read_only",
                    "duration_minutes": 15,
                    "access_via": "opt_in",
                    "token_jti": secrets.token_urlsafe(24),
                    "audience": TENANT_HOST,
                    "issued_at": now,
                    "token_expires_at": now + timedelta(seconds=TOKEN_TTL_SECONDS),
                }
                for n in range(count)
            ]
            issued = db.session.execute(
                insert(Impersonation).returning(Impersonation.id, Impersonation.token_jti), rows
            ).all()
            db.session.commit()
            return [tokens.issue(tokens.Claims(iid, jti, TENANT_HOST)) for iid, jti in issued]

    def bench_staff(self, count: int) -> list[int]:
        """`count` new impersonators for the tokens, created in bulk."""
        first = self.staff_made
        self.staff_made += count
        rows = [
            {
                "email": f"bench-{n:06d}@staff.example",
                "name": f"Bench Impersonator {n}",
                "role": "impersonator",
                "password_hash": "bench-not-a-password-hash",  # never signs in
                "active": True,
                "created_at": clock.now(),
            }
            for n in range(first, self.staff_made)
        ]
        return list(db.session.execute(insert(Staff).returning(Staff.id), rows).scalars())

    def profile(self, counter: SqlCounter, name: str, send: Callable[[Any, int], Any], expected: int) -> None:
        """Count SQL per request over PROFILE_REQUESTS in-process requests (after a few warm ones)."""
        client = self.app.test_client(use_cookies=False)
        for i in range(3):
            expect(send(client, i), expected, f"{name} (in-process)")
        counter.reset()
        counter.active = True
        started = time.perf_counter()
        try:
            for i in range(3, 3 + PROFILE_REQUESTS):
                expect(send(client, i), expected, f"{name} (in-process)")
        finally:
            counter.active = False
        elapsed = time.perf_counter() - started
        n = PROFILE_REQUESTS
        self.costs[name] = SqlCost(
            counter.statements / n, counter.transactions / n, counter.pings / n, elapsed * 1000 / n
        )

    def profile_all(self, counter: SqlCounter) -> None:
        counter.watch_pings(self.app)

        def page(host: str, path: str, cookie: str):
            via = behind_proxy(host)
            headers = {**via["headers"], "Cookie": cookie}
            return lambda client, _i: client.get(path, base_url=via["base_url"], headers=headers)

        self.profile(counter, "search", page(CONSOLE_HOST, SEARCH_PATH, self.console_cookie), 200)
        self.profile(counter, "customer", page(TENANT_HOST, "/", self.customer_cookie), 200)
        self.profile(counter, "ghost", page(TENANT_HOST, "/", self.ghost_cookie), 200)
        fresh = self.issue_tokens(PROFILE_REQUESTS + 3)

        def redeem(client, i):
            return client.post("/impersonation/redeem", data={"token": fresh[i]}, **behind_proxy(TENANT_HOST))

        self.profile(counter, "redeem", redeem, 303)

    def dispose(self) -> None:
        for face in (self.app, tenant_face(self.app)):
            with face.app_context():
                db.session.remove()
                db.engine.dispose()


def add_users(acme_id: int, globex_id: int) -> None:
    """Customers besides the demo ones, all with one (precomputed) password hash."""
    password_hash = hash_password(CUSTOMER_PASSWORD)
    now = clock.now()
    rows = []
    for i in range(EXTRA_USERS):
        if i < EXTRA_ALICES:
            email, name, tenant_id = f"alice.{i:04d}@acme.example", f"Alice Number{i}", acme_id
        else:
            tenant_id = acme_id if i % 2 else globex_id
            domain = "acme" if i % 2 else "globex"
            email, name = f"user{i:05d}@{domain}.example", f"Customer {i}"
        rows.append(
            {
                "tenant_id": tenant_id,
                "email": email,
                "name": name,
                "password_hash": password_hash,
                "created_at": now,
                "active": True,
            }
        )
    db.session.execute(insert(User), rows)
    db.session.commit()


def bare_in_process_ms(env: dict[str, str], paths: list[str]) -> dict[str, float]:
    """The bare app's in-process ms per request for each path, in a process of its own: it reads its
    database from the environment when imported (`python -m bench.bare_app --in-process`)."""
    command = [sys.executable, "-m", "bench.bare_app", "--in-process", str(PROFILE_REQUESTS), *paths]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"bench.bare_app --in-process failed:\n{done.stdout}\n{done.stderr}")
    return {path: float(ms) for path, ms in json.loads(done.stdout.strip().splitlines()[-1]).items()}


# ---------------------------------------------------------------------------------------------------
# The run.


@dataclass
class Measured:
    """One scenario's wrk run, with what the access log and the probes saw."""

    label: str
    result: WrkResult | None  # None: the probe before the run failed and nothing was measured
    expected: int
    statuses: Counter[int] = field(default_factory=Counter)
    probe_failures: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.result.requests_per_second if self.result else 0.0

    @property
    def unexpected(self) -> int:
        """Responses of another status than the scenario's, plus wrk's socket errors."""
        other = sum(n for status, n in self.statuses.items() if status != self.expected)
        return other + (self.result.failed_sockets if self.result else 0)

    def describe_unexpected(self) -> str:
        other = {status: n for status, n in sorted(self.statuses.items()) if status != self.expected}
        parts = [f"{n} x {status or 'unreadable log line'}" for status, n in other.items()]
        if self.result and self.result.failed_sockets:
            errors = ", ".join(f"{n} {kind}" for kind, n in self.result.socket_errors.items() if n)
            parts.append(f"socket errors: {errors}")
        return ", ".join(parts)


def pooled(label: str, runs: list[Measured]) -> Measured:
    """Several runs of one scenario as one: mean req/s, statuses and failures summed."""
    results = [run.result for run in runs if run.result]
    result = None
    if len(results) == len(runs):
        result = WrkResult(
            requests_per_second=sum(r.requests_per_second for r in results) / len(results),
            requests=sum(r.requests for r in results),
            bad_status=sum(r.bad_status for r in results),
            socket_errors=dict(sum((Counter(r.socket_errors) for r in results), Counter())),
            latency_avg=" / ".join(r.latency_avg for r in results),
        )
    statuses: Counter[int] = Counter()
    for run in runs:
        statuses.update(run.statuses)
    return Measured(
        label, result, runs[0].expected, statuses, [f for run in runs for f in run.probe_failures]
    )


@dataclass
class Row:
    scenario: str
    measured: Measured
    cost: SqlCost | None = None
    ms: float | None = None  # in-process ms per request, for rows without SQL counts (the bare app)
    target: str = ""  # e.g. "0.52 x floor (target >= 0.50): met"
    floor: float | None = None  # mean req/s of the one-read floor


class Runner:
    def __init__(self, seconds: int, warmup: int, workdir: Path) -> None:
        self.seconds, self.warmup, self.workdir = seconds, warmup, workdir

    def measure(
        self,
        label: str,
        server: Gunicorn,
        path: str,
        host: str,
        cookie: str | None = None,
        *,
        present: bytes | None = None,
        absent: bytes | None = None,
    ) -> Measured:
        """A probe (is this the page we mean to measure?), a warm-up, the measured run, the probe
        again (is it still?); every response's status from the access log."""

        def probe(when: str) -> str | None:
            answer = http_request(server.port, "GET", path, host, cookie)
            shows = present is None or present in answer.body
            hides = absent is None or absent not in answer.body
            if answer.status == 200 and shows and hides and "set-cookie" not in answer.headers:
                return None
            return (
                f"{label}: the probe {when} the run got {answer.status}, expected 200 with {present!r} "
                f"and without {absent!r}, setting no cookie (got {answer.headers.get('set-cookie')!r})"
            )

        headers = {"Host": host, **PROXY_HEADERS, **({"Cookie": cookie} if cookie else {})}
        return self._run(
            label,
            server,
            200,
            probe,
            lambda seconds, _run: run_wrk(server.url(path), seconds=seconds, headers=headers),
        )

    def measure_redemptions(self, bed: Bed, server: Gunicorn) -> Measured:
        label = "redemptions (POST /impersonation/redeem)"
        script = self.workdir / "redeem.lua"
        script.write_text(REDEEM_LUA)
        main_count = max(20_000, 2_500 * self.seconds)
        warm_count = 2_500 * self.warmup
        started = time.monotonic()
        issued = bed.issue_tokens(main_count + warm_count + 2)
        print(f"  (issued {len(issued)} tokens in {time.monotonic() - started:.1f} s)", flush=True)
        probes = {"before": issued.pop(), "after": issued.pop()}

        def probe(when: str) -> str | None:
            answer = http_request(
                server.port, "POST", "/impersonation/redeem", TENANT_HOST, form=f"token={probes[when]}"
            )
            location = answer.headers.get("location", "")
            if answer.status == 303 and urlsplit(location).path == "/" and "set-cookie" in answer.headers:
                return None
            return (
                f"{label}: the probe {when} the run got {answer.status} (Location {location!r}), expected "
                "303 to the tenant home with a session cookie"
            )

        headers = {"Host": TENANT_HOST, **PROXY_HEADERS}
        files = {"warm-up": issued[:warm_count], "main": issued[warm_count:]}
        for name, lines in files.items():
            (self.workdir / f"tokens-{name}.txt").write_text("\n".join(lines) + "\n")

        def load(seconds: int, name: str) -> WrkResult:
            return run_wrk(
                server.url(),
                seconds=seconds,
                headers=headers,
                script=script,
                args=(str(self.workdir / f"tokens-{name}.txt"), str(WRK_THREADS)),
            )

        measured = self._run(label, server, 303, probe, load)
        if measured.result and measured.result.requests > main_count:
            sent = measured.result.requests
            print(f"  warning: {sent} requests for {main_count} tokens: some were refused")
        return measured

    def _run(
        self,
        label: str,
        server: Gunicorn,
        expected: int,
        probe: Callable[[str], str | None],
        load: Callable[[int, str], WrkResult],
    ) -> Measured:
        server.mark()
        failure = probe("before")
        if failure:
            print(f"  {label:<44} NOT MEASURED: {failure}", flush=True)
            measured = Measured(label, None, expected, server.statuses(), [failure])
            measured.probe_failures[0] += f"\n{server.log_tail(10)}"
            return measured
        if self.warmup:
            load(self.warmup, "warm-up")
        result = load(self.seconds, "main")
        failures = [f for f in [probe("after")] if f]
        statuses = server.statuses()
        if sum(statuses.values()) < result.requests:
            # The statuses are read from the access log: a short log would hide them.
            failures.append(
                f"{label}: the access log holds {sum(statuses.values())} responses, wrk counted "
                f"{result.requests}"
            )
        measured = Measured(label, result, expected, statuses, failures)
        flags = f"{measured.unexpected} unexpected" + (", probe or log check FAILED" if failures else "")
        print(f"  {label:<44} {result.requests_per_second:>9.1f} req/s  ({flags})", flush=True)
        return measured


def ratio_note(value: float, reference: float, minimum: float, of: str) -> tuple[str, bool]:
    ratio = value / reference if reference else 0.0
    met = ratio >= minimum
    return f"{ratio:.2f} x {of} (target >= {minimum:.2f}): {'met' if met else 'MISSED'}", met


def machine_facts(postgres_version: str, args) -> dict[str, str]:
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)  # noqa: S607
    wrk_name = (wrk_version.stdout or wrk_version.stderr).splitlines()[0].split(" Copyright")[0].strip()
    load = ", ".join(f"{n:.2f}" for n in os.getloadavg())
    return {
        "machine": f"nproc {len(os.sched_getaffinity(0))}, {platform.platform()}",
        "python": platform.python_version(),
        "postgresql": f"{postgres_version} (throwaway cluster from tests/support/postgres.py: "
        "fsync=off, synchronous_commit=off)",
        "server": f"gunicorn {version('gunicorn')} with gunicorn.conf.py as shipped (sync workers, JSON "
        "access log, max_requests recycling), WEB_CONCURRENCY=2, access log to a file, 127.0.0.1; the "
        "bare app: the same, without recycling (--max-requests 0)",
        "app": "IMPERSONATOR_ENV=production behind a pretend TLS proxy (TRUSTED_PROXY_COUNT=1, "
        "X-Forwarded-Proto: https on every request, Secure __Host- cookies), rate limits off",
        "wrk": f"{wrk_name}, {WRK_THREADS} threads, {CONNECTIONS} connections, {WRK_TIMEOUT_SECONDS} s "
        f"timeout, {args.warmup} s warm-up then {args.seconds} s per scenario",
        "load average at start": load,
    }


def table(rows: list[Row], baseline: float) -> list[list[str]]:
    header = [
        "scenario",
        "req/s",
        "x baseline",
        "x floor",
        "target",
        "unexpected",
        "SQL stmts/req",
        "tx/req",
        "pings/req",
        "PG round trips/req",
        "in-process ms/req",
    ]
    lines = [header]
    for row in rows:
        cost, rps = row.cost, row.measured.rps
        ms = cost.ms if cost else row.ms
        lines.append(
            [
                row.scenario,
                f"{rps:.1f}" if row.measured.result else "not measured",
                f"{rps / baseline:.2f}" if baseline else "-",
                f"{rps / row.floor:.2f}" if row.floor else "-",
                row.target,
                str(row.measured.unexpected),
                f"{cost.statements:.1f}" if cost else "-",
                f"{cost.transactions:.1f}" if cost else "-",
                f"{cost.pings:.1f}" if cost else "-",
                f"{cost.round_trips():.0f}" if cost else "-",
                f"{ms:.2f}" if ms is not None else "-",
            ]
        )
    return lines


def print_table(lines: list[list[str]]) -> None:
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    for n, line in enumerate(lines):
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * width for width in widths))


def markdown(lines: list[list[str]]) -> str:
    out = ["| " + " | ".join(lines[0]) + " |", "|" + "---|" * len(lines[0])]
    out += ["| " + " | ".join(line) + " |" for line in lines[1:]]
    return "\n".join(out)


def append_results(
    path: Path, facts: dict[str, str], tables: list[list[list[str]]], notes: list[str], argv
) -> None:
    """A dated section, in the format bench/search_bench.py appends too (same file header)."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = f".venv/bin/python -m bench.web_bench {' '.join(argv)}".strip()
    title = "web pages through gunicorn, production behind a TLS proxy (vs the one-read floor)"
    section = [f"## {stamp}: {title}"]
    section += [""] + [f"- {name}: {value}" for name, value in facts.items()]
    section += [f"- command: `{command}`"]
    for lines in tables:
        section += ["", markdown(lines)]
    section += [""] + [f"- {note}" for note in notes]
    if not path.exists():
        path.write_text("# Benchmark results\n\nAppended by the scripts in bench/; newest last.\n")
    with path.open("a", encoding="utf-8") as results:
        results.write("\n" + "\n".join(section).rstrip() + "\n")


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.web_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="measured wrk run per scenario (10)")
    parser.add_argument("--warmup", type=int, default=2, help="wrk warm-up per scenario, seconds (2)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="file to append to (bench/RESULTS.md)")
    parser.add_argument("--no-record", action="store_true", help="print only, append nothing")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk (Debian package `wrk`)")
    if args.seconds < 1 or args.warmup < 0:
        sys.exit("--seconds must be at least 1 and --warmup at least 0")
    if args.seconds + args.warmup > TOKEN_TTL_SECONDS - 30:
        sys.exit(f"--seconds + --warmup must leave the {TOKEN_TTL_SECONDS} s tokens 30 s of slack")

    # Ctrl-C and SIGTERM both raise KeyboardInterrupt, so every cleanup below runs. SIGINT is set
    # explicitly: a shell starts background jobs with it ignored, and Python then keeps ignoring it.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with ExitStack() as cleanup:
            workdir = Path(tempfile.mkdtemp(prefix="web-bench-"))
            cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
            return run(args, workdir, cleanup, sys.argv[1:] if argv is None else argv)
    except KeyboardInterrupt:
        print("\nInterrupted: every server this run started is stopped.", file=sys.stderr)
        return 130


def run(args, workdir: Path, cleanup: ExitStack, argv: list[str]) -> int:
    runner = Runner(args.seconds, args.warmup, workdir)
    counter = SqlCounter()
    print("Preparing the database …", flush=True)
    postgres = PostgresServer.start()
    cleanup.callback(postgres.stop)
    bed = Bed.prepare(postgres.create_database("impersonator_bench"))
    cleanup.callback(bed.dispose)
    with bed.app.app_context():
        postgres_version = db.session.execute(text("SHOW server_version")).scalar_one()
    bed.profile_all(counter)
    bare_env = bare_environment(bed)
    bare_ms = bare_in_process_ms(bare_env, ["/", *(path for path, _ in RUNGS), FLOOR_PATH])
    facts = machine_facts(postgres_version, args)

    print(f"Measuring: {args.warmup} s warm-up + {args.seconds} s per scenario", flush=True)
    # The floor is the most a page that reads its database once can do: no recycling there either.
    bare = Gunicorn("bare", "bench.bare_app:app", bare_env, workdir, ("--max-requests", "0")).start()
    cleanup.callback(bare.stop)
    bare_cookie = bare_app.session_cookie(SECRET_KEY)
    who = bare_app.SESSION["who"].encode()
    first = runner.measure("baseline (bare Flask, first)", bare, "/", "127.0.0.1")
    rungs = [
        Row(scenario, runner.measure(scenario, bare, path, "127.0.0.1", bare_cookie, present=who))
        for path, scenario in RUNGS
    ]
    for row, (path, _) in zip(rungs, RUNGS, strict=True):
        row.ms = bare_ms[path]

    def floor_run(when: str) -> Measured:
        # The probe checks the cookie was read and the user found.
        return runner.measure(
            f"{FLOOR} ({when})", bare, FLOOR_PATH, "127.0.0.1", bare_cookie, present=CUSTOMER_EMAIL.encode()
        )

    floor_first = floor_run("first")

    print("product (production, PostgreSQL):", flush=True)
    server = Gunicorn("product", "app:app", app_environment(bed.url), workdir).start()
    cleanup.callback(server.stop)
    with RssSampler(server) as rss:
        search = runner.measure(
            # a result row (alice.0000@acme.example …), not the query echoed in the search box
            "console search",
            server,
            SEARCH_PATH,
            CONSOLE_HOST,
            bed.console_cookie,
            present=b"alice.0",
        )

        def tenant_home(who: str, cookie: str, n: int) -> Measured:
            marks = {"absent": GHOST_MARK} if who == "customer" else {"present": GHOST_MARK}
            label = f"tenant home, {who} session ({n})"
            return runner.measure(label, server, "/", TENANT_HOST, cookie, **marks)

        # ABBA: a machine that drifts during the four runs favours neither session.
        customer_1 = tenant_home("customer", bed.customer_cookie, 1)
        ghost_1 = tenant_home("ghost", bed.ghost_cookie, 1)
        ghost_2 = tenant_home("ghost", bed.ghost_cookie, 2)
        customer_2 = tenant_home("customer", bed.customer_cookie, 2)
        redeem = runner.measure_redemptions(bed, server)
        final_rss = rss.sample()
    recycled = server.recycled()
    server.stop()

    floor_last = floor_run("last")
    last = runner.measure("baseline (bare Flask, last)", bare, "/", "127.0.0.1")
    bare.stop()

    baseline = (first.rps + last.rps) / 2
    floor = (floor_first.rps + floor_last.rps) / 2
    customer = pooled("tenant home, customer session", [customer_1, customer_2])
    ghost = pooled("tenant home, ghost session", [ghost_1, ghost_2])
    search_row = Row(f"console search GET {SEARCH_PATH} (support agent)", search, bed.costs["search"])
    ghost_row = Row("tenant home GET /, ghost session (mean of 2)", ghost, bed.costs["ghost"])
    redeem_row = Row("redemption POST /impersonation/redeem", redeem, bed.costs["redeem"])
    rows = [
        Row("baseline: bare Flask GET / (first)", first, ms=bare_ms["/"]),
        *rungs,
        Row(f"{FLOOR} (first)", floor_first, ms=bare_ms[FLOOR_PATH]),
        search_row,
        Row("tenant home GET /, customer session (mean of 2)", customer, bed.costs["customer"]),
        ghost_row,
        redeem_row,
        Row(f"{FLOOR} (last)", floor_last, ms=bare_ms[FLOOR_PATH]),
        Row("baseline: bare Flask GET / (last)", last, ms=bare_ms["/"]),
    ]
    for row in rows:
        row.floor = floor if row.cost or row.scenario.startswith(FLOOR) else None

    # The verdicts.
    verdicts: list[list[str]] = [["target", "figure", "threshold", "verdict"]]

    def verdict(name: str, figure: str, threshold: str, met: bool) -> bool:
        verdicts.append([name, figure, threshold, "met" if met else "MISSED"])
        return met

    ok = True
    search_ms, floor_ms = bed.costs["search"].ms, bare_ms[FLOOR_PATH]
    search_row.target, met = ratio_note(search.rps, floor, SEARCH_X_FLOOR, "floor")
    ok &= verdict(
        "console search / one-read floor",
        f"{search.rps / floor:.2f} ({search.rps:.0f} / {floor:.0f} req/s; in-process {search_ms:.2f} vs "
        f"{floor_ms:.2f} ms)",
        f">= {SEARCH_X_FLOOR:.2f}",
        met,
    )
    ghost_row.target, met = ratio_note(ghost.rps, customer.rps, GHOST_X_CUSTOMER, "customer")
    ok &= verdict(
        "ghost tenant home / the same page as the customer",
        f"{ghost.rps / max(customer.rps, 1e-9):.2f} ({ghost.rps:.0f} / {customer.rps:.0f} req/s; in-process "
        f"{bed.costs['ghost'].ms:.2f} vs {bed.costs['customer'].ms:.2f} ms)",
        f">= {GHOST_X_CUSTOMER:.2f}",
        met,
    )
    redeem_ms = bed.costs["redeem"].ms
    redeem_row.target, met = ratio_note(redeem.rps, floor, REDEEM_X_FLOOR, "floor")
    ok &= verdict(
        "redemption / one-read floor",
        f"{redeem.rps / floor:.2f} ({redeem.rps:.0f} / {floor:.0f} req/s; in-process {redeem_ms:.2f} vs "
        f"{floor_ms:.2f} ms)",
        f">= {REDEEM_X_FLOOR:.2f}",
        met,
    )
    peak = max(rss.peaks.values(), default=0.0)
    after = ", ".join(f"{mib:.0f}" for mib in final_rss.values()) or "none found"
    ok &= verdict(
        "RSS of each product worker (MiB)",
        f"after the benchmark: {after}; peak of any worker: {peak:.0f} ({len(rss.peaks)} workers seen, "
        f"{recycled} recycled by max_requests)",
        f"<= {WORKER_RSS_MIB}",
        bool(final_rss) and max(max(final_rss.values()), peak) <= WORKER_RSS_MIB,
    )
    every = [first, *(row.measured for row in rungs), floor_first, search, customer_1, ghost_1, ghost_2]
    every += [customer_2, redeem, floor_last, last]
    unexpected = sum(m.unexpected for m in every)
    failures = [f for m in every for f in m.probe_failures]
    wrong = "; ".join(f"{m.label}: {m.describe_unexpected()}" for m in every if m.unexpected)
    ok &= verdict(
        "every response of its scenario's status (200; 303 for redemptions), no socket error",
        f"{unexpected} unexpected" + (f" ({wrong})" if wrong else ""),
        "0",
        unexpected == 0,
    )
    ok &= verdict(
        "probes before and after each run; an access log line for every response",
        f"{len(failures)} failed" if failures else "all passed",
        "all pass",
        not failures,
    )

    notes = [
        f"x baseline: against the mean of the two bare-Flask runs ({baseline:.1f} req/s). x floor: against "
        f"the mean of the two runs of the one-read floor ({floor:.1f} req/s; first {floor_first.rps:.1f}, "
        f"last {floor_last.rps:.1f}): bench/bare_app.py's session cookie read, cached template, and one "
        "BEGIN, SELECT by id, ROLLBACK through Flask-SQLAlchemy on the product's PostgreSQL database, "
        "served the same way; 1.00 would mean a page costs nothing beyond that one read.",
        f"Tenant home, in the order customer, ghost, ghost, customer: customer {customer_1.rps:.1f} and "
        f"{customer_2.rps:.1f}, ghost {ghost_1.rps:.1f} and {ghost_2.rps:.1f} req/s.",
        f"unexpected: responses of another status than the scenario's in gunicorn's access log (from the "
        "probe before to the probe after, warm-up included), plus wrk's socket errors. SQL columns and "
        f"in-process ms: {PROFILE_REQUESTS} test-client requests after 3 warm ones (the bare app's in a "
        "process of its own); PG round trips = statements + pre-pings + 2 per transaction (BEGIN and "
        "its end).",
    ]
    for measured_pair, what in ((first, last), "baseline"), ((floor_first, floor_last), "floor"):
        a, b = measured_pair
        drift = abs(a.rps - b.rps) / max((a.rps + b.rps) / 2, 1.0)
        if drift > 0.15:
            notes.append(
                f"Noisy machine: the {what} moved {drift:.0%} between its first and last run (load average "
                f"at start: {facts['load average at start']}, at the end: "
                f"{', '.join(f'{n:.2f}' for n in os.getloadavg())})."
            )
    notes += [f"Probe failure: {failure}" for failure in failures]

    lines = table(rows, baseline)
    print()
    for name, value in facts.items():
        print(f"{name}: {value}")
    print()
    print_table(lines)
    print()
    print_table(verdicts)
    print()
    for note in notes:
        print(f"- {note}")
    if not args.no_record:
        append_results(args.results, facts, [lines, verdicts], notes, argv)
        print(f"\nAppended to {args.results}")
    if not ok:
        print(
            "\nweb_bench: a target was missed or a scenario went wrong (the verdicts above).", file=sys.stderr
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
