"""The load and fault test from start to verdict (see scripts/loadtest.py for what it proves)."""

from __future__ import annotations

import argparse
import math
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from scripts.loadtest import checks
from scripts.loadtest.attackers import AttackerPerson
from scripts.loadtest.browser import Recorder
from scripts.loadtest.faults import FAULTS, Faults
from scripts.loadtest.locks import LockWatcher
from scripts.loadtest.people import CONSOLE, CustomerPerson, Person, StaffPerson, World
from scripts.loadtest.processes import (
    Postgres,
    Processes,
    Unavailable,
    free_port,
    machine,
)
from scripts.loadtest.receiver import Receiver
from scripts.loadtest.seed import Customer, seed
from scripts.procfs import children_of, rss_mib

Check = checks.Check

WEB_WORKERS = 4
OUTBOX_WORKERS = 2
READY_TIMEOUT_SECONDS = 60
DRAIN_TIMEOUT_SECONDS = 90  # for the outbox to empty once the receiver is back
WIND_DOWN_SECONDS = 60
RAMP_UP_TIMEOUT_SECONDS = 180  # for the people to end what they left open
RSS_LIMIT_MB = 150
UNAVAILABLE = 3  # the exit status when PostgreSQL cannot be started here (tests/shipped: a skip outside CI)
# Far above what the simulated people do, so that the limits' counters run (they are part of every
# limited request) without refusing anyone; per-address limits see each person's own address anyway.
HIGH_RATE = "100000/minute"
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "TERM")


def server_environment(database_url: str, run_dir: Path) -> dict[str, str]:
    """Production, as an operator would export it, plus what makes a one-minute test meaningful:
    retries within seconds (not the default 30 s doubling to an hour) so a 20 s receiver outage
    drains within the test, and loopback webhooks (the receiver is on 127.0.0.1). Nothing else is
    inherited, so an exported development setting cannot leak in."""
    env = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
    env.update(
        IMPERSONATOR_ENV="production",
        IMPERSONATOR_INSTANCE=str(run_dir / "instance"),
        SECRET_KEY=secrets.token_urlsafe(32),
        AUDIT_HMAC_KEY=secrets.token_urlsafe(32),
        DATABASE_URL=database_url,
        CONSOLE_HOST=CONSOLE,
        TRUSTED_PROXY_COUNT="1",  # the clients stand in for the TLS proxy (browser.py)
        WEB_CONCURRENCY=str(WEB_WORKERS),
        MAIL_BACKEND="file",
        MAIL_DIR=str(run_dir / "mail"),
        WEBHOOK_ALLOW_PRIVATE_URLS="true",
        SEARCH_RATE_LIMIT=HIGH_RATE,
        IMPERSONATION_RATE_LIMIT=HIGH_RATE,
        REDEEM_RATE_LIMIT=HIGH_RATE,
        SIGN_IN_RATE_LIMIT=HIGH_RATE,
        OUTBOX_RETRY_BASE_SECONDS="1",
        OUTBOX_RETRY_MAX_SECONDS="4",
        OUTBOX_POLL_SECONDS="1",
        DELIVERY_TIMEOUT_SECONDS="3",  # the lease of a claimed message is three of these
        PYTHONUNBUFFERED="1",
    )
    return env


def split_clients(clients: int) -> tuple[int, int, int]:
    """Staff, customers and attackers: mostly staff, since they drive the impersonations."""
    staff = max(1, round(clients * 0.6))
    customers = max(1, round(clients * 0.3))
    return staff, customers, max(1, clients - staff - customers)


def wait_ready(port: int, gunicorn_pid: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            ready = requests.get(f"http://127.0.0.1:{port}/readyz", headers={"Host": CONSOLE}, timeout=5)
            if ready.status_code == 200 and len(children_of(gunicorn_pid)) >= WEB_WORKERS:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"/readyz did not answer 200 within {READY_TIMEOUT_SECONDS} s")


