"""I9 under contention: many processes append to the audit chain at the same moment, and the chain
stays one line: sequence numbers 1..N with no gap and no repeat, every link intact.

Each writer is a process of its own (multiprocessing "spawn") with its own app and connection pool,
as gunicorn workers would be; they wait at a barrier and then append as fast as they can, each event
in a transaction of its own, as requests write them.
"""

from __future__ import annotations

import multiprocessing

import pytest
from sqlalchemy import func, select

from impersonator import create_app
from impersonator.extensions import db
from impersonator.models import AuditEvent, AuditHead
from impersonator.services.audit import chain
from tests.conftest import config_for, migrate_to_head
from tests.support.races import EVENTS_EACH, append_in_child

WRITERS = 8
WAIT = 120  # seconds a writer waits for the others (a broken barrier fails the test, never passes it)


def race(url: str) -> list[tuple[int, str]]:
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(WRITERS), context.Queue()
    children = [
        context.Process(target=append_in_child, args=(url, writer, start, results))
        for writer in range(WRITERS)
    ]
    for child in children:
        child.start()
    try:
        return sorted(results.get(timeout=WAIT) for _ in children)
    finally:
        for child in children:
            child.join(timeout=10)
            if child.is_alive():
                child.terminate()
                child.join()


def assert_one_line(url: str) -> None:
    answers = race(url)

    assert answers == [(writer, "done") for writer in range(WRITERS)]
    app = create_app(config_for(url))
    with app.app_context():
        try:
            seqs = list(db.session.scalars(select(AuditEvent.seq).order_by(AuditEvent.seq)))
            assert seqs == list(range(1, WRITERS * EVENTS_EACH + 1))
            per_writer = dict(
                db.session.execute(
                    select(AuditEvent.actor_label, func.count()).group_by(AuditEvent.actor_label)
                ).all()
            )
            assert per_writer == {f"writer-{w}": EVENTS_EACH for w in range(WRITERS)}
            assert db.session.get(AuditHead, 1).seq == WRITERS * EVENTS_EACH
            verdict = chain.verify(chain.chain_key(app.config))
            assert verdict.ok, verdict.summary()
            assert verdict.verified_seq == WRITERS * EVENTS_EACH
        finally:
            db.session.remove()
            db.engine.dispose()


@pytest.mark.postgres
def test_i9_chain_stays_linear_with_eight_processes_appending_at_once(postgres_server):
    url = postgres_server.create_database("impersonator_audit_race")
    migrate_to_head(url)

    assert_one_line(url)


def test_i9_chain_stays_linear_with_eight_processes_appending_at_once_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'audit-race.sqlite3'}"
    migrate_to_head(url)

    assert_one_line(url)
