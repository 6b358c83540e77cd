"""I2 under contention: many processes redeem the same token at the same moment; one wins.

Each racer is a process of its own (multiprocessing "spawn") with its own app, connection pool and
test client, as gunicorn workers would be. They build everything first, then wait at a barrier for
the token, then at a second barrier to fire together.
"""

from __future__ import annotations

import multiprocessing
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from impersonator import create_app
from impersonator.extensions import db
from impersonator.models import AuditEvent, Impersonation, Staff, Tenant, TenantDomain, User
from impersonator.services import secret_box
from impersonator.services.audit import Actor
from impersonator.services.impersonation import handoff, lifecycle
from impersonator.services.passwords import hash_password
from impersonator.services.staff import totp
from impersonator.services.staff.accounts import create_staff
from tests.conftest import config_for, migrate_to_head

ACME = "http://acme.localhost"
WAIT = 120  # seconds a racer waits for the others before giving up (a broken race, never a pass)


def seed(url: str) -> None:
    """Acme, an opted-in Alice and an enrolled support agent (real time: the racers run without
    the test clock)."""
    app = create_app(config_for(url))
    now = datetime.now(UTC)
    with app.app_context():
        tenant = Tenant(slug="acme", name="Acme", created_at=now)
        tenant.domains.append(TenantDomain(domain="acme.localhost"))
        db.session.add(
            User(
                tenant=tenant,
                email="alice@acme.example",
                name="Alice",
                password_hash=hash_password("customer password"),
                created_at=now,
                support_access_opt_in_until=now + timedelta(hours=8),
            )
        )
        staff, _ = create_staff(
            email="racer@staff.example", name="Racer", role="support", actor=Actor.system("test"), now=now
        )
        staff.totp_secret_encrypted, staff.totp_enrolled_at = secret_box.encrypt(totp.new_secret()), now
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def issue_token(url: str) -> str:
    """One token for Alice, asked for by the support agent through the impersonation service."""
    app = create_app(config_for(url))
    now = datetime.now(UTC)
    with app.app_context():
        staff = db.session.scalar(select(Staff))
        alice = db.session.scalar(select(User))
        code = totp.code_at(secret_box.decrypt(staff.totp_secret_encrypted), now)
        ask = lifecycle.Request(
            alice.id,
            "Racing the redemption of one token",
            None,
            60,
            "read_only",
            code,
            None,
            "customer_request",
        )
        issued = lifecycle.request(staff, ask, ip=None, user_agent=None, now=now)
        token = handoff.hand_over(staff.id, alice.id, issued.impersonation_id, now=now).token
        db.session.remove()
        db.engine.dispose()
    return token


def redeem_in_child(url: str, ready, go, tokens, results) -> None:
    """A spawned racer: build an app and warm it up, get the token, fire at the barrier."""
    try:
        app = create_app(config_for(url))
        client = app.test_client()
        warm_up = client.get("/sign-in", base_url=ACME)  # a connection and the templates, ready
        assert warm_up.status_code == 200, warm_up.status_code
        ready.wait(timeout=WAIT)
        token = tokens.get(timeout=WAIT)
        go.wait(timeout=WAIT)
        response = client.post("/impersonation/redeem", base_url=ACME, data={"token": token})
        results.put((response.status_code, "already used" in response.text))
    except Exception as problem:  # reported to the parent, which fails the test at once
        ready.abort()
        go.abort()
        results.put((f"error: {problem!r}", False))


def race(url: str, racers: int) -> list[tuple[int | str, bool]]:
    context = multiprocessing.get_context("spawn")
    ready, go = context.Barrier(racers + 1), context.Barrier(racers)
    tokens, results = context.Queue(), context.Queue()
    children = [
        context.Process(target=redeem_in_child, args=(url, ready, go, tokens, results)) for _ in range(racers)
    ]
    for child in children:
        child.start()
    try:
        try:
            ready.wait(timeout=WAIT)
        except threading.BrokenBarrierError:
            return [results.get(timeout=WAIT) for _ in children]
        token = issue_token(url)
        for _ in children:
            tokens.put(token)
        return [results.get(timeout=WAIT) for _ in children]
    finally:
        for child in children:
            child.join(timeout=10)
            if child.is_alive():
                child.terminate()
                child.join()


def counts(url: str) -> dict[str, int]:
    app = create_app(config_for(url))
    with app.app_context():
        try:
            events = dict(
                db.session.execute(select(AuditEvent.action, func.count()).group_by(AuditEvent.action)).all()
            )
            redeemed = db.session.scalar(
                select(func.count()).select_from(Impersonation).where(Impersonation.redeemed_at.is_not(None))
            )
            return {**events, "redeemed": redeemed}
        finally:
            db.session.remove()
            db.engine.dispose()


def assert_one_winner(url: str, racers: int) -> None:
    answers = race(url, racers)

    statuses = sorted(status for status, _ in answers)
    assert statuses == [303] + [410] * (racers - 1), answers
    assert all(said_used for status, said_used in answers if status == 410)
    found = counts(url)
    assert found["redeemed"] == 1
    assert found["impersonation.started"] == 1
    assert found["impersonation.redeem_failed"] == racers - 1
    assert found["security.alert"] == racers - 1


@pytest.mark.postgres
def test_i2_token_redeems_once_under_concurrency(postgres_server):
    url = postgres_server.create_database("impersonator_redeem_race")
    migrate_to_head(url)
    seed(url)

    assert_one_winner(url, racers=16)


def test_i2_token_redeems_once_under_concurrency_on_sqlite(tmp_path):
    """SQLite in WAL mode with a busy timeout: the losers wait for the lock and get a clean 410."""
    url = f"sqlite:///{tmp_path / 'race.sqlite3'}"
    migrate_to_head(url)
    seed(url)

    assert_one_winner(url, racers=8)
