"""The TOTP service (DESIGN I6) and the box that keeps TOTP secrets encrypted at rest (DESIGN I12)."""

from __future__ import annotations

import base64
import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet

from impersonator import create_app
from impersonator.extensions import db
from impersonator.models import Staff
from impersonator.services import secret_box
from impersonator.services.audit import Actor
from impersonator.services.staff import totp
from impersonator.services.staff.accounts import create_staff
from tests.conftest import config_for, migrate_to_head

STEP = timedelta(seconds=totp.STEP_SECONDS)
FULL_WIDTH = str.maketrans("0123456789", "".join(chr(0xFF10 + d) for d in range(10)))
ARABIC_INDIC = str.maketrans("0123456789", "".join(chr(0x0660 + d) for d in range(10)))
RACERS = 8


def attempt(app, staff, code: str | None, now: datetime) -> str:
    """Consume `code` in a transaction of its own: "accepted", or the reason it was refused."""
    with app.app_context():
        try:
            totp.consume(staff.id, staff.secret, code, now)
        except totp.TotpRejected as rejected:
            db.session.rollback()
            return rejected.reason
        db.session.commit()
        return "accepted"


def last_step(app, staff_id: int) -> int | None:
    with app.app_context():
        return db.session.get(Staff, staff_id).totp_last_step


@pytest.fixture
def staff(make_staff):
    return make_staff("impersonator")


def test_current_step_is_accepted(app, staff, clock):
    now = clock.now()
    assert attempt(app, staff, staff.code(now), now) == "accepted"
    assert last_step(app, staff.id) == totp.step_at(now)


def test_same_code_again_is_replayed(app, staff, clock):
    now = clock.now()
    code = staff.code(now)
    assert attempt(app, staff, code, now) == "accepted"
    assert attempt(app, staff, code, now) == "totp_replayed"


def test_replay_is_refused_later_in_the_same_step(app, staff, clock):
    code = staff.code(clock.now())
    assert attempt(app, staff, code, clock.now()) == "accepted"
    clock.advance(seconds=20)
    assert attempt(app, staff, code, clock.now()) == "totp_replayed"


def test_previous_step_is_accepted_once(app, staff, clock):
    now = clock.now()
    previous = staff.code(now - STEP)
    assert attempt(app, staff, previous, now) == "accepted"
    assert attempt(app, staff, previous, now) == "totp_replayed"
    assert attempt(app, staff, staff.code(now), now) == "accepted"


def test_previous_step_is_refused_once_the_current_step_was_used(app, staff, clock):
    """Steps only move forward: an older step never follows a newer one."""
    now = clock.now()
    assert attempt(app, staff, staff.code(now), now) == "accepted"
    assert attempt(app, staff, staff.code(now - STEP), now) == "totp_replayed"


@pytest.mark.parametrize("offset", [-2 * STEP, STEP], ids=["two_steps_ago", "next_step"])
def test_steps_outside_current_and_previous_are_wrong(app, staff, clock, offset):
    now = clock.now()
    assert attempt(app, staff, staff.code(now + offset), now) == "totp_wrong"
    assert last_step(app, staff.id) is None


def test_each_staff_member_has_steps_of_their_own(app, make_staff, clock):
    first, second = make_staff("impersonator"), make_staff("support")
    now = clock.now()
    assert attempt(app, first, first.code(now), now) == "accepted"
    assert attempt(app, second, second.code(now), now) == "accepted"


@pytest.mark.parametrize(
    "shape",
    [
        lambda code: code.translate(FULL_WIDTH),
        lambda code: code.translate(ARABIC_INDIC),
        lambda code: f"\u200b{code}\u200b",
        lambda code: f"\u00a0{code}\u00a0",
        lambda code: f"{code}\u3000",
        lambda code: f"«{code}»",
        lambda code: code[:5],
        lambda code: code + "0",
        lambda code: "abcdef",
        lambda code: f"{code[:3]}-{code[3:]}",
        lambda code: "",
        lambda code: None,
        lambda code: (code * 167)[:1000],
    ],
    ids=[
        "full_width_digits",
        "arabic_indic_digits",
        "zero_width_space_around",
        "no_break_space_around",
        "ideographic_space_after",
        "guillemets_around",
        "five_digits",
        "seven_digits",
        "letters",
        "dash_inside",
        "empty",
        "none",
        "thousand_characters",
    ],
)
def test_anything_but_six_ascii_digits_is_malformed(app, staff, clock, shape):
    """The right digits in the wrong shape are refused, and do not spend the step."""
    now = clock.now()
    code = staff.code(now)
    assert attempt(app, staff, shape(code), now) == "totp_malformed"
    assert attempt(app, staff, code, now) == "accepted"


@pytest.mark.parametrize("padding", [" {} ", "\t{}\n", "{}\r\n"], ids=["spaces", "tab_newline", "crlf"])
def test_surrounding_ascii_whitespace_is_tolerated(app, staff, clock, padding):
    now = clock.now()
    assert attempt(app, staff, padding.format(staff.code(now)), now) == "accepted"


