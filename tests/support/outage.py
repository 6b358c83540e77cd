"""Database outages for tests: SQLite's write lock held by another connection, or a PostgreSQL
server of the test's own stopped for good (tests/web/conftest.py's `outage` fixture makes either)."""

from __future__ import annotations

import sqlite3

from tests.support.postgres import PostgresServer

BUSY_TIMEOUT_MS = 100


class LockedSqlite:
    """A SQLite file of this test's own, whose write lock another connection takes and gives back.
    Every transaction of the app is BEGIN IMMEDIATE, so its reads wait for the lock too."""

    bound = 2.0  # seconds per request: twenty busy timeouts (the old bug took 20-30 s)
    recovers = True

    def __init__(self, path) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        self.holder: sqlite3.Connection | None = None

    def begin(self) -> None:
        self.holder = sqlite3.connect(self.path, isolation_level=None)
        self.holder.execute("BEGIN IMMEDIATE")

    def end(self) -> None:
        if self.holder is not None:
            self.holder.close()  # rolls back: the lock is free
            self.holder = None


class StoppedPostgres:
    """A throwaway PostgreSQL server of this test's own (the session's server stays up for the
    other tests), stopped with `-m immediate`: it does not come back."""

    bound = 5.0
    recovers = False

    def __init__(self, server: PostgresServer) -> None:
        self.server = server
        self.running = True
        self.url = server.url("outage")  # created by the fixture, which stops the server if that fails

    def begin(self) -> None:
        self.end()

    def end(self) -> None:
        if self.running:  # PostgresServer.stop() raises once its data directory is gone
            self.running = False
            self.server.stop()