def cast(
    seeded, staff: int, customers: int, attackers: int
) -> tuple[list[Customer], list[list[Customer]], list[Customer]]:
    """Who minds which account: customers own some (support's requests race with them there),
    attackers aim at victims nobody else touches (their codes lock), each staff member has accounts
    of their own (two agents asking one customer for a code would replace each other's) plus a few
    owned ones."""
    everyone = seeded.customers
    needing_code = [c for c in everyone if not c.opted_in]
    victims = needing_code[-2 * attackers :]
    rest = [c for c in everyone if c not in victims]
    owned = rest[:customers]
    free = rest[customers:]
    per_staff = []
    for n in range(staff):
        mine = free[n::staff][:2] or free[:2]
        per_staff.append(mine * 3 + owned[n % len(owned) :: max(1, staff)][:1])
    return owned, per_staff, victims


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/loadtest.py",
        description="make loadtest: the production shape under load and faults, then its checks "
        "(the whole story: scripts/loadtest.py).",
    )
    parser.add_argument("--seconds", type=float, default=60, help="how long the people run (default 60)")
    parser.add_argument(
        "--clients",
        type=int,
        default=72,
        help="simulated people: 60%% staff, 30%% customers, the rest attackers",
    )
    parser.add_argument(
        "--faults",
        default="all",
        help=f"comma-separated, from {', '.join(FAULTS)}; or all (default) or none",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the logs, mail and PostgreSQL's data, even when it passes"
    )
    args = parser.parse_args(argv)
    enabled = (
        list(FAULTS) if args.faults == "all" else [] if args.faults == "none" else args.faults.split(",")
    )
    unknown = [fault for fault in enabled if fault not in FAULTS]
    if unknown or args.seconds <= 0 or args.clients < 1:
        parser.error(f"unknown faults {unknown}" if unknown else "--seconds and --clients must be positive")

    def on_signal(_signum, _frame) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    run_dir = Path(tempfile.mkdtemp(prefix="impersonator-loadtest-"))
    postgres = processes = receiver = None
    ok = False
    try:
        postgres = Postgres()
        postgres.create()
        progress("PostgreSQL started")
        env = server_environment(postgres.create_database("impersonator"), run_dir)
        # This process seeds and checks with the same settings as the servers (config.py reads the
        # environment when imported, so this comes before any import of the app).
        os.environ.clear()
        os.environ.update(env)
        processes = Processes(env, run_dir)
        receiver = Receiver(free_port(), Signatures())
        receiver.up()
        ok = run(args, enabled, postgres, processes, receiver)
        return 0 if ok else 1
    except Unavailable as missing:
        print(f"loadtest: {missing}", file=sys.stderr)
        return UNAVAILABLE
    except KeyboardInterrupt:
        print("\nloadtest: interrupted; stopping everything it started.", file=sys.stderr)
        return 130
    finally:
        if processes is not None:
            processes.stop_all()
            progress("servers stopped")
        if receiver is not None:
            receiver.down()
        if postgres is not None:
            postgres.destroy(keep=args.keep)
            if args.keep:
                print(f"loadtest: PostgreSQL's data kept in {postgres.data} (stopped)", file=sys.stderr)
        if ok and not args.keep:
            shutil.rmtree(run_dir, ignore_errors=True)
        else:
            print(f"loadtest: logs and mail kept in {run_dir}", file=sys.stderr)


class Signatures:
    """The receiver's check of each webhook's signature, with the endpoint's secret once seeded."""

    secret = ""

    def __call__(self, message_id: str, timestamp: int, body: str, header: str) -> bool:
        from impersonator.services.delivery import webhooks

        return bool(self.secret) and webhooks.verify(self.secret, message_id, timestamp, body, header)


