"""The lock order under contention (services/audit: per-key rows first, the audit chain's head last).

Each test runs two paths that touch the same rows against each other, round after round: two
threads, each with its own app context and connection, released together by a barrier. On
PostgreSQL, paths that took the same two locks in opposite orders deadlock within a few rounds (one
of them aborted: an error here). Afterwards every attempt must be audited and counted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import func, select

from impersonator.extensions import db
from impersonator.models import (
    AccessCode,
    AuditEvent,
    FailedAttempt,
    Impersonation,
    Staff,
    Tenant,
    TenantDomain,
    User,
)
from impersonator.services import secret_box, throttle
from impersonator.services.audit import Actor
from impersonator.services.consent import access_codes
from impersonator.services.impersonation import lifecycle, sweep
from impersonator.services.passwords import hash_password
from impersonator.services.staff import sign_in, totp
from impersonator.services.staff.accounts import create_staff
from tests.conftest import postgresql_only
from tests.support.ghost_rows import ghost_session
from tests.support.races import in_parallel

ROUNDS = 25
STEP = timedelta(seconds=30)  # one TOTP step per round: each round's right code is a fresh one
ADDRESS = "203.0.113.1"  # one office: the right code and the wrong one come from the same address
# Nothing locks during the rounds: every failure is counted, none refused for a lock.
GENEROUS = {
    "LOCKOUT_THRESHOLD": 1000,
    "LOCKOUT_WINDOW_MINUTES": 24 * 60,
    "IP_FAILURE_LIMIT": 1000,
    "ACCOUNT_LOCK_FAILURES": 1000,
    "ACCESS_CODE_MAX_FAILURES": 1000,
    "ACCESS_CODE_LOCK_MINUTES": 24 * 60,
    "ALERT_IMPERSONATIONS_PER_HOUR": 1000,
}


@pytest.fixture
def app(make_app):
    return make_app(**GENEROUS)


@pytest.fixture
def start() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def people(app, start) -> dict[str, int]:
    """Acme's Alice (not opted in: a request needs her code) and two enrolled support agents."""
    with app.app_context():
        tenant = Tenant(slug="acme", name="Acme", created_at=start)
        tenant.domains.append(TenantDomain(domain="acme.localhost"))
        alice = User(
            tenant=tenant,
            email="alice@acme.example",
            name="Alice",
            password_hash=hash_password("customer password"),
            created_at=start,
        )
        db.session.add(alice)
        ids = {}
        for name in ("right", "wrong"):
            staff, _ = create_staff(
                email=f"{name}@staff.example",
                name=name,
                role="support",
                actor=Actor.system("test"),
                now=start,
            )
            staff.totp_secret_encrypted = secret_box.encrypt(totp.new_secret())
            staff.totp_enrolled_at = start
            db.session.flush()
            ids[name] = staff.id
        db.session.commit()
        return {**ids, "alice": alice.id}


def totp_code(staff_id: int, at: datetime, *, right: bool = True) -> str:
    staff = db.session.get(Staff, staff_id)
    code = totp.code_at(secret_box.decrypt(staff.totp_secret_encrypted), at)
    return code if right else next(c for c in ("000000", "111111", "222222") if c != code)


def actions(app) -> dict[str, int]:
    with app.app_context():
        rows = db.session.execute(select(AuditEvent.action, func.count()).group_by(AuditEvent.action)).all()
        return dict(rows)


def failures(app, key: str) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count()).select_from(FailedAttempt).where(FailedAttempt.key == key)
        )


def ask(user_id: int, totp: str, access_code: str | None) -> lifecycle.Request:
    return lifecycle.Request(
        user_id, "Looking at the lock order", None, 15, "read_only", totp, access_code, "customer_request"
    )


# --- the paths (each runs in its own thread and app context) ---------------------------------------


def complete_sign_in(step: str, code: str, ip: str, now: datetime) -> str:
    staff = sign_in.pending_staff(step, now=now)
    sign_in.complete_with_totp(staff, step, code, ip=ip, user_agent=None, now=now)
    return "signed in"


def request_access(staff_id: int, asked: lifecycle.Request, now: datetime) -> str:
    staff = db.session.get(Staff, staff_id)
    lifecycle.request(staff, asked, ip=ADDRESS, user_agent=None, now=now)
    return "issued"


def generate_code(user_id: int, now: datetime) -> str:
    access_codes.generate(db.session.get(User, user_id), now=now)
    db.session.commit()
    return "generated"


# --- the pairs ---------------------------------------------------------------------------------------


