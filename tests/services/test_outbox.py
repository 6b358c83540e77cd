"""I10: the outbox delivers at least once: backoff that doubles, is capped and jittered; a message
that keeps failing gives up after OUTBOX_GIVE_UP_HOURS and waits for an admin's retry; one worker
wins each claim; a sender that blows up loses nothing."""

from __future__ import annotations

import itertools
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from impersonator.extensions import db
from impersonator.models import OutboxMessage
from impersonator.services.delivery import outbox
from impersonator.services.delivery.outbox import DeliveryFailed

BASE, CAP, GIVE_UP_HOURS = 30, 3600, 24


def queue(app, now, *, event_type: str = "security.alert") -> int:
    with app.app_context():
        message = outbox.enqueue(
            "slack", event_type=event_type, destination="slack", payload='{"text":"hi"}', now=now
        )
        db.session.commit()
        return message.id


def row(app, message_pk: int) -> OutboxMessage:
    with app.app_context():
        message = db.session.get(OutboxMessage, message_pk)
        db.session.expunge(message)
        return message


class Receiver:
    """A sender that records what it was asked to send and answers as told."""

    def __init__(self, *answers) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[str, object]] = []

    def __call__(self, message: OutboxMessage, now) -> None:
        self.sent.append((message.message_id, now))
        answer = self.answers.pop(0) if self.answers else "ok"
        if isinstance(answer, BaseException):
            raise answer
        if answer != "ok":
            raise DeliveryFailed(answer)


def work(app, now, send, **kwargs) -> outbox.WorkDone:
    with app.app_context():
        return outbox.work_once(now, send, **kwargs)


# --- backoff -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempts", "ceiling"),
    [
        (1, 30),
        (2, 60),
        (3, 120),
        (4, 240),
        (5, 480),
        (7, 1920),
        (8, 3600),
        (9, 3600),
        (40, 3600),
        (500, 3600),
    ],
)
def test_i10_backoff_doubles_from_the_base_and_is_capped(app, attempts, ceiling):
    with app.app_context():
        shortest = outbox.backoff(attempts, rng=lambda: 0.0)
        longest = outbox.backoff(attempts, rng=lambda: 0.999999)

    assert shortest == timedelta(seconds=ceiling / 2)
    assert timedelta(seconds=ceiling * 0.999) < longest <= timedelta(seconds=ceiling)


def test_i10_backoff_jitter_stays_between_half_and_all_of_the_wait(app):
    with app.app_context():
        waits = {outbox.backoff(4).total_seconds() for _ in range(200)}

    assert all(120 <= wait <= 240 for wait in waits)
    assert len(waits) > 100  # jitter: workers coming back do not all retry at the same instant


def test_i10_the_configured_base_and_cap_are_used(make_app):
    app = make_app(OUTBOX_RETRY_BASE_SECONDS=5, OUTBOX_RETRY_MAX_SECONDS=17)
    with app.app_context():
        assert outbox.backoff(1, rng=lambda: 0.0) == timedelta(seconds=2.5)
        assert outbox.backoff(3, rng=lambda: 0.0) == timedelta(seconds=8.5)  # 20, capped at 17


# --- one attempt ---------------------------------------------------------------------------------


def test_i10_a_delivered_message_is_sent_once_and_marked_delivered(app, clock):
    pk = queue(app, clock.now())
    receiver = Receiver("ok")

    done = work(app, clock.now(), receiver)
    again = work(app, clock.now(), receiver)

    assert (done.delivered, done.retried, done.failed) == (1, 0, 0)
    assert again.total == 0
    message = row(app, pk)
    assert (message.status, message.attempts, message.delivered_at) == ("delivered", 1, clock.now())
    assert [message_id for message_id, _ in receiver.sent] == [message.message_id]


def test_i10_a_failed_attempt_is_retried_after_the_backoff_with_the_same_id(app, clock):
    pk = queue(app, clock.now())
    receiver = Receiver("the endpoint answered 500", "ok")

    assert work(app, clock.now(), receiver).retried == 1
    message = row(app, pk)
    wait = message.next_attempt_at - clock.now()
    assert timedelta(seconds=BASE / 2) <= wait <= timedelta(seconds=BASE)
    assert (message.status, message.last_error) == ("pending", "the endpoint answered 500")
    assert work(app, clock.now() + wait - timedelta(seconds=1), receiver).total == 0  # not due yet

    clock.advance(seconds=BASE)
    assert work(app, clock.now(), receiver).delivered == 1

    first, second = receiver.sent
    assert first[0] == second[0] == message.message_id
    delivered = row(app, pk)
    assert (delivered.status, delivered.attempts, delivered.last_error) == ("delivered", 2, None)


