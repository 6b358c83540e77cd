"""Web benchmarks: requests per second through gunicorn, measured with wrk,
each printed as a ratio to a bare Flask endpoint served the same way in the same run (MEASURED.md).

    .venv/bin/python -m bench.web_bench [--seconds 10]

Scenarios, each a warm-up then a measured wrk run:

- baseline: `bench/bare_app.py`, GET / (measured first and last; ratios use the mean of the two);
- rungs, right after the first baseline on the same server: MEASURED.md's ladder ("The physical
  limit") on the bare app, each adding one layer: a signed session cookie read, a cached Jinja
  template, one user by primary key on SQLite (WAL) and on PostgreSQL (TCP). A user rung is the floor
  of any page that reads its database once; each product row's "x floor" divides by it;
- console search: GET /search?q=alice as a signed-in support agent (target >= 0.3 x baseline);
  GET / (the console home) instead when the search page does not exist;
- tenant home on acme.localhost in the customer's own session, and the same page in a real ghost
  session (requested through `lifecycle.request`, redeemed through the web): ghost >= 0.75 x
  customer;
- redemptions: POST /impersonation/redeem with a fresh token per request, PostgreSQL only
  (target >= 0.15 x baseline).

The app runs with IMPERSONATOR_ENV=production under gunicorn (2 sync workers, 127.0.0.1, a free port)
against a throwaway PostgreSQL (tests/support/postgres.py) and, for the pages, a temp SQLite file;
both are migrated with flask_migrate.upgrade and seeded with the demo data. Next to each figure the
script prints what one request costs in SQL, counted in-process with the test client. Everything it
starts listens on 127.0.0.1 and is stopped on exit, Ctrl-C included. It asserts no target: it prints
a table and appends it to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import event, insert, select, text
from sqlalchemy.engine import Engine

from bench import bare_app
from config import ProductionConfig
from impersonator import clock, create_app
from impersonator.extensions import db
from impersonator.models import Impersonation, Staff, Tenant, User
from impersonator.services.demo import CUSTOMER_PASSWORD, DemoStaff, seed_demo
from impersonator.services.impersonation import lifecycle, tokens
from impersonator.services.passwords import hash_password
from impersonator.services.staff import totp
from tests.support.postgres import PostgresServer

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "RESULTS.md"
MIGRATIONS = str(ROOT / "migrations")

SECRET_KEY = "web-bench-only-secret-key-" + secrets.token_hex(16)
AUDIT_HMAC_KEY = "web-bench-only-audit-key-" + secrets.token_hex(16)
CONSOLE_HOST = "console.localhost"
TENANT_HOST = "acme.localhost"
CUSTOMER_EMAIL = "alice@acme.example"
SEARCH_QUERY = "alice"
GHOST_MARK = b"/impersonation/end"  # the ghost banner's End button posts here; customers never see it
TOKEN_TTL_SECONDS = 120  # the longest the configuration allows: no token expires during a run
# Besides the demo data: enough users that "alice" fills a whole result page (50 rows).
EXTRA_USERS = 2_000
EXTRA_ALICES = 200
WORKERS = 2
WRK_THREADS = 2
CONNECTIONS = 16
PROFILE_REQUESTS = 50  # in-process requests per scenario for the SQL counts
# MEASURED.md's ladder on bench/bare_app.py: (path, scenario, database). "-" needs no database.
RUNGS = (
    ("/cookie", "rung: + signed session cookie read", "-"),
    ("/template", "rung: + cached Jinja template", "-"),
    ("/user/sqlite", "rung: + user by primary key, SQLite (WAL)", "sqlite"),
    ("/user/postgresql", "rung: + user by primary key, PostgreSQL (TCP)", "postgresql"),
)


# ---------------------------------------------------------------------------------------------------
# Configuration: the same settings for the app built here (seeding, cookies) and for gunicorn.


def app_environment(database_url: str) -> dict[str, str]:
    """The gunicorn subprocess's environment: production, with everything it needs set explicitly."""
    env = dict(os.environ)
    env.update(
        IMPERSONATOR_ENV="production",
        SECRET_KEY=SECRET_KEY,
        AUDIT_HMAC_KEY=AUDIT_HMAC_KEY,
        DATABASE_URL=database_url,
        CONSOLE_HOST=CONSOLE_HOST,
        SESSION_COOKIE_SECURE="false",  # plain HTTP on loopback
        SECURITY_HSTS="false",
        TOKEN_TTL_SECONDS=str(TOKEN_TTL_SECONDS),
    )
    return env


