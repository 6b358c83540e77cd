"""Paths run against each other: each in a thread of its own with its own app context and
connection, released together by a barrier (tests/postgres/)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select

from impersonator.extensions import db
from impersonator.services.errors import DomainError

WAIT = 60  # seconds a thread waits for the others at the barrier (a broken barrier fails the test)


def in_parallel(app, *paths: Callable[[], str]) -> list[str]:
    """Run each path in a thread of its own, released together; returns what each said: its result,
    `refused: <reason>` for a domain error, `error: …` for anything else (a deadlock, say)."""
    barrier = threading.Barrier(len(paths), timeout=WAIT)
    said: list[str] = ["(did not finish)"] * len(paths)

    def run(index: int, path: Callable[[], str]) -> None:
        with app.app_context():
            try:
                db.session.execute(select(1))  # a connection of its own, ready before the barrier
                db.session.rollback()
                barrier.wait()
                said[index] = path()
            except DomainError as refused:
                said[index] = f"refused: {refused.reason}"
            except Exception as problem:  # a deadlock or any other database error fails the test
                barrier.abort()
                said[index] = f"error: {problem!r}"
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(n, path)) for n, path in enumerate(paths)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WAIT * 2)
    return said


# --- processes appending to the audit chain ---------------------------------------------------------

EVENTS_EACH = 40  # events each writer appends
SPAWN_WAIT = 120  # seconds a spawned writer waits for the others (a broken barrier fails, never passes)


def append_in_child(url: str, writer: int, start, results) -> None:
    """A spawned writer (a gunicorn worker's stand-in): its own app and pool; it waits for the others
    at `start`, then appends EVENTS_EACH `test.race` events, each in a transaction of its own, and
    reports `(writer, "done")` or the error on `results`."""
    from impersonator import create_app
    from impersonator.services import audit
    from impersonator.services.audit import Actor
    from tests.conftest import config_for

    try:
        app = create_app(config_for(url))
        with app.app_context():
            db.session.execute(select(1))  # a connection, ready
            db.session.rollback()
            start.wait(timeout=SPAWN_WAIT)
            for n in range(EVENTS_EACH):
                audit.record(
                    "test.race",
                    actor=Actor.system(f"writer-{writer}"),
                    at=datetime.now(UTC),
                    details={"writer": writer, "n": n},
                )
                db.session.commit()
            db.session.remove()
            db.engine.dispose()
        results.put((writer, "done"))
    except Exception as problem:  # reported to the parent, which fails the test
        start.abort()
        results.put((writer, f"error: {problem!r}"))
