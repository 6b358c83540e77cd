"""The outbox worker's loop (services/delivery/worker.py) and its process (`flask outbox work`):
it delivers, survives a failing database, holds no transaction between passes, and stops at once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from impersonator.extensions import db
from impersonator.services.delivery import senders, worker
from tests.support.impersonation import launch
from tests.support.webhook_receiver import answer, types_received
from tests.support.webhooks import messages, subscribe

ROOT = Path(__file__).resolve().parents[2]
LONG_REST = 30.0  # seconds: far longer than any test waits, so a stop that waits it out fails


def start_worker(app, stop: threading.Event) -> threading.Thread:
    def loop() -> None:
        with app.app_context():
            worker.run(stop, poll_seconds=LONG_REST, sweep_seconds=LONG_REST)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_loop_delivers_then_rests_and_stops_at_once_when_told(
    app, httpserver, hook_url, client, agent, alice, clock
):
    answer(httpserver)
    subscribe(app, hook_url, clock.now(), events=["impersonation.requested"])
    launch(client, agent, clock, alice)
    stop = threading.Event()

    thread = start_worker(app, stop)
    wait_for(lambda: types_received(httpserver) == ["impersonation.requested"])
    time.sleep(0.2)  # the loop is resting now: nothing was due on its second pass
    asked = time.monotonic()
    stop.set()
    thread.join(timeout=5)

    assert not thread.is_alive()
    assert time.monotonic() - asked < 2  # the rest ended with the stop, not after LONG_REST
    assert [m.status for m in messages(app)] == ["delivered"]
    assert types_received(httpserver) == ["impersonation.requested"]  # once


def test_a_failing_pass_costs_the_pass_not_the_worker(
    app, httpserver, hook_url, client, agent, alice, clock, monkeypatch, caplog
):
    """A database restarting under the worker: the pass is logged and the next one delivers."""
    answer(httpserver)
    subscribe(app, hook_url, clock.now(), events=["impersonation.requested"])
    launch(client, agent, clock, alice)
    real_pass, calls = senders.work_once, []

    def database_down_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))
        return real_pass(*args, **kwargs)

    monkeypatch.setattr(senders, "work_once", database_down_once)
    with app.app_context():
        failed = worker.deliver_due()
        delivered = worker.deliver_due()

    assert failed.total == 0
    assert "outbox pass failed" in caplog.text
    assert delivered.delivered == 1
    assert types_received(httpserver) == ["impersonation.requested"]


def test_between_passes_the_worker_holds_no_transaction(
    app, httpserver, hook_url, client, agent, alice, clock
):
    """On SQLite an open transaction is the write lock: the web server must be able to write at once."""
    answer(httpserver)
    subscribe(app, hook_url, clock.now(), events=["impersonation.requested"])
    launch(client, agent, clock, alice)
    with app.app_context():
        assert worker.deliver_due().delivered == 1
        if db.engine.dialect.name == "sqlite":
            # A connection of its own that does not wait: BEGIN IMMEDIATE fails if a lock is held.
            other = sqlite3.connect(db.engine.url.database, timeout=0, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")
                other.execute("ROLLBACK")
            finally:
                other.close()
        else:
            with db.engine.connect() as other:
                open_ones = other.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()
            assert open_ones == 0


def test_the_worker_process_stops_on_sigterm_without_waiting_out_its_rest(tmp_path):
    env = {
        **os.environ,
        "IMPERSONATOR_ENV": "development",
        "IMPERSONATOR_INSTANCE": str(tmp_path),
        "OUTBOX_POLL_SECONDS": str(int(LONG_REST)),
    }
    flask = [str(Path(sys.executable).with_name("flask")), "--app", "app"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, capture_output=True, check=True, timeout=120)
    process = subprocess.Popen(
        [*flask, "outbox", "work"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert "outbox worker started" in process.stdout.readline()
        time.sleep(0.5)  # past its first pass, into the rest
        asked = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert time.monotonic() - asked < 3
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