def bare_environment(beds: list[Bed]) -> dict[str, str]:
    """The bare app's environment (bench/bare_app.py): its cookie key and each bed's database."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("BARE_")}
    env["BARE_SECRET_KEY"] = SECRET_KEY
    for bed in beds:
        env[f"BARE_{bed.label.upper()}_URL"] = bed.url
        env[f"BARE_{bed.label.upper()}_USER_ID"] = str(bed.alice_id)
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
            "SESSION_COOKIE_SECURE": False,
            "SECURITY_HSTS": False,
            "TOKEN_TTL_SECONDS": TOKEN_TTL_SECONDS,
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


def http_get(port: int, path: str, host: str, cookie: str | None = None) -> tuple[int, bytes]:
    headers = {"Host": host, **({"Cookie": cookie} if cookie else {})}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class Gunicorn:
    """`gunicorn <target>` with sync workers on 127.0.0.1, in a process group of its own."""

    def __init__(self, name: str, target: str, env: dict[str, str], workdir: Path) -> None:
        self.name, self.target, self.env = name, target, env
        self.log_path = workdir / f"gunicorn-{name}.log"
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def start(self) -> Gunicorn:
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(WORKERS),
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--chdir",
            str(ROOT),
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
                http_get(self.port, "/", "bench.invalid")
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
            process.wait(timeout=15)
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

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@dataclass
class WrkResult:
    requests_per_second: float
    requests: int
    bad_status: int  # wrk's "Non-2xx or 3xx responses"
    socket_errors: int
    latency_avg: str

    @property
    def errors(self) -> int:
        return self.bad_status + self.socket_errors


def run_wrk(
    url: str, *, seconds: int, headers: dict[str, str], script: Path | None = None, args=()
) -> WrkResult:
    command = ["wrk", "-t", str(WRK_THREADS), "-c", str(CONNECTIONS), "-d", f"{seconds}s"]
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
        socket_errors=sum(int(n) for n in sock.groups()) if sock else 0,
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
  -- Out of tokens: a deliberately bad one, so the run shows errors instead of replays.
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

    def round_trips(self, dialect: str) -> float:
        """Client-server round trips on PostgreSQL: each statement and ping, plus BEGIN and the end of
        every transaction (psycopg sends BEGIN itself). SQLite has none: it runs in the process."""
        return self.statements + self.pings + 2 * self.transactions if dialect == "postgresql" else 0.0


# ---------------------------------------------------------------------------------------------------
# One database: migrated, seeded, with the cookies and tokens the scenarios need.


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


def cookie_header(client, app: Flask, host: str) -> str:
    name = app.config["SESSION_COOKIE_NAME"]
    cookie = client.get_cookie(name, domain=host)
    if cookie is None:
        raise RuntimeError(f"no {name} cookie for {host}")
    return f"{name}={cookie.value}"


@dataclass
class Bed:
    """A migrated, seeded database and everything the scenarios send."""

    label: str  # postgresql | sqlite
    url: str
    app: Flask
    staff: dict[str, DemoStaff]
    alice_id: int
    acme_id: int
    console_cookie: str = ""
    customer_cookie: str = ""
    ghost_cookie: str = ""
    search_path: str = ""
    staff_made: int = 0  # bench impersonators created for tokens so far (issue_tokens)
    costs: dict[str, SqlCost] = field(default_factory=dict)

    @classmethod
    def prepare(cls, label: str, url: str) -> Bed:
        app = create_app(in_process_config(url))
        with app.app_context():
            upgrade(directory=MIGRATIONS)
            staff = {account.role: account for account in seed_demo(now=clock.now(), issuer="web_bench")}
            acme = db.session.scalar(select(Tenant).where(Tenant.slug == "acme"))
            globex = db.session.scalar(select(Tenant).where(Tenant.slug == "globex"))
            alice = db.session.scalar(select(User).where(User.email == CUSTOMER_EMAIL))
            add_users(acme.id, globex.id)
            bed = cls(label, url, app, staff, alice.id, acme.id)
        bed.console_cookie = bed.sign_in_staff("support")
        bed.customer_cookie = bed.sign_in_customer()
        bed.ghost_cookie = bed.start_ghost_session()
        bed.search_path = bed.pick_search_path()
        return bed

    def sign_in_staff(self, role: str) -> str:
        """Password, then the TOTP code computed from the stored secret, as a browser would."""
        account = self.staff[role]
        client = self.app.test_client()
        base = f"http://{CONSOLE_HOST}"
        page = client.get("/sign-in", base_url=base)
        form = {"csrf_token": csrf_token(page), "email": account.email, "password": account.password}
        expect(client.post("/sign-in", base_url=base, data=form), 302, "staff password")
        page = client.get("/sign-in/code", base_url=base)
        code = totp.code_at(account.totp_secret, clock.now())
        form = {"csrf_token": csrf_token(page), "code": code}
        expect(client.post("/sign-in/code", base_url=base, data=form), 302, "staff TOTP")
        return cookie_header(client, self.app, CONSOLE_HOST)

    def sign_in_customer(self) -> str:
        client = self.app.test_client()
        base = f"http://{TENANT_HOST}"
        page = client.get("/sign-in", base_url=base)
        form = {"csrf_token": csrf_token(page), "email": CUSTOMER_EMAIL, "password": CUSTOMER_PASSWORD}
        expect(client.post("/sign-in", base_url=base, data=form), 303, "customer sign-in")
        return cookie_header(client, tenant_face(self.app), TENANT_HOST)

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
            )
            launch = lifecycle.request(staff, ask, ip="127.0.0.1", user_agent="web_bench", now=now)
        client = self.app.test_client()
        response = client.post(
            "/impersonation/redeem", base_url=f"http://{TENANT_HOST}", data={"token": launch.token}
        )
        expect(response, 303, "ghost redemption")
        return cookie_header(client, tenant_face(self.app), TENANT_HOST)

    def pick_search_path(self) -> str:
        """/search?q=alice, or the console home when the search page is not there (yet)."""
        client = self.app.test_client(use_cookies=False)
        path = f"/search?q={SEARCH_QUERY}"
        response = client.get(
            path, base_url=f"http://{CONSOLE_HOST}", headers={"Cookie": self.console_cookie}
        )
        if response.status_code == 200:
            return path
        if response.status_code == 404:
            return "/"
        expect(response, 200, "console search page")
        return path

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

    def profile_all(self, counter: SqlCounter, redemptions: bool) -> None:
        counter.watch_pings(self.app)
        console, tenant = f"http://{CONSOLE_HOST}", f"http://{TENANT_HOST}"

        def page(base: str, path: str, cookie: str):
            return lambda client, _i: client.get(path, base_url=base, headers={"Cookie": cookie})

        self.profile(counter, "search", page(console, self.search_path, self.console_cookie), 200)
        self.profile(counter, "customer", page(tenant, "/", self.customer_cookie), 200)
        self.profile(counter, "ghost", page(tenant, "/", self.ghost_cookie), 200)
        if redemptions:
            fresh = self.issue_tokens(PROFILE_REQUESTS + 3)

            def redeem(client, i):
                return client.post("/impersonation/redeem", base_url=tenant, data={"token": fresh[i]})

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


# ---------------------------------------------------------------------------------------------------
# The run.


@dataclass
class Row:
    scenario: str
    database: str
    result: WrkResult
    cost: SqlCost | None = None
    target: str = ""  # e.g. "0.31 of baseline, target >= 0.30: met"
    floor: float | None = None  # req/s of the "user by primary key" rung on the same database


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
    ) -> WrkResult:
        """One probe request (is this the page we mean to measure?), a warm-up, the measured run."""
        status, body = http_get(server.port, path, host, cookie)
        if status != 200 or (present and present not in body) or (absent and absent in body):
            raise RuntimeError(
                f"{label}: the probe got {status}, expected 200 with {present!r} and without {absent!r}:"
                f"\n{body[:500]!r}\n{server.log_tail()}"
            )
        headers = {"Host": host, **({"Cookie": cookie} if cookie else {})}
        if self.warmup:
            run_wrk(server.url(path), seconds=self.warmup, headers=headers)
        result = run_wrk(server.url(path), seconds=self.seconds, headers=headers)
        print(f"  {label:<40} {result.requests_per_second:>9.1f} req/s  ({result.errors} errors)", flush=True)
        return result

    def measure_redemptions(self, bed: Bed, server: Gunicorn) -> WrkResult:
        script = self.workdir / "redeem.lua"
        script.write_text(REDEEM_LUA)
        main_count = max(20_000, 2_500 * self.seconds)
        warm_count = 2_500 * self.warmup
        started = time.monotonic()
        issued = bed.issue_tokens(main_count + warm_count)
        print(f"  (issued {len(issued)} tokens in {time.monotonic() - started:.1f} s)", flush=True)
        headers = {"Host": TENANT_HOST}
        if warm_count:
            warm_file = self.workdir / "tokens-warmup.txt"
            warm_file.write_text("\n".join(issued[:warm_count]) + "\n")
            run_wrk(
                server.url(),
                seconds=self.warmup,
                headers=headers,
                script=script,
                args=(str(warm_file), str(WRK_THREADS)),
            )
        main_file = self.workdir / "tokens.txt"
        main_file.write_text("\n".join(issued[warm_count:]) + "\n")
        result = run_wrk(
            server.url(),
            seconds=self.seconds,
            headers=headers,
            script=script,
            args=(str(main_file), str(WRK_THREADS)),
        )
        if result.requests > main_count:
            print(f"  warning: {result.requests} requests for {main_count} tokens: some were refused")
        label = "redemptions (POST /impersonation/redeem)"
        print(f"  {label:<40} {result.requests_per_second:>9.1f} req/s  ({result.errors} errors)", flush=True)
        return result


def ratio_note(value: float, reference: float, minimum: float, of: str) -> str:
    ratio = value / reference if reference else 0.0
    verdict = "met" if ratio >= minimum else "MISSED"
    return f"{ratio:.2f} x {of} (target >= {minimum:.2f}): {verdict}"


def machine_facts(postgres_version: str, args) -> dict[str, str]:
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)  # noqa: S607
    wrk_name = (wrk_version.stdout or wrk_version.stderr).splitlines()[0].split(" Copyright")[0].strip()
    load = ", ".join(f"{n:.2f}" for n in os.getloadavg())
    return {
        "machine": f"nproc {len(os.sched_getaffinity(0))}, {platform.platform()}",
        "python": platform.python_version(),
        "postgresql": f"{postgres_version} (throwaway cluster from tests/support/postgres.py: "
        "fsync=off, synchronous_commit=off)",
        "sqlite": f"{sqlite3.sqlite_version} (temp file, WAL)",
        "server": f"gunicorn {version('gunicorn')}, {WORKERS} sync workers, 127.0.0.1, "
        "IMPERSONATOR_ENV=production",
        "wrk": f"{wrk_name}, {WRK_THREADS} threads, {CONNECTIONS} connections, "
        f"{args.warmup} s warm-up then {args.seconds} s per scenario",
        "load average at start": load,
    }


def table(rows: list[Row], baseline: float) -> list[list[str]]:
    header = [
        "scenario",
        "database",
        "req/s",
        "x baseline",
        "x floor",
        "target",
        "errors",
        "SQL stmts/req",
        "tx/req",
        "pings/req",
        "PG round trips/req",
        "in-process ms/req",
    ]
    lines = [header]
    for row in rows:
        cost = row.cost
        lines.append(
            [
                row.scenario,
                row.database,
                f"{row.result.requests_per_second:.1f}",
                f"{row.result.requests_per_second / baseline:.2f}" if baseline else "-",
                f"{row.result.requests_per_second / row.floor:.2f}" if row.floor else "-",
                row.target,
                str(row.result.errors),
                f"{cost.statements:.1f}" if cost else "-",
                f"{cost.transactions:.1f}" if cost else "-",
                f"{cost.pings:.1f}" if cost else "-",
                f"{cost.round_trips(row.database):.0f}" if cost and row.database == "postgresql" else "-",
                f"{cost.ms:.2f}" if cost else "-",
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


def append_results(path: Path, facts: dict[str, str], lines: list[list[str]], notes: list[str], argv) -> None:
    """A dated section, in the format bench/search_bench.py appends too (same file header)."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = f".venv/bin/python -m bench.web_bench {' '.join(argv)}".strip()
    section = [f"## {stamp}: web pages through gunicorn (req/s vs a bare Flask endpoint)", ""]
    section += [f"- {name}: {value}" for name, value in facts.items()]
    section += [f"- command: `{command}`", "", markdown(lines), ""]
    section += [f"- {note}" for note in notes]
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
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
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
    print("Preparing databases …", flush=True)
    postgres = PostgresServer.start()
    cleanup.callback(postgres.stop)
    beds = [Bed.prepare("postgresql", postgres.create_database("impersonator_bench"))]
    cleanup.callback(beds[0].dispose)
    if not args.no_sqlite:
        beds.append(Bed.prepare("sqlite", f"sqlite:///{workdir / 'bench.sqlite3'}"))
        cleanup.callback(beds[1].dispose)
    with beds[0].app.app_context():
        postgres_version = db.session.execute(text("SHOW server_version")).scalar_one()
    for bed in beds:
        bed.profile_all(counter, redemptions=bed.label == "postgresql")
    facts = machine_facts(postgres_version, args)

    print(f"Measuring: {args.warmup} s warm-up + {args.seconds} s per scenario", flush=True)
    rows: list[Row] = []
    baseline_server = Gunicorn("baseline", "bench.bare_app:app", bare_environment(beds), workdir).start()
    cleanup.callback(baseline_server.stop)
    first = runner.measure("baseline (bare Flask, first)", baseline_server, "/", "127.0.0.1")
    rows.append(Row("baseline: bare Flask GET / (first)", "-", first))
    bare_cookie = bare_app.session_cookie(SECRET_KEY)
    floors: dict[str, float] = {}  # database -> req/s of its "user by primary key" rung
    for path, scenario, database in RUNGS:
        if database != "-" and database not in {bed.label for bed in beds}:
            continue  # --no-sqlite
        # The probe checks the cookie was read and, on the user rungs, that the user was found.
        mark = CUSTOMER_EMAIL if database != "-" else bare_app.SESSION["who"]
        result = runner.measure(
            scenario, baseline_server, path, "127.0.0.1", bare_cookie, present=mark.encode()
        )
        rows.append(Row(scenario, database, result))
        if database != "-":
            floors[database] = result.requests_per_second

    notes: list[str] = []
    for bed in beds:
        print(f"{bed.label}:", flush=True)
        server = Gunicorn(bed.label, "app:app", app_environment(bed.url), workdir).start()
        cleanup.callback(server.stop)
        console = "console search GET /search?q=alice" if bed.search_path != "/" else "console home GET /"
        absent = "/search did not answer 200 (not there yet): the console home page GET / was measured."
        if bed.search_path == "/" and absent not in notes:
            notes.append(absent)
        mark = SEARCH_QUERY.encode() if bed.search_path != "/" else None
        search = runner.measure(
            console, server, bed.search_path, CONSOLE_HOST, bed.console_cookie, present=mark
        )
        customer = runner.measure(
            "tenant home, customer session", server, "/", TENANT_HOST, bed.customer_cookie, absent=GHOST_MARK
        )
        ghost = runner.measure(
            "tenant home, ghost session", server, "/", TENANT_HOST, bed.ghost_cookie, present=GHOST_MARK
        )
        rows += [
            Row(console + " (support agent)", bed.label, search, bed.costs["search"]),
            Row("tenant home GET /, customer session", bed.label, customer, bed.costs["customer"]),
            Row("tenant home GET /, ghost session", bed.label, ghost, bed.costs["ghost"]),
        ]
        if bed.label == "postgresql":
            redeem = runner.measure_redemptions(bed, server)
            rows.append(Row("redemption POST /impersonation/redeem", bed.label, redeem, bed.costs["redeem"]))
        server.stop()

    last = runner.measure("baseline (bare Flask, last)", baseline_server, "/", "127.0.0.1")
    rows.append(Row("baseline: bare Flask GET / (last)", "-", last))
    baseline_server.stop()
    baseline = (first.requests_per_second + last.requests_per_second) / 2

    for row in rows:  # the product's rows (those with SQL counts), against their database's floor
        if row.cost is not None:
            row.floor = floors[row.database]
    customers = {row.database: row for row in rows if "customer session" in row.scenario}
    for row in rows:
        rps = row.result.requests_per_second
        if row.scenario.startswith("console"):
            row.target = ratio_note(rps, baseline, 0.3, "baseline")
        elif "ghost session" in row.scenario:
            row.target = ratio_note(rps, customers[row.database].result.requests_per_second, 0.75, "customer")
        elif row.scenario.startswith("redemption"):
            row.target = ratio_note(rps, baseline, 0.15, "baseline")
    notes.insert(
        0,
        f"x baseline: against the mean of the two baseline runs ({baseline:.1f} req/s). SQL columns: "
        f"counted in-process over {PROFILE_REQUESTS} test-client requests; PG round trips = statements "
        "+ pre-pings + 2 per transaction (BEGIN and its end); SQLite's statements include the app's "
        "BEGIN IMMEDIATE.",
    )
    notes.insert(
        1,
        'rung rows: MEASURED.md\'s ladder ("The physical limit") on the bare app (bench/bare_app.py), '
        "served and measured like the baseline right after its first run; each rung adds one layer "
        'to the one above. x floor: a product row\'s req/s over the "user by primary key" rung of '
        "the same database (session cookie, cached template, and one BEGIN, SELECT by id, ROLLBACK "
        "through Flask-SQLAlchemy): the most any page that reads its database once can do here, so "
        "1.00 would mean the page costs nothing beyond that one read. The SQLite rung reads in a plain "
        "(deferred) BEGIN; the app's BEGIN IMMEDIATE is part of what its rows' x floor shows.",
    )
    drift = abs(first.requests_per_second - last.requests_per_second) / max(baseline, 1.0)
    if drift > 0.15:
        notes.append(
            f"Noisy machine: the baseline moved {drift:.0%} between the first and the last run "
            f"(load average at start: {facts['load average at start']}). Re-run on a quiet machine."
        )
    if any(row.result.errors for row in rows):
        notes.append("Some runs had errors (non-2xx/3xx or socket errors): see the errors column.")

    lines = table(rows, baseline)
    print()
    for name, value in facts.items():
        print(f"{name}: {value}")
    print()
    print_table(lines)
    for note in notes:
        print(f"- {note}")
    if not args.no_record:
        append_results(args.results, facts, lines, notes, argv)
        print(f"\nAppended to {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