def test_i10_a_sender_raising_an_unexpected_exception_loses_nothing(app, clock):
    pk = queue(app, clock.now())
    receiver = Receiver(RuntimeError("a bug in the sender"), "ok")

    done = work(app, clock.now(), receiver)

    assert done.retried == 1
    message = row(app, pk)
    assert message.status == "pending"
    assert message.last_error == "unexpected RuntimeError while sending"
    assert "a bug" not in message.last_error  # exception text may carry anything: it stays in the log
    clock.advance(seconds=BASE)
    assert work(app, clock.now(), receiver).delivered == 1
    assert row(app, pk).status == "delivered"


def test_i10_a_sender_that_breaks_the_database_session_loses_nothing(app, clock):
    pk = queue(app, clock.now())

    def broken(message, now):
        db.session.execute(text("SELECT * FROM no_such_table"))

    done = work(app, clock.now(), broken)

    assert done.retried == 1
    message = row(app, pk)
    assert (message.status, message.attempts) == ("pending", 1)
    assert message.last_error.startswith("unexpected ")


def test_the_worker_holds_no_transaction_while_it_waits_on_a_receiver(app, clock):
    """DESIGN §8: nothing holds a transaction while it waits. On SQLite every transaction is BEGIN
    IMMEDIATE, so a transaction open during a slow send would hold the write lock for every page."""
    queue(app, clock.now())
    queue(app, clock.now(), event_type="impersonation.started")
    open_during_send = []

    def slow_receiver(message, now):
        open_during_send.append(db.session().in_transaction())
        if db.engine.dialect.name == "sqlite":  # another process can take the write lock meanwhile
            with db.engine.connect() as other:
                other.exec_driver_sql("PRAGMA busy_timeout = 0")
                other.exec_driver_sql("UPDATE outbox_message SET last_error = NULL WHERE 0")
                other.commit()

    assert work(app, clock.now(), slow_receiver).delivered == 2
    assert open_during_send == [False, False]


def test_an_idle_pass_ends_its_transaction(app, clock):
    """The worker's poll finds nothing and sleeps: it must not sleep inside a transaction (issue 10)."""
    with app.app_context():
        assert outbox.work_once(clock.now(), Receiver()).total == 0
        assert not db.session().in_transaction()


def test_i10_a_worker_that_dies_mid_attempt_leaves_the_message_to_be_claimed_again(app, clock):
    pk = queue(app, clock.now())
    with app.app_context():
        assert outbox.claim(pk, clock.now())  # …and the process dies before attempt()
        lease = app.config["DELIVERY_TIMEOUT_SECONDS"] * 3
        assert not outbox.claim(pk, clock.now() + timedelta(seconds=lease - 1))

    clock.advance(seconds=lease)
    receiver = Receiver("ok")
    assert work(app, clock.now(), receiver).delivered == 1
    assert row(app, pk).attempts == 2


# --- giving up, and the admin's retry ------------------------------------------------------------


def fail_until_given_up(app, clock, pk: int) -> list:
    """Keep the receiver failing, running the worker whenever the message is due."""
    attempts_at = []
    receiver = Receiver(*["the endpoint answered 503"] * 200)
    for _ in range(200):
        message = row(app, pk)
        if message.status != "pending":
            break
        clock.traveller.move_to(max(clock.now(), message.next_attempt_at))
        work(app, clock.now(), receiver)
        attempts_at.append(clock.now())
    return attempts_at


def test_i10_a_message_that_keeps_failing_gives_up_after_give_up_hours(app, clock):
    written = clock.now()
    pk = queue(app, written)

    attempts_at = fail_until_given_up(app, clock, pk)

    message = row(app, pk)
    deadline = written + timedelta(hours=GIVE_UP_HOURS)
    assert message.status == "failed"
    assert message.failed_at == attempts_at[-1] == deadline  # the last attempt falls on the deadline
    assert attempts_at[-2] < deadline
    assert message.last_error == "the endpoint answered 503"
    assert message.attempts == len(attempts_at)
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts_at)]
    assert max(gaps) <= timedelta(seconds=CAP)
    assert 20 <= len(attempts_at) <= 60  # backing off: neither hammering nor giving up early
    with app.app_context():
        assert [m.id for m in outbox.failed()] == [pk]
        assert outbox.counts() == {"pending": 0, "delivered": 0, "failed": 1}


