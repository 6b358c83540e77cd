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
  session (requested through `lifecycle.request`, redeemed through the web), in cycles of customer,
  ghost, ghost, customer, so that a machine that speeds up or slows down favours neither (3 cycles,
  `--ghost-cycles`): target ghost >= 0.95 x customer, the median of the cycles' ratios;
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
import os
import shutil
import signal
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from sqlalchemy import text

from bench import bare_app
from bench.web.bed import Bed, SqlCounter, bare_in_process_ms
from bench.web.report import (
    Measured,
    Row,
    append_results,
    machine_facts,
    pooled,
    print_table,
    ratio_note,
    table,
)
from bench.web.scenarios import Runner, measure_product
from bench.web.servers import Gunicorn
from bench.web.settings import (
    CUSTOMER_EMAIL,
    FLOOR,
    FLOOR_PATH,
    GHOST_X_CUSTOMER,
    PROFILE_REQUESTS,
    REDEEM_X_FLOOR,
    RESULTS,
    RUNGS,
    SEARCH_PATH,
    SEARCH_X_FLOOR,
    SECRET_KEY,
    TOKEN_TTL_SECONDS,
    WORKER_RSS_MIB,
    app_environment,
    bare_environment,
)
from impersonator.extensions import db
from tests.support.postgres import PostgresServer


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.web_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="measured wrk run per scenario (10)")
    parser.add_argument("--warmup", type=int, default=2, help="wrk warm-up per scenario, seconds (2)")
    parser.add_argument(
        "--ghost-cycles",
        type=int,
        default=3,
        help="cycles of customer, ghost, ghost, customer on the tenant home (3); the verdict is their median",
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="file to append to (bench/RESULTS.md)")
    parser.add_argument("--no-record", action="store_true", help="print only, append nothing")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk (Debian package `wrk`)")
    if args.seconds < 1 or args.warmup < 0 or args.ghost_cycles < 1:
        sys.exit("--seconds and --ghost-cycles must be at least 1, --warmup at least 0")
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
    bare_env = bare_environment(bed.url, bed.alice_id)
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
    product = measure_product(runner, bed, server, args.ghost_cycles)
    server.stop()

    floor_last = floor_run("last")
    last = runner.measure("baseline (bare Flask, last)", bare, "/", "127.0.0.1")
    bare.stop()

    baseline = (first.rps + last.rps) / 2
    floor = (floor_first.rps + floor_last.rps) / 2

    def tenant_home_row(who: str, runs: list[Measured]) -> Row:
        label = f"tenant home GET /, {who} session (mean of {len(runs)})"
        return Row(label, pooled(label, runs), bed.costs[who])

    customer_row = tenant_home_row("customer", product.customer)
    ghost_row = tenant_home_row("ghost", product.ghost)
    customer, ghost = customer_row.measured, ghost_row.measured
    search_row = Row(f"console search GET {SEARCH_PATH} (support agent)", product.search, bed.costs["search"])
    redeem_row = Row("redemption POST /impersonation/redeem", product.redeem, bed.costs["redeem"])
    rows = [
        Row("baseline: bare Flask GET / (first)", first, ms=bare_ms["/"]),
        *rungs,
        Row(f"{FLOOR} (first)", floor_first, ms=bare_ms[FLOOR_PATH]),
        search_row,
        customer_row,
        ghost_row,
        redeem_row,
        Row(f"{FLOOR} (last)", floor_last, ms=bare_ms[FLOOR_PATH]),
        Row("baseline: bare Flask GET / (last)", last, ms=bare_ms["/"]),
    ]
    for row in rows:
        row.floor = floor if row.cost or row.scenario.startswith(FLOOR) else None

    verdicts = Verdicts()
    search_ms, floor_ms = bed.costs["search"].ms, bare_ms[FLOOR_PATH]
    search_row.target, met = ratio_note(product.search.rps, floor, SEARCH_X_FLOOR, "floor")
    verdicts.add(
        "console search / one-read floor",
        f"{product.search.rps / floor:.2f} ({product.search.rps:.0f} / {floor:.0f} req/s; in-process "
        f"{search_ms:.2f} vs {floor_ms:.2f} ms)",
        f">= {SEARCH_X_FLOOR:.2f}",
        met,
    )
    # The ghost's verdict: the median of the cycles' ratios, so one noisy cycle cannot decide it.
    ratios = product.cycle_ratios()
    ghost_ratio = statistics.median(ratios)
    ghost_row.target, met = ratio_note(ghost_ratio, 1.0, GHOST_X_CUSTOMER, "customer")
    verdicts.add(
        "ghost tenant home / the same page as the customer",
        f"{ghost_ratio:.2f}, the median of {len(ratios)} cycles ({', '.join(f'{r:.2f}' for r in ratios)}; "
        f"pooled {ghost.rps:.0f} / {customer.rps:.0f} req/s; in-process {bed.costs['ghost'].ms:.2f} vs "
        f"{bed.costs['customer'].ms:.2f} ms)",
        f">= {GHOST_X_CUSTOMER:.2f}",
        met,
    )
    redeem_ms = bed.costs["redeem"].ms
    redeem_row.target, met = ratio_note(product.redeem.rps, floor, REDEEM_X_FLOOR, "floor")
    verdicts.add(
        "redemption / one-read floor",
        f"{product.redeem.rps / floor:.2f} ({product.redeem.rps:.0f} / {floor:.0f} req/s; in-process "
        f"{redeem_ms:.2f} vs {floor_ms:.2f} ms)",
        f">= {REDEEM_X_FLOOR:.2f}",
        met,
    )
    peak = max(product.rss_peaks.values(), default=0.0)
    after = ", ".join(f"{mib:.0f}" for mib in product.rss_after.values()) or "none found"
    verdicts.add(
        "RSS of each product worker (MiB)",
        f"after the benchmark: {after}; peak of any worker: {peak:.0f} ({len(product.rss_peaks)} workers "
        f"seen, {product.recycled} recycled by max_requests)",
        f"<= {WORKER_RSS_MIB}",
        bool(product.rss_after) and max(max(product.rss_after.values()), peak) <= WORKER_RSS_MIB,
    )
    every = [first, *(row.measured for row in rungs), floor_first, *product.runs(), floor_last, last]
    unexpected = sum(m.unexpected for m in every)
    failures = [f for m in every for f in m.probe_failures]
    wrong = "; ".join(f"{m.label}: {m.describe_unexpected()}" for m in every if m.unexpected)
    verdicts.add(
        "every response of its scenario's status (200; 303 for redemptions), no socket error",
        f"{unexpected} unexpected" + (f" ({wrong})" if wrong else ""),
        "0",
        unexpected == 0,
    )
    verdicts.add(
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
        f"Tenant home, in {len(ratios)} cycles of customer, ghost, ghost, customer: customer "
        f"{', '.join(f'{m.rps:.1f}' for m in product.customer)}; ghost "
        f"{', '.join(f'{m.rps:.1f}' for m in product.ghost)} req/s. The ghost's verdict is the median "
        "of the cycles' ratios (each cycle: its two ghost runs over its two customer runs).",
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
    print_table(verdicts.lines)
    print()
    for note in notes:
        print(f"- {note}")
    if not args.no_record:
        append_results(args.results, facts, [lines, verdicts.lines], notes, argv)
        print(f"\nAppended to {args.results}")
    if not verdicts.ok:
        print(
            "\nweb_bench: a target was missed or a scenario went wrong (the verdicts above).", file=sys.stderr
        )
    return 0 if verdicts.ok else 1


class Verdicts:
    """The verdict table: one line per target, and whether every one was met."""

    def __init__(self) -> None:
        self.lines = [["target", "figure", "threshold", "verdict"]]
        self.ok = True

    def add(self, name: str, figure: str, threshold: str, met: bool) -> None:
        self.lines.append([name, figure, threshold, "met" if met else "MISSED"])
        self.ok &= met


if __name__ == "__main__":
    sys.exit(main())