@postgresql_only
def test_a_right_and_a_wrong_totp_code_for_one_member_at_once(app, people, start):
    """The sign-in code step: success forgets this address's failures (its lockout rows) and opens a
    session; failure counts on the same rows. Both then append to the chain."""
    member = people["right"]
    for round_ in range(ROUNDS):
        now = start + STEP * round_
        with app.app_context():
            steps = [sign_in.open_step(member, now=now) for _ in range(2)]
            right, wrong = totp_code(member, now), totp_code(member, now, right=False)

        said = in_parallel(
            app,
            partial(complete_sign_in, steps[0], right, ADDRESS, now),
            partial(complete_sign_in, steps[1], wrong, ADDRESS, now),
        )

        assert said == ["signed in", "refused: totp_wrong"], f"round {round_}: {said}"
    found = actions(app)
    assert found["staff.signed_in"] == ROUNDS
    assert found["staff.sign_in_failed"] == ROUNDS
    # Counted where a success does not forget: the address's own counter.
    assert failures(app, throttle.ip_key(ADDRESS)) == ROUNDS


@postgresql_only
def test_a_wrong_access_code_while_the_customer_makes_a_new_one(app, people, start):
    """A denial counts on the code's failure row (and may revoke codes); generating revokes and adds
    code rows. Both append to the chain."""
    agent, alice = people["wrong"], people["alice"]
    for round_ in range(ROUNDS):
        now = start + STEP * round_
        with app.app_context():
            code = totp_code(agent, now)

        said = in_parallel(
            app,
            partial(request_access, agent, ask(alice, code, "ZZZZ-ZZZZ"), now),
            partial(generate_code, alice, now),
        )

        assert said == ["refused: access_code_wrong", "generated"], f"round {round_}: {said}"
    assert actions(app)["impersonation.denied"] == ROUNDS
    assert failures(app, access_codes.failure_key(alice)) == ROUNDS
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AccessCode)) == ROUNDS


@postgresql_only
def test_a_request_with_the_code_and_one_with_a_wrong_code_at_once(app, people, start):
    """Issuing consumes the code's row; the denial counts on the code's failure row. Two agents, one
    customer, both append to the chain."""
    alice = people["alice"]
    for round_ in range(ROUNDS):
        now = start + STEP * round_
        with app.app_context():
            access_code = access_codes.generate(db.session.get(User, alice), now=now)
            db.session.commit()
            codes = {name: totp_code(people[name], now) for name in ("right", "wrong")}

        said = in_parallel(
            app,
            partial(request_access, people["right"], ask(alice, codes["right"], access_code), now),
            partial(request_access, people["wrong"], ask(alice, codes["wrong"], "ZZZZ-ZZZZ"), now),
        )

        assert said == ["issued", "refused: access_code_wrong"], f"round {round_}: {said}"
    found = actions(app)
    assert found["impersonation.requested"] == ROUNDS
    assert found["impersonation.denied"] == ROUNDS
    assert failures(app, access_codes.failure_key(alice)) == ROUNDS


@postgresql_only
def test_sweepers_on_two_machines_and_the_guard_end_each_session_once(app, people, start):
    """Sessions left open and tokens never used, swept by two workers while the ghost guard ends one
    of the same sessions: every impersonation is ended and audited exactly once."""
    late = start + timedelta(hours=2)
    with app.app_context():
        alice = db.session.get(User, people["alice"])
        left_open = [
            ghost_session(people["right"], alice, start, expires_at=start + timedelta(minutes=15)).id
            for _ in range(60)
        ]
        never_used = [
            ghost_session(people["wrong"], alice, start, redeemed_at=None, expires_at=None).id
            for _ in range(60)
        ]

    said = in_parallel(
        app,
        partial(sweep_now, late),
        partial(sweep_now, late),
        partial(guard_ends, left_open[30], late),
    )

    assert all(not answer.startswith("error") for answer in said), said
    found = actions(app)
    assert found["impersonation.ended"] == len(left_open)
    assert found["impersonation.token_expired"] == len(never_used)
    with app.app_context():
        ended = db.session.scalar(
            select(func.count()).select_from(Impersonation).where(Impersonation.ended_at.is_not(None))
        )
    assert ended == len(left_open) + len(never_used)


def sweep_now(now: datetime) -> str:
    return str(sweep.sweep(now))


def guard_ends(impersonation_id: int, now: datetime) -> str:
    ended = lifecycle.end(
        impersonation_id, reason="expired", actor=Actor.system("ghost-guard"), ip=None, now=now
    )
    return f"guard ended: {ended}"