def test_i10_the_give_up_time_follows_the_configuration(make_app, clock):
    app = make_app(OUTBOX_GIVE_UP_HOURS=1)
    written = clock.now()
    pk = queue(app, written)

    fail_until_given_up(app, clock, pk)

    assert row(app, pk).failed_at == written + timedelta(hours=1)


def test_i10_retry_gives_a_failed_message_one_more_attempt_now(app, clock):
    pk = queue(app, clock.now())
    fail_until_given_up(app, clock, pk)
    attempts = row(app, pk).attempts

    with app.app_context():
        outbox.retry(pk, now=clock.now())
        db.session.commit()
    message = row(app, pk)
    assert (message.status, message.failed_at, message.next_attempt_at) == ("pending", None, clock.now())

    assert work(app, clock.now(), Receiver("ok")).delivered == 1
    delivered = row(app, pk)
    assert (delivered.status, delivered.attempts) == ("delivered", attempts + 1)


def test_i10_a_retry_that_fails_again_is_failed_again_at_once(app, clock):
    pk = queue(app, clock.now())
    fail_until_given_up(app, clock, pk)
    clock.advance(hours=2)
    with app.app_context():
        outbox.retry(pk, now=clock.now())
        db.session.commit()

    done = work(app, clock.now(), Receiver("the endpoint answered 502"))

    assert done.failed == 1
    message = row(app, pk)
    assert (message.status, message.failed_at, message.last_error) == (
        "failed",
        clock.now(),
        "the endpoint answered 502",
    )


def test_i10_only_a_failed_message_can_be_retried(app, clock):
    pk = queue(app, clock.now())
    with app.app_context():
        with pytest.raises(outbox.InvalidInput) as refused:
            outbox.retry(pk, now=clock.now())
        assert refused.value.reason == "outbox_message_not_failed"
        with pytest.raises(outbox.OutboxMessageNotFound) as missing:
            outbox.retry(pk + 1000, now=clock.now())
        assert missing.value.status == 404


# --- claims --------------------------------------------------------------------------------------


def test_i10_a_claim_is_won_once(app, clock):
    pk = queue(app, clock.now())
    with app.app_context():
        assert outbox.claim(pk, clock.now()) is True
        assert outbox.claim(pk, clock.now()) is False
    assert row(app, pk).attempts == 1


def test_i10_concurrent_claims_have_a_single_winner(app, clock):
    pk = queue(app, clock.now())
    now = clock.now()
    start = threading.Barrier(6)
    wins, errors = [], []

    def contend() -> None:
        try:
            with app.app_context():
                start.wait()
                wins.append(outbox.claim(pk, now))
                db.session.remove()
        except Exception as problem:  # a lock timeout must show up, not hide a second winner
            errors.append(problem)

    threads = [threading.Thread(target=contend) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert sorted(wins) == [False] * 5 + [True]
    assert row(app, pk).attempts == 1


def test_i10_each_attempt_of_a_long_pass_is_stamped_with_its_own_time(app, clock):
    first, second = queue(app, clock.now()), queue(app, clock.now())
    start = clock.now()
    ticks = iter([start + timedelta(seconds=1), start + timedelta(seconds=40)])
    receiver = Receiver("ok", "ok")

    done = work(app, start, receiver, clock=lambda: next(ticks))

    assert done.delivered == 2
    assert [moment for _, moment in receiver.sent] == [
        start + timedelta(seconds=1),
        start + timedelta(seconds=40),
    ]
    assert row(app, second).delivered_at - row(app, first).delivered_at == timedelta(seconds=39)


def test_i10_due_messages_go_oldest_first_and_future_ones_wait(app, clock):
    later = queue(app, clock.now() + timedelta(minutes=5))
    older = queue(app, clock.now() - timedelta(minutes=5))
    receiver = Receiver()

    work(app, clock.now(), receiver)

    with app.app_context():
        sent = [
            db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.message_id == mid))
            for mid, _ in receiver.sent
        ]
    assert sent == [older]
    assert row(app, later).status == "pending"
