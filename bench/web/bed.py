"""The database the scenarios run on (migrated, seeded, with the cookies and tokens they send), and
what one request costs in-process: milliseconds, SQL statements, transactions and pre-pings."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import event, insert, select
from sqlalchemy.engine import Engine

from bench.web.settings import (
    CONSOLE_HOST,
    CUSTOMER_EMAIL,
    EXTRA_ALICES,
    EXTRA_USERS,
    MIGRATIONS,
    PROFILE_REQUESTS,
    PROXY_HEADERS,
    ROOT,
    SEARCH_PATH,
    TENANT_HOST,
    TOKEN_TTL_SECONDS,
    in_process_config,
    tenant_face,
)
from impersonator import clock, create_app
from impersonator.extensions import db
from impersonator.models import Impersonation, Staff, Tenant, User
from impersonator.services.demo import CUSTOMER_PASSWORD, DemoStaff, seed_demo
from impersonator.services.impersonation import handoff, lifecycle, tokens
from impersonator.services.passwords import hash_password
from impersonator.services.staff import totp


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
