"""The faults, one after another on a schedule within the run, each recorded as a window.

A window that touches HTTP (a gunicorn worker killed, PostgreSQL down) excuses what happens inside
it: from a second before (requests already in flight) to a grace period after the outage ended
(pooled connections to the old server fail once; gunicorn boots the replacement worker). Only
the answers the fault explains are excused there: no answer at all for a killed worker, 503 while
the database is away. The receiver's outage and the outbox worker's death touch no page.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from scripts.loadtest.browser import Recorder
from scripts.loadtest.processes import Child, Postgres, socket_owner
from scripts.loadtest.receiver import Receiver
from scripts.procfs import children_of

FAULTS = ("kill-worker", "kill-outbox-worker", "postgres-restart", "receiver-down")
# When each starts, as a share of the run (in this order, never overlapping at 60 s).
AT_SHARE = {"kill-worker": 0.15, "kill-outbox-worker": 0.25, "postgres-restart": 0.38, "receiver-down": 0.58}
POSTGRES_DOWN_SECONDS = 5.0
RECEIVER_DOWN_SECONDS = 20.0
HOLD_WAIT_SECONDS = 15.0  # for a delivery to arrive and be held, so the worker dies mid-delivery
BEFORE_SECONDS = 0.2  # a request is excused when its span (start to answer) overlaps
GRACE_SECONDS = {"kill-worker": 3.0, "postgres-restart": 5.0}
# What a fault's window excuses: 0 is "no HTTP answer" (connection reset or refused).
EXCUSED = {"kill-worker": frozenset({0}), "postgres-restart": frozenset({503})}


@dataclass
class Window:
    fault: str
    start: float  # seconds since the run started
    end: float | None = None
    note: str = ""

    @property
    def grace(self) -> float:
        return GRACE_SECONDS.get(self.fault, 0.0)

    def covers(self, start: float, end: float) -> bool:
        """Does [start, end] (a request from its start to its answer) overlap the window?"""
        until = self.end if self.end is not None else float("inf")
        return start <= until + self.grace and end >= self.start - BEFORE_SECONDS

    def excuses(self, start: float, end: float, status: int) -> bool:
        return status in EXCUSED.get(self.fault, frozenset()) and self.covers(start, end)


class Faults(threading.Thread):
    """Runs each enabled fault at its time; `windows` is what happened, `problems` what could not."""

    def __init__(
        self,
        enabled: list[str],
        seconds: float,
        recorder: Recorder,
        stop: threading.Event,
        *,
        gunicorn: Child,
        postgres: Postgres,
        receiver: Receiver,
        outbox_workers: list[Child],
        restart_outbox_worker: Callable[[int], Child],
    ) -> None:
        super().__init__(name="faults", daemon=True)
        self.enabled = [fault for fault in FAULTS if fault in enabled]
        self.seconds = seconds
        self.recorder = recorder
        self.stop = stop
        self.gunicorn = gunicorn
        self.postgres = postgres
        self.receiver = receiver
        self.outbox_workers = outbox_workers
        self.restart_outbox_worker = restart_outbox_worker
        self.windows: list[Window] = []
        self.problems: list[str] = []

    def run(self) -> None:
        actions = {
            "kill-worker": self.kill_worker,
            "kill-outbox-worker": self.kill_outbox_worker,
            "postgres-restart": self.restart_postgres,
            "receiver-down": self.receiver_down,
        }
        for fault in self.enabled:
            wait = AT_SHARE[fault] * self.seconds - self.recorder.now()
            if wait > 0 and self.stop.wait(wait):
                self.problems.append(f"{fault}: the run ended before its time")
                continue
            try:
                actions[fault]()
            except Exception as failure:  # a fault that cannot be done is a failed check, not a crash
                self.problems.append(f"{fault}: {type(failure).__name__}: {failure}")
                if fault == "postgres-restart":
                    self.postgres.start()  # never leave the database down
                if fault == "receiver-down":
                    self.receiver.up()

    def kill_worker(self) -> None:
        workers = children_of(self.gunicorn.pid)
        if not workers:
            raise RuntimeError("gunicorn has no workers to kill")
        victim = workers[len(workers) // 2]
        window = Window("kill-worker", self.recorder.now(), note=f"kill -9 gunicorn worker {victim}")
        os.kill(victim, signal.SIGKILL)
        self.windows.append(window)
        # Ends when gunicorn has booted a replacement (its master notices the death first).
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now_workers = children_of(self.gunicorn.pid)
            if victim not in now_workers and len(now_workers) >= len(workers):
                break
            time.sleep(0.1)
        window.end = self.recorder.now()

    def kill_outbox_worker(self) -> None:
        self.receiver.hold_next()
        if not self.receiver.holding.wait(HOLD_WAIT_SECONDS):
            self.receiver.let_go()
            raise RuntimeError(f"no webhook delivery arrived within {HOLD_WAIT_SECONDS:.0f} s to be held")
        held = self.receiver.held
        pids = [worker.pid for worker in self.outbox_workers]
        owner = socket_owner(pids, held.client_port)
        if owner is None:
            self.receiver.let_go()
            raise RuntimeError("could not tell which outbox worker is sending the held delivery")
        window = Window("kill-outbox-worker", self.recorder.now(), note=f"kill -9 outbox worker {owner} ")
        os.kill(owner, signal.SIGKILL)
        index = pids.index(owner)
        self.outbox_workers[index].process.wait()
        window.note += f"while it waited on webhook {held.webhook_id}; restarted"
        self.receiver.let_go()
        time.sleep(1.0)  # a supervisor's restart delay
        self.outbox_workers[index] = self.restart_outbox_worker(index + 1)
        window.end = self.recorder.now()
        self.windows.append(window)

    def restart_postgres(self) -> None:
        window = Window("postgres-restart", self.recorder.now(), note="pg_ctl stop -m immediate, then start")
        self.windows.append(window)
        started = time.monotonic()
        self.postgres.crash()
        time.sleep(max(0.0, POSTGRES_DOWN_SECONDS - (time.monotonic() - started)))
        self.postgres.start()
        window.end = self.recorder.now()

    def receiver_down(self) -> None:
        down_for = min(RECEIVER_DOWN_SECONDS, max(2.0, 0.35 * self.seconds))
        window = Window(
            "receiver-down", self.recorder.now(), note=f"webhook receiver's port closed {down_for:.0f} s"
        )
        self.windows.append(window)
        self.receiver.down()
        time.sleep(down_for)
        self.receiver.up()
        window.end = self.recorder.now()

    def excused(self, start: float, end: float, status: int) -> bool:
        return any(window.excuses(start, end, status) for window in self.windows)

    def in_http_outage(self, at: float) -> bool:
        return any(window.fault in EXCUSED and window.covers(at, at) for window in self.windows)
