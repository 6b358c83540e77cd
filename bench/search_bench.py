"""User search at scale: seed N users on SQLite and PostgreSQL, build the search indexes, time queries.

    .venv/bin/python -m bench.search_bench                   # a quick try (20,000 users)
    .venv/bin/python -m bench.search_bench --users 1000000   # the scale the search is built for

For each database: a fresh file / a throwaway PostgreSQL server (tests/support/postgres.py), the
whole schema with `flask_migrate.upgrade` but without the search objects (SEARCH_MIGRATIONS), N users
over ~100 tenants (bulk inserts, COPY on PostgreSQL), then the search objects built, timed (the index
build an upgrade of a full database costs), then
in-process p50/p95 of `search_users()` for exact emails, email prefixes and substrings, each call a
whole request's work (BEGIN, every statement, ROLLBACK), against a bare `SELECT 1` through the same
session in the same run. Prints a table and appends it with the machine's facts to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import platform
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import psycopg
from flask_migrate import upgrade
from sqlalchemy import bindparam, text

from config import TestingConfig
from impersonator import ROOT, create_app
from impersonator.extensions import db
from impersonator.models import Tenant, TenantDomain
from impersonator.services.search.users import PER_PAGE, match_users, search_users
from tests.support.postgres import PostgresServer

MIGRATIONS = str(ROOT / "migrations")
RESULTS = ROOT / "bench" / "RESULTS.md"
TARGET_P95_MS = 5.0
# Migrations that hold only search objects (plain SQL in <DATABASE>_UPGRADE / _DOWNGRADE tuples):
# dropped before seeding and built after it, timed.
SEARCH_MIGRATIONS = ("0003_search_indexes", "0005_search_speed", "0006_search_buckets")
KINDS = ("exact email", "email prefix", "substring")  # the target applies to these
HARD_KINDS = ("full name", "email domain")  # shown for what they cost; no target
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST_NAMES = words(
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard "
    "Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy Matthew Betty "
    "Anthony Sandra Mark Margaret Donald Ashley Steven Kimberly Andrew Emily Paul Donna Joshua "
    "Michelle Kenneth Carol Kevin Amanda Brian Melissa George Deborah Timothy Stephanie Ronald "
    "Rebecca Jason Laura Edward Helen Jeffrey Sharon Ryan Cynthia Jacob Kathleen Gary Amy Nicholas "
    "Shirley Eric Angela Jonathan Anna Stephen Ruth Larry Brenda Justin Pamela Scott Nicole Brandon "
    "Katherine Benjamin Samantha Samuel Christine Gregory Emma Alexander Catherine Frank Debra "
    "Patrick Virginia Raymond Rachel Jack Carolyn Dennis Janet Jerry Maria Tyler Heather Aaron Diane "
    "José Zoë Søren Ingrid Hiroshi Yuki Priya Arjun Wei Mei Olumide Chidi Fatima Omar Lucía Mateo"
)
SYLLABLES = words(
    "an ber bro car dal den do el fer gar han har in jo ka kel lan ler lin ma mar mil mo na nel "
    "nor o pe per quin ra ren ri ro sa sen son ste ta ter tho to val ven wal wer wil ya zan zel"
)
ENDINGS = ("", "", "", "son", "sen", "ski", "ez", "man", "berg", "ton", "ford", "ley", "ová", "ini")
TENANT_WORDS = words(
    "Acme Globex Initech Umbrella Stark Wayne Wonka Tyrell Cyberdyne Soylent Hooli Vandelay Dunder "
    "Oscorp Gringotts Monarch Aperture Massive Pied Nakatomi Virtucon Gekko Prestige Sterling Duff"
)
TENANT_SUFFIXES = ("Corporation", "Labs", "Industries", "Group", "Systems", "Holdings", "Partners", "")


def progress(done: int, total: int, label: str, started: float) -> None:
    """A one-line progress bar on stderr."""
    width = 40
    filled = int(width * done / total) if total else width
    rate = done / max(time.perf_counter() - started, 1e-9)
    sys.stderr.write(
        f"\r  {label:<22} [{'#' * filled}{'.' * (width - filled)}] {done:>9,}/{total:,} {rate:>9,.0f}/s"
    )
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


# -- the data ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedTenant:
    id: int
    slug: str
    name: str
    domain: str
    mail_domain: str


def tenant_specs(count: int) -> list[tuple[str, str, str, str]]:
    """(slug, name, domain, mail domain) of `count` tenants, deterministic."""
    specs = []
    for n in range(count):
        word = TENANT_WORDS[n % len(TENANT_WORDS)]
        suffix = TENANT_SUFFIXES[(n // len(TENANT_WORDS)) % len(TENANT_SUFFIXES)]
        name = f"{word} {suffix}".strip() + (f" {n // 100 + 1}" if n >= 100 else "")
        slug = f"{word.lower()}-{n:03d}"
        specs.append((slug, name, f"{slug}.example.com", f"{word.lower()}{n:03d}.example"))
    return specs


def last_names(rng: random.Random, count: int = 4000) -> list[str]:
    names = set()
    while len(names) < count:
        syllables = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 2, 3))))
        names.add((syllables + rng.choice(ENDINGS)).capitalize())
    return sorted(names)


def user_rows(tenants: list[SeedTenant], users: int, seed: int = 42) -> Iterator[tuple]:
    """Rows (tenant_id, email, name, active, created_at, last_sign_in_at, opt_in_until), interleaved
    across tenants as sign-ups are, with tenant sizes skewed (a few big ones, many small ones)."""
    rng = random.Random(seed)  # noqa: S311  (made-up test data, not a secret)
    surnames = last_names(rng)
    weights = [1 / (rank + 1) ** 0.8 for rank in range(len(tenants))]
    seen: Counter[tuple[int, str]] = Counter()
    start = NOW - timedelta(days=5 * 365)
    for _ in range(users):
        tenant = rng.choices(tenants, weights)[0]
        first, last = rng.choice(FIRST_NAMES), rng.choice(surnames)
        shape = rng.random()
        if shape < 0.5:
            local = f"{first}.{last}"
        elif shape < 0.75:
            local = f"{first[0]}{last}"
        elif shape < 0.9:
            local = f"{first}{rng.randint(1, 99)}"
        else:
            local = f"{first}_{last[:3]}"
        local = local.lower()
        seen[(tenant.id, local)] += 1
        if seen[(tenant.id, local)] > 1:  # ".<n>" appears in no other shape: unique per tenant
            local += f".{seen[(tenant.id, local)]}"
        created = start + timedelta(seconds=rng.randrange(5 * 365 * 86400))
        signed_in = None if rng.random() < 0.2 else created + (NOW - created) * rng.random()
        opt_in = NOW + timedelta(hours=rng.choice((8, 24, 168))) if rng.random() < 0.05 else None
        yield (
            tenant.id,
            f"{local}@{tenant.mail_domain}",
            f"{first} {last}",
            rng.random() > 0.03,
            created,
            signed_in,
            opt_in,
        )


def seed(tenant_count: int, users: int) -> list[SeedTenant]:
    """Tenants through the ORM, users in bulk (COPY on PostgreSQL, executemany on SQLite)."""
    tenants = []
    for slug, name, domain, mail_domain in tenant_specs(tenant_count):
        row = Tenant(slug=slug, name=name, created_at=NOW)
        row.domains.append(TenantDomain(domain=domain))
        db.session.add(row)
        db.session.flush()
        tenants.append(SeedTenant(row.id, slug, name, domain, mail_domain))
    db.session.commit()
    rows = user_rows(tenants, users)
    columns = "tenant_id, email, name, active, created_at, last_sign_in_at, support_access_opt_in_until"
    started = time.perf_counter()
    if db.engine.dialect.name == "postgresql":
        connection = db.engine.raw_connection()
        try:
            copy_sql = f"COPY tenant_user ({columns}, password_hash) FROM STDIN"
            with connection.cursor() as cursor, cursor.copy(copy_sql) as copy:
                for done, row in enumerate(rows, 1):
                    copy.write_row((*(naive(v) for v in row), "bench-not-a-password-hash"))
                    if done % 20_000 == 0 or done == users:
                        progress(done, users, "seeding users", started)
            connection.commit()
        finally:
            connection.close()
    else:
        # Fixed column names, values bound: nothing from outside reaches the SQL text.
        insert = f"INSERT INTO tenant_user ({columns}, password_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
        connection = db.engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute("BEGIN")
            batch, done = [], 0
            for row in rows:
                batch.append((*(sqlite_value(v) for v in row), "bench-not-a-password-hash"))
                if len(batch) == 20_000:
                    cursor.executemany(insert, batch)
                    done += len(batch)
                    batch.clear()
                    progress(done, users, "seeding users", started)
            cursor.executemany(insert, batch)
            cursor.execute("COMMIT")
            progress(users, users, "seeding users", started)
        finally:
            connection.close()
    return tenants


def search_migration(name: str) -> ModuleType:
    """A migration module of SEARCH_MIGRATIONS, loaded from its file (migrations/ is no package)."""
    spec = importlib.util.spec_from_file_location(name, Path(MIGRATIONS) / "versions" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def search_index_sql(database: str, *, upgrade: bool) -> list[str]:
    """The SQL of the search-only objects (SEARCH_MIGRATIONS): to build them, or to drop them."""
    suffix = "UPGRADE" if upgrade else "DOWNGRADE"
    modules = [search_migration(name) for name in SEARCH_MIGRATIONS]
    if not upgrade:
        modules.reverse()
    return [sql for module in modules for sql in getattr(module, f"{database.upper()}_{suffix}")]


def run_statements(statements: list[str]) -> None:
    for statement in statements:
        db.session.execute(text(statement))
    db.session.commit()


def naive(value):
    return value.astimezone(UTC).replace(tzinfo=None) if isinstance(value, datetime) else value


def sqlite_value(value):
    # SQLAlchemy's SQLite DateTime storage format; booleans as 0/1.
    if isinstance(value, datetime):
        return naive(value).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, bool):
        return int(value)
    return value


# -- the queries ------------------------------------------------------------------------------------


def fragment(rng: random.Random, word: str) -> str:
    """3 to 8 characters from inside one word, as a person remembers part of a name."""
    size = rng.randint(3, 8)
    if len(word) <= size:
        return word
    begin = rng.randint(0, len(word) - size)
    return word[begin : begin + size]


def sample_queries(count: int, seed: int = 7) -> dict[str, list[str]]:
    """Varied queries built from real rows (see KINDS and the README for what each kind is)."""
    rng = random.Random(seed)  # noqa: S311  (made-up test data, not a secret)
    top = db.session.scalar(text("SELECT max(id) FROM tenant_user"))
    ids = rng.sample(range(1, top + 1), min(top, count * 3))
    rows = db.session.execute(
        text("SELECT email, name FROM tenant_user WHERE id IN :ids").bindparams(
            bindparam("ids", expanding=True)
        ),
        {"ids": ids},
    ).all()
    db.session.rollback()
    rng.shuffle(rows)
    queries: dict[str, list[str]] = {kind: [] for kind in KINDS + HARD_KINDS}
    for n, (email, name) in enumerate(rows):
        local, domain = email.split("@")
        queries["exact email"].append(email.upper() if n % 10 == 0 else email)
        queries["email prefix"].append(email[: rng.randint(2, 12)])
        words = [w for w in (name.split() if n % 2 else re.split(r"[._0-9]+", local)) if len(w) >= 3]
        queries["substring"].append(fragment(rng, rng.choice(words or [local])))
        queries["full name"].append(name)
        queries["email domain"].append("@" + domain)
    return {kind: texts[:count] for kind, texts in queries.items()}


def timed(call: Callable[[], object], repeat: int = 1) -> float:
    started = time.perf_counter()
    for _ in range(repeat):
        call()
    return (time.perf_counter() - started) / repeat * 1000


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


@dataclass
class Figures:
    database: str
    version: str
    seed_seconds: float
    index_seconds: float
    baseline_p50: float
    baseline_p95: float
    kinds: dict[str, Timing]


@dataclass
class Timing:
    p50: float  # the search query: match_users(), the SQL that finds a page's ids
    p95: float
    page_p50: float  # the whole service call: search_users(), rows and access states included
    page_p95: float
    rows: float  # mean results per page


def measure(database: str, queries: dict[str, list[str]]) -> tuple[float, float, dict[str, Timing]]:
    """p50/p95 (ms) of the bare baseline and of each kind; every call ends its transaction."""

    def bare():
        db.session.execute(text("SELECT 1"))
        db.session.rollback()

    def match(query: str) -> int:
        found = match_users(query)
        db.session.rollback()
        return min(len(found.ids), PER_PAGE)

    def page(query: str) -> int:
        found = search_users(query, now=NOW)
        db.session.rollback()
        return len(found.results)

    for query in queries["substring"][:30] + queries["email prefix"][:30]:  # warm caches and plans
        page(query)
    baseline = [timed(bare) for _ in range(2000)]
    kinds = {}
    for kind, texts in queries.items():
        times, page_times, counts = [], [], []
        for query in texts:
            started = time.perf_counter()
            counts.append(match(query))
            times.append((time.perf_counter() - started) * 1000)
        for query in texts:
            page_times.append(timed(lambda query=query: page(query)))
        kinds[kind] = Timing(
            percentile(times, 0.5),
            percentile(times, 0.95),
            percentile(page_times, 0.5),
            percentile(page_times, 0.95),
            statistics.mean(counts),
        )
        slowest = sorted(zip(times, texts, strict=True), reverse=True)[:3]
        print(
            f"  {database} {kind}: slowest " + ", ".join(f"{query!r} {ms:.1f} ms" for ms, query in slowest),
            file=sys.stderr,
        )
    return percentile(baseline, 0.5), percentile(baseline, 0.95), kinds


def tune_postgres(server: PostgresServer, url: str) -> None:
    """Give the throwaway server a production-like cache (1 GB shared_buffers, warmed), as the test
    server's 128 MB default cannot hold a million users and their indexes (~400 MB)."""
    conninfo = f"host=127.0.0.1 port={server.port} user=postgres dbname={url.rsplit('/', 1)[1]}"
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
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        relations = connection.execute(
            "SELECT c.relname FROM pg_class c WHERE c.oid = 'tenant_user'::regclass "
            "OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'tenant_user'::regclass)"
        ).fetchall()
        for (relation,) in relations:
            connection.execute("SELECT pg_prewarm(%s)", (relation,))


