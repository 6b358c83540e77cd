"""Failure counters behind lockouts and rate limits (DESIGN I6)."""

from __future__ import annotations

from datetime import timedelta

from impersonator.extensions import db
from impersonator.services import throttle

LIMIT = throttle.Limit(threshold=3, window=timedelta(minutes=15), lock_for=timedelta(minutes=10))
KEY = throttle.email_key("agent@staff.example")


def fail(app, clock, times: int = 1, key: str = KEY):
    """Record `times` failures, each in a transaction of its own; returns what the last one said."""
    with app.app_context():
        for _ in range(times):
            until = throttle.record_failure(key, LIMIT, clock.now())
            db.session.commit()
        return until


def locked_until(app, clock, key: str = KEY):
    with app.app_context():
        return throttle.locked_until(key, clock.now())


def test_failures_below_the_threshold_do_not_lock(app, clock):
    assert fail(app, clock, LIMIT.threshold - 1) is None
    assert locked_until(app, clock) is None


def test_failure_at_the_threshold_locks_and_returns_the_lock_end(app, clock):
    fail(app, clock, LIMIT.threshold - 1)
    until = fail(app, clock)
    assert until == clock.now() + LIMIT.lock_for
    assert locked_until(app, clock) == until


def test_lock_ends_when_its_time_is_up(app, clock):
    fail(app, clock, LIMIT.threshold)
    clock.advance(seconds=LIMIT.lock_for.total_seconds() - 1)
    assert locked_until(app, clock) is not None
    clock.advance(seconds=1)
    assert locked_until(app, clock) is None


def test_failures_while_locked_do_not_extend_the_lock(app, clock):
    until = fail(app, clock, LIMIT.threshold)
    clock.advance(minutes=1)
    assert fail(app, clock, LIMIT.threshold) is None
    assert locked_until(app, clock) == until


def test_window_expiry_resets_the_count(app, clock):
    fail(app, clock, LIMIT.threshold - 1)
    clock.advance(seconds=LIMIT.window.total_seconds() + 1)
    assert fail(app, clock) is None, "the old failures should have left the window"
    assert fail(app, clock, LIMIT.threshold - 2) is None
    assert fail(app, clock) == clock.now() + LIMIT.lock_for


def test_failures_within_the_window_add_up(app, clock):
    fail(app, clock, LIMIT.threshold - 1)
    clock.advance(seconds=LIMIT.window.total_seconds() - 1)
    assert fail(app, clock) == clock.now() + LIMIT.lock_for


def test_clear_forgets_the_failures(app, clock):
    fail(app, clock, LIMIT.threshold - 1)
    with app.app_context():
        throttle.clear(KEY)
        db.session.commit()
    assert fail(app, clock, LIMIT.threshold - 1) is None


def test_clear_lifts_a_lock(app, clock):
    fail(app, clock, LIMIT.threshold)
    with app.app_context():
        throttle.clear(KEY)
        db.session.commit()
    assert locked_until(app, clock) is None


def test_keys_are_counted_apart(app, clock):
    other = throttle.ip_key("203.0.113.9")
    fail(app, clock, LIMIT.threshold)
    assert locked_until(app, clock, other) is None
    assert fail(app, clock, key=other) is None


def test_email_key_holds_no_address():
    """The counter table must not become a list of the account names people tried."""
    assert "agent@staff.example" not in KEY
