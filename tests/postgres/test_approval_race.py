"""Decisions under contention (DESIGN §11): two deciders at once make one decision, the other is
told it was already decided; an approval is used once however many starts race for it.

Threads with their own app context and connection, released together by a barrier, round after
round, on PostgreSQL (SQLite serialises every transaction, so nothing races there).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from sqlalchemy import select

from impersonator.extensions import db
from impersonator.models import Staff, User
from impersonator.services.approvals import closing, decisions
from tests.conftest import postgresql_only
from tests.support.approvals import allow_peer, asked, open_one, row, set_tenant
from tests.support.races import in_parallel
from tests.support.records import audit_events

ROUNDS = 15


@pytest.fixture
def cast(app, tenants, make_staff):
    with app.app_context():
        alice = db.session.scalar(select(User.id).where(User.email == "alice@acme.example"))
    requester, first, second = make_staff("impersonator"), make_staff("security"), make_staff("impersonator")
    allow_peer(app, second.id)
    return alice, requester.id, first.id, second.id


def staff_decision(app, clock, approver_id: int, request_id: int, approve: bool) -> Callable[[], str]:
    def decide() -> str:
        approver = db.session.get(Staff, approver_id)
        decisions.decide_as_staff(approver, request_id, approve=approve, note=None, ip=None, now=clock.now())
        return "approved" if approve else "denied"

    return decide


@postgresql_only
def test_two_approvers_at_once_make_one_decision(app, clock, cast):
    alice, requester, first, second = cast
    for round_ in range(ROUNDS):
        request_id = open_one(app, clock, requester, alice, asked("full"))
        approve_first = round_ % 2 == 0  # one approves, the other denies; who wins varies
        said = in_parallel(
            app,
            staff_decision(app, clock, first, request_id, approve_first),
            staff_decision(app, clock, second, request_id, not approve_first),
        )
        assert sorted(s for s in said if s.startswith("refused")) == ["refused: already_decided"], said
        winner = next(s for s in said if not s.startswith("refused"))
        decided = row(app, request_id)
        assert decided.state == winner
        assert decided.staff_decider_id in (first, second)
    events = audit_events(app, "approval.approved") + audit_events(app, "approval.denied")
    per_request = Counter(e["details"]["approval_id"] for e in events)
    assert len(per_request) == ROUNDS and set(per_request.values()) == {1}


@postgresql_only
def test_the_customer_and_an_approver_at_once_complete_the_request_exactly_once(app, clock, cast):
    alice, requester, first, _ = cast
    set_tenant(app, access_policy="approve_each")

    def customer() -> str:
        user = db.session.get(User, alice)
        return decisions.decide_as_customer(
            user, request_id, approve=True, note=None, ip=None, now=clock.now()
        ).state

    for _ in range(ROUNDS):
        request_id = open_one(app, clock, requester, alice, asked("full"))
        said = in_parallel(app, customer, staff_decision(app, clock, first, request_id, True))
        assert not [s for s in said if s.startswith(("refused", "error"))], said
        assert row(app, request_id).state == "approved"
    complete = [e for e in audit_events(app, "approval.approved") if e["details"]["complete"]]
    assert len(complete) == ROUNDS
    assert len({e["details"]["approval_id"] for e in complete}) == ROUNDS


@postgresql_only
def test_an_approval_is_used_once_however_many_starts_race_for_it(app, clock, cast):
    alice, requester, first, _ = cast

    def start() -> str:
        staff = db.session.get(Staff, requester)
        used = closing.claim(staff, request_id, user_id=alice, now=clock.now())
        db.session.commit()
        return used.state

    for _ in range(ROUNDS):
        request_id = open_one(app, clock, requester, alice, asked("full"))
        with app.app_context():
            staff_decision(app, clock, first, request_id, True)()
        said = in_parallel(app, start, start, start)
        assert sorted(said) == ["refused: approval_used", "refused: approval_used", "used"], said