def run(args, enabled: list[str], postgres: Postgres, processes: Processes, receiver: Receiver) -> bool:
    from impersonator import create_app
    from impersonator.extensions import db

    staff_n, customers_n, attackers_n = split_clients(args.clients)
    app = create_app()
    # `flask db upgrade`, run here rather than in a process of its own: one app import less.
    upgrade = app.test_cli_runner().invoke(args=["db", "upgrade"])
    if upgrade.exit_code != 0:
        raise RuntimeError(f"flask db upgrade failed:\n{upgrade.output}{upgrade.exception!r}")
    progress("migrated")
    # The servers boot (each imports the app: seconds here) while this process seeds.
    port = free_port()
    gunicorn = processes.start_gunicorn(f"127.0.0.1:{port}")
    outbox_workers = [processes.start_outbox_worker(n + 1) for n in range(OUTBOX_WORKERS)]
    per_tenant = max(10, math.ceil((customers_n + 2 * attackers_n + 2 * staff_n) / 3))
    seeded = seed(
        app, customers_per_tenant=per_tenant, staff=staff_n, attackers=attackers_n, webhook_url=receiver.url
    )
    receiver.verify.secret = seeded.webhook_secret
    progress(f"seeded {len(seeded.customers)} customers and {staff_n + attackers_n} staff members")
    wait_ready(port, gunicorn.pid)
    progress("gunicorn ready")

    owned, per_staff, victims = cast(seeded, staff_n, customers_n, attackers_n)
    recorder, stop = Recorder(), threading.Event()
    world = World(port, recorder, stop, frozenset(c.id for c in owned))
    people: list[Person] = [StaffPerson(world, m, n, per_staff[n]) for n, m in enumerate(seeded.staff)]
    people += [CustomerPerson(world, c, n) for n, c in enumerate(owned)]
    people += [AttackerPerson(world, m, n, victims) for n, m in enumerate(seeded.attackers)]
    faults = Faults(
        enabled,
        args.seconds,
        recorder,
        stop,
        gunicorn=gunicorn,
        postgres=postgres,
        receiver=receiver,
        outbox_workers=outbox_workers,
        restart_outbox_worker=processes.start_outbox_worker,
    )
    print(
        f"loadtest: {len(people)} people ({staff_n} staff, {customers_n} customers, {attackers_n} attackers) "
        f"for {args.seconds:.0f} s against gunicorn ({WEB_WORKERS} workers) on 127.0.0.1:{port}; "
        f"faults: {', '.join(enabled) or 'none'}",
        flush=True,
    )
    locks = LockWatcher(postgres.port, recorder, stop)
    ramp_started = time.monotonic()
    for person in people:
        person.start()
    deadline = ramp_started + RAMP_UP_TIMEOUT_SECONDS
    while world.prepared.get("ready") < len(people) and time.monotonic() < deadline:
        time.sleep(0.2)
    ramp_seconds = time.monotonic() - ramp_started
    progress(f"everyone signed in (ramp-up {ramp_seconds:.1f} s); the clock starts")
    recorder.started, recorder.prefix = time.monotonic(), ""
    world.go.set()
    locks.start()
    faults.start()
    stop.wait(args.seconds)
    stop.set()
    ran_for = recorder.now()
    deadline = time.monotonic() + WIND_DOWN_SECONDS
    for person in people:
        person.join(max(0.1, deadline - time.monotonic()))
    faults.join(60)
    stuck = [person.name for person in people if person.is_alive()]
    progress("people done")

    # The final sweep (the workers drain meanwhile), then wait (bounded) for the outbox to empty.
    drain_started = time.monotonic()
    with app.app_context():
        db.engine.dispose()  # its pooled connections predate the database restart
    # `flask impersonation sweep` and `flask audit verify` run in this process, through Flask's own
    # CLI runner (the very commands, one app import less each: CI's budget is tight).
    cli = app.test_cli_runner()
    sweep = cli.invoke(args=["impersonation", "sweep"])
    state = wait_drained(app, seeded.first_audit_seq_watched)
    drained_in = time.monotonic() - drain_started
    # What the receiver saw, then the database once more: every id seen must be a row by now.
    wire, seen_seqs, bad = receiver.snapshot()
    state = checks.outbox_state(app, seeded.first_audit_seq_watched)
    progress("swept and drained")
    verify = cli.invoke(args=["audit", "verify"])
    workers = children_of(gunicorn.pid)
    rss = {pid: rss_mib(pid) for pid in workers}

    http, failing_ids = checks.http_checks(recorder.samples, world.anomalies, faults)
    verdicts = [
        *http,
        *checks.redemption_checks(world.redemptions, world.tally),
        *checks.lifecycle_checks(app),
        Check("flask impersonation sweep ran", sweep.exit_code == 0, sweep.output.strip()[-300:]),
        Check("flask audit verify passes", verify.exit_code == 0, verify.output.strip()[-300:]),
        *checks.outbox_checks(state, wire, seen_seqs, bad),
        Check(
            f"RSS of each gunicorn worker at the end ≤ {RSS_LIMIT_MB} MB",
            bool(rss) and all(v is not None and v <= RSS_LIMIT_MB for v in rss.values()),
            ", ".join(f"pid {pid}: {v:.0f} MB" if v else f"pid {pid}: gone" for pid, v in rss.items()),
        ),
        Check(
            f"gunicorn runs {WEB_WORKERS} workers at the end (the killed one replaced)",
            len(workers) == WEB_WORKERS,
            f"{len(workers)} workers",
        ),
        checks.log_check([child.output() for child in processes.children]),
        Check(
            "every fault asked for happened",
            not faults.problems,
            "; ".join(faults.problems) or ", ".join(enabled),
        ),
        Check(
            "every person finished and left nothing open",
            not stuck,
            f"still running: {stuck}" if stuck else "",
        ),
    ]
    times = (ran_for, ramp_seconds, drained_in)
    print_report(args, recorder, times, faults, world, verdicts, failing_ids, gunicorn, locks)
    return all(check.ok for check in verdicts)