def run_database(
    database: str,
    url: str,
    users: int,
    tenants: int,
    query_count: int,
    before_measuring: Callable[[], None] | None = None,
) -> Figures:
    print(f"{database}: {users:,} users over {tenants} tenants", file=sys.stderr)
    config = type("BenchConfig", (TestingConfig,), {"SQLALCHEMY_DATABASE_URI": url})
    app = create_app(config)
    with app.app_context():
        # The whole schema first, then the search objects out: later migrations need not know how
        # to move a million rows, and the build is timed on the data, as an upgrade would run it.
        upgrade(directory=MIGRATIONS)
        run_statements(search_index_sql(database, upgrade=False))
        started = time.perf_counter()
        seed(tenants, users)
        seeded = time.perf_counter() - started
        print(f"  building the search indexes ({', '.join(SEARCH_MIGRATIONS)}) …", file=sys.stderr)
        started = time.perf_counter()
        run_statements(search_index_sql(database, upgrade=True))
        indexed = time.perf_counter() - started
        print(f"  indexes built in {indexed:.1f} s", file=sys.stderr)
        with db.engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            if database == "postgresql":
                connection.exec_driver_sql("VACUUM ANALYZE")
                version = connection.exec_driver_sql("SHOW server_version").scalar()
            else:
                connection.exec_driver_sql("ANALYZE")
                version = sqlite3.sqlite_version
        if before_measuring:
            db.session.remove()
            db.engine.dispose()
            before_measuring()
        queries = sample_queries(query_count)
        baseline_p50, baseline_p95, kinds = measure(database, queries)
        db.session.remove()
        db.engine.dispose()
    return Figures(database, version, seeded, indexed, baseline_p50, baseline_p95, kinds)


