"""A transaction that only read ends with COMMIT on PostgreSQL, so psycopg keeps its prepared
statements across requests (extensions.py); every transaction that wrote, or failed, still rolls
back whatever it did not commit itself."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import DBAPIError

from impersonator.extensions import db
from impersonator.models import Project, User
from tests.conftest import postgresql_only

pytestmark = postgresql_only

ALICE = "alice@acme.example"


def prepared_statements() -> int:
    return db.session.scalar(text("SELECT count(*) FROM pg_prepared_statements"))


def alice() -> User:
    return db.session.scalars(select(User).where(User.email == ALICE)).one()


def test_a_transaction_that_only_read_keeps_its_prepared_statements(app, tenants):
    with app.app_context():
        # One request after another on the same connection, each ending as teardown ends it.
        for _ in range(8):
            alice()
            db.session.remove()
        assert prepared_statements() >= 1  # psycopg prepares a statement from its 5th run
        db.session.remove()
        assert prepared_statements() >= 1  # and that remove() kept them too


def name_of_alice() -> str:
    return db.session.scalar(select(User.name).where(User.email == ALICE))


WRITES = {
    "an ORM change flushed": lambda: (setattr(alice(), "name", "Changed"), db.session.flush()),
    "a Core UPDATE": lambda: db.session.execute(
        update(User).where(User.email == ALICE).values(name="Changed")
    ),
    "text SQL": lambda: db.session.execute(
        text("UPDATE tenant_user SET name = 'Changed' WHERE email = :email"), {"email": ALICE}
    ),
    "a CTE that writes": lambda: db.session.execute(
        text(
            "WITH changed AS (UPDATE tenant_user SET name = 'Changed' WHERE email = :email RETURNING id)"
            " SELECT count(*) FROM changed"
        ),
        {"email": ALICE},
    ),
}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_a_write_left_uncommitted_is_still_rolled_back(app, tenants, write):
    with app.app_context():
        before = name_of_alice()
        db.session.remove()
        for _ in range(6):  # the reads before it have prepared statements to keep
            name_of_alice()
            db.session.remove()
        name_of_alice()
        write()
        db.session.remove()  # what a request's teardown does
        assert name_of_alice() == before


def test_a_write_after_a_failed_read_is_rolled_back_and_the_connection_still_serves(app, tenants):
    with app.app_context():
        before = name_of_alice()
        db.session.execute(update(User).where(User.email == ALICE).values(name="Changed"))
        with pytest.raises(DBAPIError):
            db.session.execute(text("SELECT 1 / 0"))
        db.session.remove()
        assert name_of_alice() == before


def test_a_read_that_failed_rolls_back_and_the_next_transaction_works(app, tenants):
    with app.app_context():
        with pytest.raises(DBAPIError):
            db.session.execute(text("SELECT 1 / 0"))
        db.session.remove()
        assert name_of_alice()
        db.session.add(Project(tenant_id=alice().tenant_id, owner_id=alice().id, name="Kept"))
        db.session.commit()
        assert db.session.scalar(select(Project.name).where(Project.name == "Kept")) == "Kept"


def test_a_commit_that_fails_leaves_the_rollback_to_meet_the_fault(app, tenants, monkeypatch):
    with app.app_context():
        name_of_alice()
        calls = []

        def failing_commit(self) -> None:
            calls.append(1)
            raise psycopg.OperationalError("server closed the connection unexpectedly")

        monkeypatch.setattr(psycopg.Connection, "commit", failing_commit)
        db.session.remove()  # no bare driver error out of a request's teardown
        monkeypatch.undo()
        assert calls
        assert name_of_alice()
