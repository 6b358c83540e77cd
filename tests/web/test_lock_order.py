"""The product's lock order (services/audit): every per-key row first, the audit chain's head last.

Each flow below runs with the SQL of every connection watched; in a transaction, nothing that locks
or writes a row other than the append itself may follow the read of the head. tests/postgres/
test_lock_order.py runs the paths against each other in parallel."""

from __future__ import annotations

from datetime import timedelta

from impersonator.extensions import db
from tests.support.customer import generate_code, revoke_session, sign_in_as
from tests.support.impersonation import (
    end_ghost,
    impersonations,
    launch_and_redeem,
    redeem,
    request_impersonation,
    user_id,
)
from tests.support.lock_order import statements_after_the_head
from tests.support.records import audit_actions
from tests.support.staff_admin import admin_post
from tests.support.web import from_address, sign_in_password, submit_code

ATTACKER = "198.51.100.7"


def wrong_code(member, clock) -> str:
    now = clock.now()
    near = {member.code(now + timedelta(seconds=30 * step)) for step in range(-1, 4)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in near)


def test_no_flow_locks_a_row_after_the_audit_head(app, make_staff, admin, tenants, clock):
    member = make_staff("support")
    alice = user_id(app, "alice@acme.example")
    with app.app_context():
        engine = db.engine
    with statements_after_the_head(engine) as late:
        # Sign-in: a wrong password, a wrong code, a right one (which forgets this address's failures).
        browser = from_address(app.test_client(), ATTACKER)
        sign_in_password(browser, member.email, "a guess")
        clock.next_totp_step()
        sign_in_password(browser, member.email, member.password)
        submit_code(browser, wrong_code(member, clock))
        submit_code(browser, member.code())
        # Step-up refused: a wrong TOTP code, then a wrong access code (the code's failure counter).
        request_impersonation(browser, member, clock, alice, totp_code=wrong_code(member, clock))
        request_impersonation(browser, member, clock, alice, access_code="ZZZZ-ZZZZ")
        # The customer makes a code; the agent uses it, the token is redeemed, then replayed.
        customer = app.test_client()
        sign_in_as(customer, "alice@acme.example")
        code = generate_code(customer)
        ghost = launch_and_redeem(browser, member, clock, alice, access_code=code)
        redeem(app.test_client(), ghost.token)
        # The customer revokes the live session; a second one is ended by the ghost itself.
        revoke_session(customer, impersonations(app)[-1].id)
        code = generate_code(customer)
        launch_and_redeem(browser, member, clock, alice, access_code=code)
        end_ghost(browser)
        # An administrator disables the member (ending everything they hold).
        admin_post(admin, f"/admin/staff/{member.id}/disable")

    assert late == []
    actions = {action for action, _ in audit_actions(app)}
    assert {"staff.sign_in_failed", "impersonation.denied", "impersonation.started"} <= actions
    assert {"impersonation.ended", "staff.disabled"} <= actions