# -- the report -------------------------------------------------------------------------------------


def table(figures: list[Figures]) -> str:
    lines = [
        "| database | query | p50 ms | p95 ms | p95 / bare | target p95 ≤ 5 ms "
        "| whole call p50 / p95 ms | rows/page |",
        "|---|---|---:|---:|---:|---|---:|---:|",
    ]
    for f in figures:
        lines.append(
            f"| {f.database} | bare `SELECT 1` (baseline) | {f.baseline_p50:.3f} | {f.baseline_p95:.3f} "
            "| 1.0 | | | |"
        )
        for kind, t in f.kinds.items():
            verdict = "met" if t.p95 <= TARGET_P95_MS else "**missed**"
            verdict = "no target" if kind in HARD_KINDS else verdict
            lines.append(
                f"| {f.database} | {kind} | {t.p50:.3f} | {t.p95:.3f} | {t.p95 / f.baseline_p95:.1f} "
                f"| {verdict} | {t.page_p50:.2f} / {t.page_p95:.2f} | {t.rows:.1f} |"
            )
    return "\n".join(lines)


def machine_facts(figures: list[Figures]) -> str:
    cpu = "unknown"
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    facts = [
        f"nproc {os.cpu_count()} ({cpu})",
        f"Python {platform.python_version()}",
        f"{platform.system()} {platform.release()}",
    ]
    names = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
    facts += [f"{names[f.database]} {f.version}" for f in figures]
    return ", ".join(facts)


