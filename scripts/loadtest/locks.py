"""A watcher of PostgreSQL's lock waits during the run: once a second, which backends wait on a
lock, for how long, and what the blocking backend last ran. A stall (every request slow at once)
shows here as one blocker and a queue behind it, which latency alone cannot tell from a busy CPU."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from scripts.loadtest.browser import Recorder

QUERY = """
SELECT w.pid, extract(epoch FROM now() - w.query_start) AS waited, left(w.query, 120) AS waiting,
       b.pid AS blocker, b.state AS blocker_state, left(b.query, 160) AS blocking,
       b.application_name AS blocker_app
FROM pg_stat_activity w
CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS blocking_pid
JOIN pg_stat_activity b ON b.pid = blocking_pid
WHERE w.wait_event_type = 'Lock'
"""


@dataclass(frozen=True)
class LockWait:
    at: float
    waited: float
    waiting: str
    blocker_state: str
    blocking: str


class LockWatcher(threading.Thread):
    def __init__(self, port: int, recorder: Recorder, stop: threading.Event) -> None:
        super().__init__(name="lock-watcher", daemon=True)
        self.port, self.recorder, self.stop = port, recorder, stop
        self.longest: dict[str, LockWait] = {}  # by the blocking statement: its longest wait

    def run(self) -> None:
        import psycopg

        while not self.stop.wait(1.0):
            try:
                with psycopg.connect(
                    f"host=127.0.0.1 port={self.port} user=postgres dbname=impersonator",
                    autocommit=True,
                    connect_timeout=2,
                ) as conn:
                    rows = conn.execute(QUERY).fetchall()
            except psycopg.Error:
                continue  # the database is restarting: nothing to watch
            for _pid, waited, waiting, _blocker, state, blocking, _app in rows:
                key = " ".join((blocking or "").split())[:160]
                seen = self.longest.get(key)
                if seen is None or float(waited or 0) > seen.waited:
                    self.longest[key] = LockWait(
                        self.recorder.now(),
                        max(0.0, float(waited or 0)),
                        " ".join((waiting or "").split()),
                        state,
                        key,
                    )

    def report(self, limit: int = 5) -> list[str]:
        worst = sorted(self.longest.values(), key=lambda wait: wait.waited, reverse=True)[:limit]
        return [
            f"{w.waited:5.1f} s at {w.at:5.1f} s: waiting «{w.waiting[:90]}» behind a backend "
            f"{w.blocker_state} after «{w.blocking[:110]}»"
            for w in worst
        ]