# --- I6 under concurrency: one step, many requests, one success (PostgreSQL) ---


@pytest.fixture(scope="module")
def race_url(postgres_server) -> str:
    url = postgres_server.create_database("impersonator_totp_race")
    migrate_to_head(url)
    return url


@pytest.fixture
def race_app(race_url):
    app = create_app(config_for(race_url))
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def enrolled_staff(app, email: str, now: datetime) -> tuple[int, str]:
    with app.app_context():
        staff, _ = create_staff(
            email=email, name="Racing Person", role="impersonator", actor=Actor.system("test"), now=now
        )
        secret = totp.new_secret()
        staff.totp_secret_encrypted = secret_box.encrypt(secret)
        staff.totp_enrolled_at = now
        db.session.commit()
        return staff.id, secret


def consume_at_the_barrier(app, staff_id: int, secret: str, code: str, now: datetime, barrier) -> str:
    """Hold a connection, wait for every racer, then consume and commit."""
    with app.app_context():
        db.session.connection()
        barrier.wait(timeout=60)
        try:
            totp.consume(staff_id, secret, code, now)
        except totp.TotpRejected as rejected:
            db.session.rollback()
            return rejected.reason
        db.session.commit()
        return "accepted"


def consume_in_child(
    url: str, staff_id: int, secret: str, code: str, now: datetime, barrier, results
) -> None:
    """A spawned process: an app of its own, one consume, its outcome on the queue."""
    try:
        app = create_app(config_for(url))
        results.put(consume_at_the_barrier(app, staff_id, secret, code, now, barrier))
    except Exception as problem:  # reported to the parent, which fails the test
        results.put(f"error: {problem!r}")


def race_in_threads(app, staff_id, secret, code, now) -> list[str]:
    barrier = threading.Barrier(RACERS)
    with ThreadPoolExecutor(RACERS) as pool:
        futures = [
            pool.submit(consume_at_the_barrier, app, staff_id, secret, code, now, barrier)
            for _ in range(RACERS)
        ]
        return [future.result() for future in futures]


def race_in_processes(app, staff_id, secret, code, now) -> list[str]:
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(RACERS), context.Queue()
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    children = [
        context.Process(target=consume_in_child, args=(url, staff_id, secret, code, now, barrier, results))
        for _ in range(RACERS)
    ]
    for child in children:
        child.start()
    try:
        return [results.get(timeout=120) for _ in children]
    finally:
        for child in children:
            child.join(timeout=10)
            if child.is_alive():
                child.terminate()
                child.join()


@pytest.mark.postgres
@pytest.mark.parametrize("race", [race_in_threads, race_in_processes], ids=["threads", "processes"])
def test_i6_same_code_in_parallel_gives_one_success(race_app, race):
    """Eight requests with the same fresh code at the same moment: the conditional UPDATE lets one in."""
    now = datetime.now(UTC)
    staff_id, secret = enrolled_staff(race_app, f"racer-{race.__name__}@staff.example", now)
    outcomes = race(race_app, staff_id, secret, totp.code_at(secret, now), now)
    assert sorted(outcomes) == ["accepted"] + ["totp_replayed"] * (RACERS - 1)
    with race_app.app_context():
        assert db.session.get(Staff, staff_id).totp_last_step == totp.step_at(now)


# --- secret_box: TOTP secrets encrypted at rest (DESIGN I12) ---


def box_app(**overrides):
    """An app for the box alone: it reads keys from the config and never touches the database."""
    return create_app(config_for("sqlite://", **overrides))


def test_secret_box_round_trip():
    secret = totp.new_secret()
    with box_app().app_context():
        assert secret_box.decrypt(secret_box.encrypt(secret)) == secret


def test_secret_box_ciphertext_does_not_contain_the_secret():
    secret = totp.new_secret()
    with box_app().app_context():
        token = secret_box.encrypt(secret)
    assert secret not in token
    assert secret.encode() not in base64.urlsafe_b64decode(token)


def test_secret_box_token_from_another_secret_key_is_unreadable():
    with box_app(SECRET_KEY="one secret key").app_context():
        token = secret_box.encrypt(totp.new_secret())
    with box_app(SECRET_KEY="another secret key").app_context(), pytest.raises(secret_box.SecretUnreadable):
        secret_box.decrypt(token)


def test_secret_box_rotation_keeps_old_tokens_readable():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    secret = totp.new_secret()
    with box_app(TOTP_ENCRYPTION_KEYS=[old]).app_context():
        old_token = secret_box.encrypt(secret)
    with box_app(TOTP_ENCRYPTION_KEYS=[new, old]).app_context():
        assert secret_box.decrypt(old_token) == secret
        new_token = secret_box.encrypt(secret)
    with box_app(TOTP_ENCRYPTION_KEYS=[new]).app_context():
        assert secret_box.decrypt(new_token) == secret
        with pytest.raises(secret_box.SecretUnreadable):
            secret_box.decrypt(old_token)
