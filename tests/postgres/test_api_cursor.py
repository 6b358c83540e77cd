"""The API's audit cursor follows the log through concurrent appends with no gap and no repeat
(issue 15 part 3). `seq` is handed out at commit under the chain head's row lock, held until the
commit is done (services/audit): so an event whose transaction commits late holds back every later
one, and a follower that read past it would be the bug. Two tests, on PostgreSQL (where readers and
writers really run side by side):

- a held commit: a writer has its seq and stops just before COMMIT; another writer queues behind it;
  a follower reads through the API meanwhile. The follower must not get past the held event, and
  once it commits, the next call returns it first;
- a race: writer processes append as fast as they can while the follower pages through the API.
"""

from __future__ import annotations

import multiprocessing
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import select, text

from impersonator import create_app
from impersonator.extensions import db
from impersonator.models import AuditEvent
from impersonator.services import audit
from impersonator.services.api import keys
from impersonator.services.audit import Actor
from impersonator.services.staff.accounts import create_staff
from tests.conftest import config_for, migrate_to_head
from tests.support.api import call
from tests.support.races import EVENTS_EACH, append_in_child

pytestmark = pytest.mark.postgres
WRITERS = 4
WAIT = 120  # seconds anything waits for anything (a timeout fails the test, never passes it)


def app_with_key(postgres_server, name: str):
    url = postgres_server.create_database(name)
    migrate_to_head(url)
    app = create_app(config_for(url))
    with app.app_context():
        admin, _ = create_staff(
            email="admin@staff.example",
            name="Admin",
            role="admin",
            actor=Actor.system("test"),
            now=datetime.now(UTC),
            password="a long staff password",
        )
        key = keys.create("SIEM", ["audit:read"], admin=admin, ip=None, now=datetime.now(UTC)).plaintext
    return url, app, key


def follow(client, key: str, cursor: int, limit: int = 7) -> tuple[list[dict], int]:
    response = call(
        client, "GET", "/audit-events", key, query_string={"after": str(cursor), "limit": str(limit)}
    )
    assert response.status_code == 200, response.text
    page = response.get_json()
    return page["items"], page["next"]


def assert_gapless(seqs: list[int]) -> None:
    assert seqs == list(range(1, len(seqs) + 1))


def dispose(app) -> None:
    for face in (app, app.extensions["impersonator.tenant_app"]):
        with face.app_context():
            db.session.remove()
            db.engine.dispose()


# --- a commit held back between taking its seq and committing -------------------------------------


def test_the_cursor_never_passes_an_event_whose_commit_is_late(postgres_server):
    _, app, key = app_with_key(postgres_server, "impersonator_api_cursor_held")
    client = app.test_client()
    try:
        seen, cursor = [], 0
        while True:  # catch up first
            items, cursor = follow(client, key, cursor, limit=100)
            seen += items
            if len(items) <= 1:  # only the previous call's own event: caught up
                break

        appended, release, answers, failures = threading.Event(), threading.Event(), {}, []

        def late_writer() -> None:
            with app.app_context():
                session = db.session()

                def hold(_session) -> None:
                    # Runs after the audit listener appended the event (class listeners run first).
                    answers["late_seq"] = late.seq
                    appended.set()
                    if not release.wait(WAIT):
                        failures.append("the late writer was never released")

                sa_event.listen(session, "before_commit", hold)
                try:
                    late = audit.record("test.late", actor=Actor.system("late"), at=datetime.now(UTC))
                    db.session.commit()
                finally:
                    sa_event.remove(session, "before_commit", hold)
                    db.session.remove()

        def queued_writer() -> None:
            with app.app_context():
                audit.record("test.queued", actor=Actor.system("queued"), at=datetime.now(UTC))
                db.session.commit()
                db.session.remove()

        def reader() -> None:
            answers["held_read"] = follow(app.test_client(), key, cursor, limit=100)

        threads = [threading.Thread(target=late_writer)]
        threads[0].start()
        assert appended.wait(WAIT), "the late writer never took its seq"
        assert answers["late_seq"] is not None
        threads += [threading.Thread(target=queued_writer), threading.Thread(target=reader)]
        for thread in threads[1:]:
            thread.start()
        # Both wait on the head the late writer holds: the queued writer to take a seq, the reader to
        # audit its call (its read is done by then).
        with app.app_context():
            deadline = datetime.now(UTC).timestamp() + WAIT
            while db.session.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted")) < 2:
                db.session.rollback()
                assert datetime.now(UTC).timestamp() < deadline, "the others never queued on the head"
            db.session.rollback()
        release.set()
        for thread in threads:
            thread.join(WAIT)
        assert failures == [] and not any(thread.is_alive() for thread in threads)

        held_items, held_next = answers["held_read"]
        assert all(item["seq"] < answers["late_seq"] for item in held_items)
        assert held_next < answers["late_seq"]
        items, _ = follow(client, key, held_next, limit=100)
        assert items[0]["seq"] == held_next + 1
        actions = [item["action"] for item in items]
        assert actions.index("test.late") < actions.index("test.queued")
        assert_gapless(
            [item["seq"] for item in seen]
            + [item["seq"] for item in held_items]
            + [item["seq"] for item in items]
        )
    finally:
        dispose(app)


# --- writers racing a follower --------------------------------------------------------------------


def test_a_follower_gets_every_event_once_while_processes_append(postgres_server):
    url, app, key = app_with_key(postgres_server, "impersonator_api_cursor_race")
    client = app.test_client()
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(WRITERS + 1), context.Queue()
    children = [
        context.Process(target=append_in_child, args=(url, writer, start, results))
        for writer in range(WRITERS)
    ]
    for child in children:
        child.start()
    try:
        start.wait(timeout=WAIT)
        seen, cursor, pages_during_race = [], 0, 0
        for _ in range(5000):
            items, cursor = follow(client, key, cursor)
            seen += items
            writers_done = not any(child.is_alive() for child in children)
            pages_during_race += not writers_done
            raced = sum(item["action"] == "test.race" for item in seen)
            if writers_done and raced == WRITERS * EVENTS_EACH:
                break
        answers = sorted(results.get(timeout=WAIT) for _ in children)

        assert answers == [(writer, "done") for writer in range(WRITERS)]
        assert pages_during_race > 1  # the follower really read while the writers wrote
        assert_gapless([item["seq"] for item in seen])
        per_writer = {}
        for item in seen:
            if item["action"] == "test.race":
                per_writer.setdefault(item["actor"]["label"], []).append(item["details"]["n"])
        assert per_writer == {f"writer-{w}": list(range(EVENTS_EACH)) for w in range(WRITERS)}
        with app.app_context():
            stored = list(db.session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
        assert [item["seq"] for item in seen] == stored[: len(seen)]
    finally:
        for child in children:
            child.join(timeout=10)
            if child.is_alive():
                child.terminate()
                child.join()
        dispose(app)
