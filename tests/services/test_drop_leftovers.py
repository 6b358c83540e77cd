"""`extensions.drop_leftovers`: what runs after a view and commits on its own (a ghost's request trail,
an API call's audit event) first rolls back what the view's transaction changed and did not commit,
in whatever form (pending in the session, flushed, Core or text SQL), and keeps a transaction that
only read, so the common path costs no extra round trips."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text, update

from impersonator.extensions import db, drop_leftovers
from impersonator.models import User

ALICE = "alice@acme.example"


def alice() -> User:
    return db.session.scalars(select(User).where(User.email == ALICE)).one()


def name_of_alice() -> str:
    return db.session.scalar(select(User.name).where(User.email == ALICE))


WRITES = {
    "an ORM change still pending": lambda: setattr(alice(), "name", "Changed"),
    "an ORM change flushed": lambda: (setattr(alice(), "name", "Changed"), db.session.flush()),
    "a Core UPDATE": lambda: db.session.execute(
        update(User).where(User.email == ALICE).values(name="Changed")
    ),
    "text SQL": lambda: db.session.execute(
        text("UPDATE tenant_user SET name = 'Changed' WHERE email = :email"), {"email": ALICE}
    ),
}


@pytest.mark.parametrize("write", WRITES.values(), ids=list(WRITES))
def test_a_change_left_uncommitted_is_dropped_before_the_next_commit(app, tenants, write):
    with app.app_context():
        write()
        drop_leftovers()
        db.session.commit()
        db.session.remove()
        assert name_of_alice() != "Changed"


def test_a_transaction_that_only_read_is_kept(app, tenants):
    with app.app_context():
        alice()
        reading = db.session().get_transaction()
        drop_leftovers()
        assert db.session().get_transaction() is reading


def test_a_committed_change_is_no_leftover_for_the_transaction_after_it(app, tenants):
    with app.app_context():
        alice().name = "Committed"
        db.session.commit()
        assert name_of_alice() == "Committed"  # a new transaction, which only reads
        reading = db.session().get_transaction()
        drop_leftovers()
        assert db.session().get_transaction() is reading


def test_no_transaction_at_all_begins_none(app, tenants):
    with app.app_context():
        drop_leftovers()
        assert db.session().get_transaction() is None
