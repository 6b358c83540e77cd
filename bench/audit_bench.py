"""The audit log at scale: the audit page and `flask audit verify` over a
million events, on SQLite and on PostgreSQL.

    .venv/bin/python -m bench.audit_bench                      # a quick try (100,000 events)
    .venv/bin/python -m bench.audit_bench --events 1000000     # the scale the audit page is built for

For each database: a fresh file / a throwaway PostgreSQL server (tests/support/postgres.py), the whole
schema with `flask_migrate.upgrade`, tenants, customers and 50 staff members, then audit events in
bulk as valid chain links (each event's HMAC computed as the app computes it; executemany on SQLite,
COPY on PostgreSQL), one every minute or so, so the log's time span grows with it as a real one does.
At 10,000 events and again at the full count, with the clock at the newest event (time-machine):

- in-process p50/p95 of the audit page (Flask test client, a signed-in security officer; the whole
  request: chart, filter choices, chain state and the events) for the newest page, the newest page of
  one staff member, and that staff member's page 1,000 (at 10,000 events, which hold no such page,
  their deepest page); next to each, the events query alone (`log.page`);
- `flask audit verify` over the whole chain, timed (the CLI, checkpoint included).

Targets: page p95 <= 20 ms at the full count and <= 2x its p95 at 10,000 events; verify <= 10 s at
1,000,000 events. Prints a table and appends it with the machine's facts to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pyotp
import time_machine
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import text

from bench.search_bench import machine_facts, percentile, progress
from config import TestingConfig
from impersonator import ROOT, clock, create_app
from impersonator.extensions import db
from impersonator.models import AuditHead, Tenant, TenantDomain, User
from impersonator.services import secret_box
from impersonator.services.audit import Actor, canonical_json, chain, chart, log
from impersonator.services.audit.chain import ChainMac, encode_values
from impersonator.services.audit.log import Cursor, Filters
from impersonator.services.staff import totp
from impersonator.services.staff.accounts import create_staff
from tests.support.postgres import PostgresServer
from tests.support.web import CONSOLE, sign_in_password, submit_code

MIGRATIONS = str(ROOT / "migrations")
RESULTS = ROOT / "bench" / "RESULTS.md"
SMALL = 10_000
TARGET_P95_MS = 20.0
TARGET_GROWTH = 2.0
TARGET_VERIFY_S = 10.0  # over 1,000,000 events
PAGES_DEEP = 1000
STAFF_COUNT = 50
TENANT_COUNT = 20
USERS_PER_TENANT = 100
SECONDS_PER_EVENT = 60  # on average: ~1,440 events a day, a million in about two years
SCENARIOS = ("newest page", "newest page, one staff member", f"page {PAGES_DEEP:,}, one staff member")
BASELINE = "baseline: the console's home page, GET /"
# (action, outcome, actor kind, weight): a support team's day, roughly.
MIX = (
    ("staff.signed_in", "success", "staff", 18),
    ("staff.signed_out", "success", "staff", 9),
    ("staff.session_ended", "success", "system", 4),
    ("staff.sign_in_failed", "failure", "anonymous", 4),
    ("impersonation.requested", "success", "staff", 15),
    ("impersonation.denied", "denied", "staff", 4),
    ("impersonation.started", "success", "staff", 13),
    ("impersonation.redeem_failed", "denied", "staff", 1),
    ("impersonation.ended", "success", "staff", 12),
    ("access_code.generated", "success", "customer", 8),
    ("support_access.opted_in", "success", "customer", 6),
    ("tenant.settings_changed", "success", "staff", 1),
    ("security.alert", "denied", "system", 1),
)
REASONS = (
    "Customer reports the invoice export fails (ticket {n})",
    "Checking why the dashboard shows no projects for this user, ticket {n}",
    "Customer asked us to look at their notification settings ({n})",
)


# -- the data ---------------------------------------------------------------------------------------


@dataclass
class Cast:
    """Who the events are about: staff ids and emails, tenants and their customers."""

    staff: list[tuple[int, str]]
    tenants: list[int]
    users: list[tuple[int, int, str]]  # (user id, tenant id, email)
    focus_staff: int  # the staff member whose pages are measured

    @property
    def focus_email(self) -> str:
        return dict(self.staff)[self.focus_staff]


def seed_cast(at: datetime) -> Cast:
    """Tenants, customers and staff through the ORM (their own audit events come first in the chain)."""
    tenants, users = [], []
    for n in range(TENANT_COUNT):
        tenant = Tenant(slug=f"tenant-{n:02d}", name=f"Tenant {n:02d}", created_at=at)
        tenant.domains.append(TenantDomain(domain=f"tenant-{n:02d}.example.com"))
        db.session.add(tenant)
        db.session.flush()
        tenants.append(tenant.id)
        for m in range(USERS_PER_TENANT):
            user = User(
                tenant_id=tenant.id,
                email=f"user{m}@tenant-{n:02d}.example",
                name=f"User {m}",
                password_hash="bench-not-a-password-hash",  # noqa: S106
                created_at=at,
            )
            db.session.add(user)
            db.session.flush()
            users.append((user.id, tenant.id, user.email))
    db.session.commit()
    staff = []
    for n in range(STAFF_COUNT):
        member, _ = create_staff(
            email=f"agent{n:02d}@staff.example",
            name=f"Agent {n:02d}",
            role="support" if n % 5 else "impersonator",
            actor=Actor.system("bench"),
            now=at,
        )
        staff.append((member.id, member.email))
    return Cast(staff, tenants, users, focus_staff=staff[0][0])


def event_values(rng: random.Random, cast: Cast, at: datetime, impersonation: int) -> tuple:
    """One event's chained values (seq left out), `at` as the chain's timestamp text."""
    action, outcome, kind, _ = rng.choices(MIX, weights=[m[3] for m in MIX])[0]
    user_id, tenant_id, email = rng.choice(cast.users)
    # The measured staff member does about 8% of the staff's work, the others share the rest.
    staff_id, staff_email = (
        (cast.focus_staff, cast.focus_email) if rng.random() < 0.08 else rng.choice(cast.staff[1:])
    )
    details: dict = {}
    target_type, target_id, imp_id, tenant = "user", user_id, None, tenant_id
    if kind == "staff":
        actor = ("staff", staff_id, staff_email)
    elif kind == "customer":
        actor = ("customer", user_id, email)
    elif kind == "anonymous":
        actor = ("anonymous", None, staff_email)
    else:
        actor = ("system", None, "ghost-guard" if action == "staff.session_ended" else "system")
    if action.startswith("impersonation."):
        imp_id = impersonation
        details = {"impersonation_id": imp_id, "mode": "read_only"}
        if action == "impersonation.requested":
            details["reason"] = rng.choice(REASONS).format(n=impersonation)
        if action == "impersonation.denied":
            details["reason"] = "totp_invalid"
    elif action.startswith("staff.") or action == "tenant.settings_changed":
        target_type, target_id, tenant = "staff", staff_id, None
        if action == "staff.signed_in":
            details = {"method": "password+totp"}
    elif action == "security.alert":
        details = {"kind": "token_replay"}
    return (
        chain.timestamp(at),
        *actor,
        action,
        outcome,
        target_type,
        target_id,
        tenant,
        imp_id,
        f"192.0.2.{rng.randint(1, 254)}",
        canonical_json(details),
    )


def seed_events(cast: Cast, count: int, *, start: datetime, rng: random.Random, key: bytes) -> datetime:
    """Append `count` events after the chain's head, as valid links; returns the newest event's time."""
    head = db.session.get(AuditHead, 1)
    seq, prev = head.seq, head.hash
    db.session.commit()
    mac = ChainMac(key)
    postgres = db.engine.dialect.name == "postgresql"
    columns = "seq, at, actor_type, actor_id, actor_label, action, outcome, target_type, target_id, tenant_id"
    columns += ", impersonation_id, ip, details, prev_hash, hash"
    at = start
    started = time.perf_counter()

    def rows() -> Iterator[tuple]:
        nonlocal seq, prev, at
        impersonation = seq // 10
        for n in range(count):
            at = at + timedelta(seconds=rng.uniform(0.2, 1.8) * SECONDS_PER_EVENT)
            seq += 1
            impersonation += rng.random() < 0.3
            values = event_values(rng, cast, at, impersonation)
            digest = mac.hexdigest(prev.encode("ascii") + encode_values((seq, *values)))
            stored_at = at.replace(tzinfo=None) if postgres else at.strftime("%Y-%m-%d %H:%M:%S.%f")
            yield (seq, stored_at, *values[1:], prev, digest)
            prev = digest
            if (n + 1) % 20_000 == 0 or n + 1 == count:
                progress(n + 1, count, "seeding events", started)

    connection = db.engine.raw_connection()
    try:
        if postgres:
            with (
                connection.cursor() as cursor,
                cursor.copy(f"COPY audit_event ({columns}) FROM STDIN") as copy,
            ):
                for row in rows():
                    copy.write_row(row)
        else:
            cursor = connection.cursor()
            cursor.execute("BEGIN")
            marks = ", ".join("?" * 15)
            insert = f"INSERT INTO audit_event ({columns}) VALUES ({marks})"  # noqa: S608  (fixed text)
            batch = []
            for row in rows():
                batch.append(row)
                if len(batch) == 20_000:
                    cursor.executemany(insert, batch)
                    batch.clear()
            cursor.executemany(insert, batch)
            cursor.execute("COMMIT")
        head_sql = "UPDATE audit_head SET seq = %s, hash = %s WHERE id = 1"
        with contextlib.closing(connection.cursor()) as cursor:
            cursor.execute(head_sql if postgres else head_sql.replace("%s", "?"), (seq, prev))
        connection.commit()
    finally:
        connection.close()
    return at


# -- the measurements -------------------------------------------------------------------------------


@dataclass
class Timing:
    p50: float
    p95: float
    query_p50: float
    query_p95: float
    note: str = ""


@dataclass
class Stage:
    events: int
    timings: dict[str, Timing] = field(default_factory=dict)
    verify_seconds: float = 0.0
    chart_p50: float = 0.0  # the chart computed afresh (each process keeps it for a minute)
    chart_p95: float = 0.0


def signed_in_officer(app: Flask, now: datetime):
    """A fresh security officer (enrolled), signed in through the real forms; returns the client."""
    with app.app_context():
        member, password = create_staff(
            email=f"officer-{secrets.token_hex(4)}@staff.example",
            name="Bench Officer",
            role="security",
            actor=Actor.system("bench"),
            now=now,
        )
        secret = totp.new_secret()
        member.totp_secret_encrypted, member.totp_enrolled_at = secret_box.encrypt(secret), now
        email = member.email
        db.session.commit()
    client = app.test_client()
    assert sign_in_password(client, email, password).status_code == 302
    response = submit_code(client, pyotp.TOTP(secret).now())
    assert response.status_code == 302, response.text
    return client


def deep_cursor(staff_id: int, page: int) -> tuple[int, int]:
    """The `before` cursor of the staff member's page `page`, or of their deepest full page if fewer."""
    where = "actor_type = 'staff' AND actor_id = :staff"
    total = db.session.scalar(text(f"SELECT count(*) FROM audit_event WHERE {where}"), {"staff": staff_id})  # noqa: S608
    page = min(page, max(1, total // log.PER_PAGE))  # a full page
    offset = (page - 1) * log.PER_PAGE - 1
    cursor = db.session.scalar(
        text(f"SELECT seq FROM audit_event WHERE {where} ORDER BY seq DESC LIMIT 1 OFFSET :offset"),  # noqa: S608
        {"staff": staff_id, "offset": offset},
    )
    db.session.rollback()
    return page, cursor


def measure_stage(app: Flask, cast: Cast, events: int, newest: datetime, repeat: int) -> Stage:
    """The audit page's scenarios and the verifier, with the clock at the newest event. The scenarios
    take turns request by request (and the baseline with them), so a busy moment on a shared machine
    lands on all of them alike."""
    stage = Stage(events)
    with time_machine.travel(newest + timedelta(seconds=30), tick=True):
        client = signed_in_officer(app, newest + timedelta(seconds=30))
        with app.app_context():
            page_no, cursor = deep_cursor(cast.focus_staff, PAGES_DEEP)
        staff = str(cast.focus_staff)
        scenarios: dict[str, tuple[str, dict, Filters | None, Cursor, str]] = {
            BASELINE: ("/", {}, None, Cursor(), ""),
            SCENARIOS[0]: ("/audit/", {}, Filters(), Cursor(), ""),
            SCENARIOS[1]: ("/audit/", {"staff": staff}, Filters(staff_id=cast.focus_staff), Cursor(), ""),
            SCENARIOS[2]: (
                "/audit/",
                {"staff": staff, "before": str(cursor)},
                Filters(staff_id=cast.focus_staff),
                Cursor(before=cursor),
                "" if page_no == PAGES_DEEP else f"their deepest page: {page_no}",
            ),
        }
        pages: dict[str, list[float]] = {name: [] for name in scenarios}
        queries: dict[str, list[float]] = {name: [] for name in scenarios}
        for turn in range(20 + repeat):  # 20 warm-up turns: caches, plans, the kept chart
            for name, (path, args, _, _, _) in scenarios.items():
                started = time.perf_counter()
                response = client.get(path, base_url=CONSOLE, query_string=args)
                elapsed = (time.perf_counter() - started) * 1000
                assert response.status_code == 200, (name, response.status_code)
                if turn >= 20:
                    pages[name].append(elapsed)
        with app.app_context():
            for _ in range(repeat):
                for name, (_, _, filters, page_cursor, _) in scenarios.items():
                    if filters is None:
                        continue
                    started = time.perf_counter()
                    found = log.page(filters, page_cursor)
                    db.session.rollback()
                    queries[name].append((time.perf_counter() - started) * 1000)
                    assert len(found.entries) == log.PER_PAGE, (name, len(found.entries))
        for name, (_, _, _, _, note) in scenarios.items():
            done = queries[name] or [0.0]
            stage.timings[name] = Timing(
                percentile(pages[name], 0.5),
                percentile(pages[name], 0.95),
                percentile(done, 0.5),
                percentile(done, 0.95),
                note,
            )
            print(f"  {events:,} events, {name}: p95 {stage.timings[name].p95:.2f} ms", file=sys.stderr)
        with app.app_context():
            charts = []
            for _ in range(50):
                started = time.perf_counter()
                chart.impersonations_per_day(clock.now())
                db.session.rollback()
                charts.append((time.perf_counter() - started) * 1000)
            stage.chart_p50, stage.chart_p95 = percentile(charts, 0.5), percentile(charts, 0.95)
        runs = []
        for _ in range(2):  # the better of two runs: one walk over a million rows meets any hiccup
            started = time.perf_counter()
            result = app.test_cli_runner().invoke(args=["audit", "verify"])
            runs.append(time.perf_counter() - started)
            assert result.exit_code == 0, result.output
            print(f"  {result.output.strip()}", file=sys.stderr)
        stage.verify_seconds = min(runs)
    return stage


# -- one database -----------------------------------------------------------------------------------


def head_seq() -> int:
    seq = db.session.get(AuditHead, 1).seq
    db.session.rollback()
    return seq


def dispose() -> None:
    db.session.remove()
    db.engine.dispose()


@dataclass
class Figures:
    database: str
    version: str
    stages: list[Stage]
    seed_seconds: float


def analyse(database: str) -> str:
    with db.engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        if database == "postgresql":
            connection.exec_driver_sql("VACUUM ANALYZE")
            return connection.exec_driver_sql("SHOW server_version").scalar()
        connection.exec_driver_sql("ANALYZE")
        return sqlite3.sqlite_version


def tune_postgres(server: PostgresServer, database: str) -> None:
    """A production-like cache: 1 GB shared_buffers (the test server's 128 MB cannot hold a million
    events and their indexes), then the audit table and its indexes read into it."""
    conninfo = f"host=127.0.0.1 port={server.port} user=postgres dbname={database}"
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute("ALTER SYSTEM SET shared_buffers = '1GB'")
    command = [
        str(server.bin_dir / "pg_ctl"),
        "-D",
        str(server.data_dir / "data"),
        "-w",
        "-m",
        "fast",
        "restart",
    ]
    if server.run_as:
        command = ["runuser", "-u", server.run_as, "--", *command]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)  # noqa: S603  (fixed arguments)
    prewarm(conninfo)


def prewarm(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        relations = connection.execute(
            "SELECT c.relname FROM pg_class c WHERE c.oid = 'audit_event'::regclass "
            "OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'audit_event'::regclass)"
        ).fetchall()
        for (relation,) in relations:
            connection.execute("SELECT pg_prewarm(%s)", (relation,))


def run_database(
    database: str, url: str, events: int, repeat: int, restart: Callable[[], None] | None
) -> Figures:
    print(f"{database}: {events:,} audit events", file=sys.stderr)
    config = type("BenchConfig", (TestingConfig,), {"SQLALCHEMY_DATABASE_URI": url, "LOG_LEVEL": "WARNING"})
    app = create_app(config)
    key = chain.chain_key(app.config)
    rng = random.Random(20261123)  # noqa: S311  (made-up data, not a secret)
    first = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=SECONDS_PER_EVENT * events)
    stages, seeding = [], 0.0
    with app.app_context():
        upgrade(directory=MIGRATIONS)
        cast = seed_cast(first)
        written = head_seq()
    newest = first
    for target in sorted({SMALL, events}):
        with app.app_context():
            started = time.perf_counter()
            newest = seed_events(cast, target - written, start=newest, rng=rng, key=key)
            seeding += time.perf_counter() - started
            version = analyse(database)
            dispose()
        if restart is not None:
            restart()
        # Outside any app context: each request of the test client pushes its own, as in production.
        stages.append(measure_stage(app, cast, target, newest, repeat))
        with app.app_context():
            written = head_seq()  # the officer's sign-in and the verifier's checkpoint came after
            dispose()
        newest += timedelta(minutes=2)
    return Figures(database, version, stages, seeding)


# -- the report -------------------------------------------------------------------------------------


def table(figures: list[Figures]) -> str:
    lines = [
        "| database | events | scenario | page p50 ms | page p95 ms | p95 x baseline | query p50 / p95 ms "
        f"| target p95 ≤ {TARGET_P95_MS:.0f} ms | p95 vs {SMALL:,} |",
        "|---|---:|---|---:|---:|---:|---:|---|---:|",
    ]
    for f in figures:
        small = f.stages[0]
        for stage in f.stages:
            base = stage.timings[BASELINE].p95
            for name, t in stage.timings.items():
                growth = t.p95 / small.timings[name].p95
                if name == BASELINE:
                    verdict, query = "", ""
                elif stage is small:
                    verdict = "(the reference)"  # the targets apply at the full count
                    query = f"{t.query_p50:.2f} / {t.query_p95:.2f}"
                else:
                    verdict = "met" if t.p95 <= TARGET_P95_MS else "**missed**"
                    verdict += ", flat" if growth <= TARGET_GROWTH else f", **grew {growth:.1f}x**"
                    query = f"{t.query_p50:.2f} / {t.query_p95:.2f}"
                label = name + (f" ({t.note})" if t.note else "")
                lines.append(
                    f"| {f.database} | {stage.events:,} | {label} | {t.p50:.2f} | {t.p95:.2f} "
                    f"| {t.p95 / base:.1f} | {query} | {verdict} | {growth:.2f}x |"
                )
            lines.append(
                f"| {f.database} | {stage.events:,} | chart computed afresh (kept a minute per process) "
                f"| {stage.chart_p50:.2f} | {stage.chart_p95:.2f} | | | no target | |"
            )
            verify_target = ""
            if stage.events >= 1_000_000:
                met = stage.verify_seconds <= TARGET_VERIFY_S * stage.events / 1_000_000
                verify_target = f"target ≤ {TARGET_VERIFY_S:.0f} s: " + ("met" if met else "**missed**")
            lines.append(
                f"| {f.database} | {stage.events:,} | `flask audit verify` (best of 2) | | "
                f"{stage.verify_seconds:.2f} s | | | {verify_target} | |"
            )
    return "\n".join(lines)


def report(figures: list[Figures], events: int, repeat: int, load: str) -> str:
    seeding = "; ".join(f"{f.database} {f.seed_seconds:.0f} s" for f in figures)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"## {stamp}: audit log, {events:,} events\n\n"
        f"In-process (Flask test client, a signed-in security officer), {repeat} requests per scenario after "
        "20 warm-up ones, the clock at the newest event. Page: the whole GET /audit/ (chart of the last 30 "
        "days, filter choices, chain state, 50 events; each process keeps the chart for a minute, so about "
        "one request a minute computes it afresh: its own row shows that cost); query: `audit.log.page()` "
        "alone. One staff member "
        f"does ~8% of the staff's work; page {PAGES_DEEP:,} is {PAGES_DEEP - 1:,} keyset pages deep. Events "
        f"arrive about one a minute, so {SMALL:,} events span a week and a million about two years. Growth "
        f"compares each p95 with the same scenario at {SMALL:,} events (target ≤ {TARGET_GROWTH:.0f}x). The "
        "scenarios take turns request by request with a baseline, the console's home page (same sign-in, "
        "no audit work), so load from elsewhere on the machine shows in the baseline too. "
        "`flask audit verify`: the CLI, wall time, the checkpoint included, the better of two runs.\n\n"
        f"{table(figures)}\n\n"
        f"Machine: {machine_facts(figures)}; load average (1 min) {load}.\n"
        f"Seeding (bulk, chain hashes included): {seeding}.\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="audit events (default 100,000)")
    parser.add_argument("--repeat", type=int, default=200, help="requests per scenario (at least 100)")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="one database only")
    parser.add_argument("--no-record", action="store_true", help="do not append to bench/RESULTS.md")
    args = parser.parse_args(argv)
    if args.events < SMALL * 2:
        parser.error(f"--events must be at least {SMALL * 2:,}")
    if args.repeat < 100:
        parser.error("--repeat must be at least 100 for a meaningful p95")

    figures = []
    load_at_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="audit-bench-") as folder:
        if args.only in (None, "sqlite"):
            url = f"sqlite:///{Path(folder) / 'audit.sqlite3'}"
            figures.append(run_database("sqlite", url, args.events, args.repeat, restart=None))
        if args.only in (None, "postgresql"):
            server = PostgresServer.start()
            try:
                url = server.create_database("audit_bench")
                tuned = []

                def restart() -> None:
                    if not tuned:
                        tune_postgres(server, "audit_bench")
                        tuned.append(True)
                    else:
                        prewarm(f"host=127.0.0.1 port={server.port} user=postgres dbname=audit_bench")

                figures.append(run_database("postgresql", url, args.events, args.repeat, restart=restart))
            finally:
                server.stop()

    load = f"{load_at_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end"
    section = report(figures, args.events, args.repeat, load)
    print()
    print(section)
    if not args.no_record:
        with RESULTS.open("a") as results:
            results.write("\n" + section)
        print(f"(appended to {RESULTS.relative_to(ROOT)})", file=sys.stderr)
    big = [stage for f in figures for stage in f.stages[1:]]
    missed = [
        name
        for f in figures
        for stage in f.stages[1:]
        for name, t in stage.timings.items()
        if name != BASELINE
        and (t.p95 > TARGET_P95_MS or t.p95 > TARGET_GROWTH * f.stages[0].timings[name].p95)
    ]
    slow_verify = [s for s in big if s.events >= 1_000_000 and s.verify_seconds > TARGET_VERIFY_S]
    return 1 if missed or slow_verify else 0


if __name__ == "__main__":
    sys.exit(main())