def report(figures: list[Figures], users: int, tenants: int, queries: int, load: str) -> str:
    builds = "; ".join(
        f"{f.database}: seeding {f.seed_seconds:.0f} s, search indexes ({' + '.join(SEARCH_MIGRATIONS)}) "
        f"{f.index_seconds:.1f} s"
        for f in figures
    )
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"## {stamp}: user search, {users:,} users, {tenants} tenants\n\n"
        f"In-process, {queries} varied queries per kind, pages of 50 (+1), every call ending its "
        "transaction as a request does. p50/p95: the search query (`match_users()`: the SQL that "
        "finds a page's ids); whole call: `search_users()`, which also loads the rows and their "
        "access state. Kinds: a user's whole email (every tenth in capitals); its first 2-12 "
        "characters; 3-8 characters from inside one word of a name or email local part; and, "
        "without a target, a whole name and an email domain (`@tenant.example`), the costliest "
        "substrings for a trigram index.\n\n"
        f"{table(figures)}\n\n"
        f"Machine: {machine_facts(figures)}; load average (1 min) {load}.\n"
        f"Build: {builds}.\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=20_000, help="users to seed (default 20,000)")
    parser.add_argument("--tenants", type=int, default=100, help="tenants (default 100)")
    parser.add_argument("--queries", type=int, default=300, help="queries per kind (at least 200)")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="one database only")
    parser.add_argument("--no-record", action="store_true", help="do not append to bench/RESULTS.md")
    args = parser.parse_args(argv)
    if args.queries < 200:
        parser.error("--queries must be at least 200 for a meaningful p95")
    if args.users < args.queries * 3:
        parser.error("--users must be at least three times --queries")

    figures = []
    load_at_start = os.getloadavg()[0]  # other work on a shared machine shows in the figures
    with tempfile.TemporaryDirectory(prefix="search-bench-") as folder:
        if args.only in (None, "sqlite"):
            url = f"sqlite:///{Path(folder) / 'search.sqlite3'}"
            figures.append(run_database("sqlite", url, args.users, args.tenants, args.queries))
        if args.only in (None, "postgresql"):
            server = PostgresServer.start()
            try:
                url = server.create_database("search_bench")
                figures.append(
                    run_database(
                        "postgresql",
                        url,
                        args.users,
                        args.tenants,
                        args.queries,
                        before_measuring=lambda: tune_postgres(server, url),
                    )
                )
            finally:
                server.stop()

    load = f"{load_at_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end"
    section = report(figures, args.users, args.tenants, args.queries, load)
    print()
    print(section)
    if not args.no_record:
        if not RESULTS.exists():
            RESULTS.write_text("# Benchmark results\n\nAppended by the scripts in bench/; newest last.\n")
        with RESULTS.open("a") as results:
            results.write("\n" + section)
        print(f"(appended to {RESULTS.relative_to(ROOT)})", file=sys.stderr)
    missed = [kind for f in figures for kind in KINDS if f.kinds[kind].p95 > TARGET_P95_MS]
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
