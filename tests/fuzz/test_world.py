"""The fuzzer's world makes its browsers again whatever fuzzed forms changed before (tests/fuzz/world.py)."""

from __future__ import annotations

from sqlalchemy import update

from impersonator.extensions import db
from impersonator.models import Staff
from tests.support.impersonation import SECOND_PERSON, update_tenant, update_user


def test_a_full_mode_ghost_is_made_again_after_the_approval_rules_and_the_approver_changed(world, app):
    ghost = world.personas["ghost"]
    ghost.ensure()  # the first ghost: a full-mode request, approved by the officer `launch` makes
    # What the admin's and Alice's fuzzed forms can do between two ghosts:
    with app.app_context():
        db.session.execute(
            update(Staff).where(Staff.email == SECOND_PERSON).values(role="support", active=False)
        )
        db.session.commit()
    update_tenant(
        app, world.tenants["acme"], two_person="always", users_choose_approval=True, reason_codes="legal"
    )
    update_user(app, world.alice_id, approve_each_request=True)
    ghost.client = None  # as when a fuzzed End ended the session

    assert ghost.ensure() is ghost.client
    assert world.impersonation_id is not None
