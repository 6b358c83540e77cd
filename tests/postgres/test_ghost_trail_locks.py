"""A ghost request is recorded without locking its impersonation's row (migration 0017).

With a foreign key from the trail to the impersonation, PostgreSQL takes a key-share lock on the
impersonation's row for every request of the session, and a shared lock (a MultiXact) whenever two
of them overlap: about a tenth of a ghost page's throughput. Here another transaction holds the row
with a lock that conflicts with key-share; the trail must be written all the same, at once.
"""

from __future__ import annotations

import psycopg
from sqlalchemy import func, select, text

from impersonator.extensions import db
from impersonator.models import GhostRequest
from impersonator.services.impersonation import ghost
from tests.conftest import postgresql_only
from tests.support.ghost_rows import ghost_session, user_by_email

pytestmark = postgresql_only


def test_a_ghost_request_is_recorded_while_another_transaction_holds_the_impersonation(
    app, tenants, make_staff, clock
):
    agent = make_staff("impersonator")
    with app.app_context():
        imp = ghost_session(agent.id, user_by_email("alice@acme.example"), clock.now())
        impersonation_id = imp.id
        url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(url) as holder:
        holder.execute("SELECT id FROM impersonation WHERE id = %s FOR UPDATE", (impersonation_id,))
        with app.app_context():
            # Fail fast rather than wait for the holder: waiting is the regression. (A SELECT, not
            # SET: record_request rolls back a transaction that wrote, and a SET counts as a write.)
            db.session.execute(text("SELECT set_config('lock_timeout', '1s', false)"))
            ghost.record_request(impersonation_id, method="GET", path="/", status=200, now=clock.now())
            db.session.remove()
        holder.rollback()
    with app.app_context():
        recorded = select(func.count()).where(GhostRequest.impersonation_id == impersonation_id)
        assert db.session.scalar(recorded) == 1