def progress(what: str, started: float = time.monotonic()) -> None:
    """One line per phase, with the seconds since the start (the CI test's budget is tight)."""
    print(f"loadtest: {time.monotonic() - started:5.1f} s  {what}", flush=True)


def wait_drained(app, watched: int) -> checks.OutboxState:
    deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
    while True:
        try:
            state = checks.outbox_state(app, watched)
        except Exception:  # the database may still refuse a first connection after its restart
            time.sleep(0.5)
            continue
        if state.pending == 0 or time.monotonic() > deadline:
            return state
        time.sleep(0.5)


def print_report(args, recorder, times, faults, world, verdicts, failing_ids, gunicorn, locks) -> None:
    ran_for, ramp_seconds, drained_in = times
    print()
    print(f"Machine: {machine()}")
    print(
        f"Run: {ran_for:.1f} s of load ({args.clients} people asked for), gunicorn {WEB_WORKERS} sync "
        f"workers, {OUTBOX_WORKERS} outbox workers, PostgreSQL on 127.0.0.1; "
        f"outbox drained {drained_in:.1f} s after the run. Before the clock: {ramp_seconds:.1f} s of "
        "ramp-up (everyone signs in; rows marked ramp-up, their req/s over the ramp-up)"
    )
    print()
    print(checks.latency_table(recorder.samples, ran_for, ramp_seconds))
    print()
    print("Faults (seconds since the start; 5xx or lost answers inside a window's span + grace are excused):")
    for window in faults.windows:
        end = f"{window.end:6.1f}" if window.end is not None else "  open"
        print(
            f"  {window.fault:20} {window.start:6.1f} → {end}  (+{window.grace:.0f} s grace)  {window.note}"
        )
    if not faults.windows:
        print("  none")
    print()
    print("What the people did:")
    for name, n in sorted(world.tally.counts.items()):
        print(f"  {n:6d}  {name}")
    print()
    print("Longest lock waits in PostgreSQL (sampled each second; by blocking statement):")
    for line in locks.report() or ["none seen"]:
        print(f"  {line}")
    print()
    print("CHECKS")
    for check in verdicts:
        print(f"  {'PASS' if check.ok else 'FAIL'}  {check.name}")
        if check.detail:
            print(f"        {check.detail}")
    log = gunicorn.output().splitlines()
    if failing_ids:
        print()
        print("Server log lines of the failing requests (by request id):")
        for request_id in failing_ids[:5]:
            for line in [line for line in log if request_id in line][:6]:
                print(f"  {line[:400]}")
    # gunicorn's own bare 500 (an exception that escaped the app) carries no request id: its lines.
    errors = [n for n, line in enumerate(log) if "[ERROR] Error handling request" in line]
    if errors:
        print()
        print(f"gunicorn answered {len(errors)} request(s) itself with a bare 500; the first:")
        first = errors[0]
        # The traceback runs until the next log line (gunicorn's `[…]` or the app's JSON `{…}`).
        end = next((n for n in range(first + 1, len(log)) if log[n].startswith(("[", "{"))), len(log))
        block = log[first:end]
        last = next((line for line in reversed(block) if "Error" in line and not line.startswith(" ")), "")
        for line in [
            block[0],
            *[line for line in block if "impersonator/" in line or "flask/ctx" in line],
            last,
        ]:
            print(f"  {line[:300]}")
    passed = all(check.ok for check in verdicts)
    print()
    print(f"loadtest: {'PASSED' if passed else 'FAILED'}", flush=True)
