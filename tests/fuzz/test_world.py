"""The fuzzer's world (tests/fuzz/world.py) makes its browsers again whatever fuzzed forms changed
before (a locked account too), reads a form's page again only when its token may no longer be
taken, and tallies a target's inputs as it runs."""

from __future__ import annotations

from types import SimpleNamespace

from sqlalchemy import update

from impersonator.extensions import db
from impersonator.models import Staff
from impersonator.web import CSRF_REFUSAL
from tests.fuzz import world as fuzz_world
from tests.fuzz.world import ALICE, Counter
from tests.support.customer import CUSTOMER_PASSWORD
from tests.support.impersonation import SECOND_PERSON, update_tenant, update_user
from tests.support.web import ACME, sign_in_customer


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


def test_alice_is_made_again_after_fuzzed_sign_ins_locked_her_account(world, app):
    stranger = app.test_client()
    for _ in range(app.config["LOCKOUT_THRESHOLD"]):
        sign_in_customer(stranger, ACME, ALICE, "not her password")
    assert "Too many failed attempts" in sign_in_customer(stranger, ACME, ALICE, CUSTOMER_PASSWORD).text
    alice = world.personas["alice"]
    alice.client = None  # as when a fuzzed sign-out ended her session

    assert alice.ensure() is alice.client
    assert alice.alive()


def test_a_form_keeps_its_token_after_a_refusal_only_while_the_session_still_takes_it(world):
    form = next(f for f in world.forms if f.persona == "alice" and f.action == "/projects")
    client, token = world.fresh_form(form)
    refusal = SimpleNamespace(status_code=400, text=CSRF_REFUSAL)

    world.submitted(form, refusal, sent_token=True)  # the input's own doing: the session is as it was
    assert world._tokens[form] == (client, token)  # no need to read the page again

    client.delete_cookie("impersonator_tenant", domain=ACME.split("//")[1])  # the session is gone
    world.submitted(form, refusal, sent_token=True)
    assert form not in world._tokens
    assert world.fresh_form(form)[1] != token


def test_a_running_target_adds_to_the_tally_and_reports_each_minute(monkeypatch):
    """`make fuzz` saves the tally as a target runs, so a long run can be read (and outlives a crash)."""
    recorded, told = [], []
    world = SimpleNamespace(
        record=lambda target, seconds, count: recorded.append((target, count)),
        progress=lambda target, inputs, seconds: told.append((target, inputs)),
    )
    with Counter(world, "forms") as counter:
        counter.add()
        counter.add()
        monkeypatch.setattr(fuzz_world, "PROGRESS_SECONDS", 0.0)  # a minute has gone by
        counter.add()
        monkeypatch.setattr(fuzz_world, "PROGRESS_SECONDS", 60.0)
        counter.add()

    assert told == [("forms", 3)]
    assert recorded == [("forms", 3), ("forms", 1)]  # every input counted once, the rest at the end
