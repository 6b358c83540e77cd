"""Limits that count distinct sources, and the keys of a staff account from one address (DESIGN I6,
issue 11 item 10)."""

from __future__ import annotations

from datetime import timedelta

from impersonator.extensions import db
from impersonator.services import throttle

SPREAD = throttle.Limit(
    threshold=4, window=timedelta(minutes=15), lock_for=timedelta(minutes=10), min_sources=2
)
KEY = throttle.email_key("agent@staff.example")


def fail(app, clock, source: str, times: int = 1):
    """Record `times` failures from `source`, each in a transaction of its own; the last answer."""
    with app.app_context():
        for _ in range(times):
            until = throttle.record_failure(KEY, SPREAD, clock.now(), source=throttle.source_of(source))
            db.session.commit()
        return until


def test_enough_failures_from_one_source_do_not_lock(app, clock):
    assert fail(app, clock, "198.51.100.1", SPREAD.threshold * 3) is None
    with app.app_context():
        assert throttle.locked_until(KEY, clock.now()) is None


def test_enough_failures_from_enough_sources_lock(app, clock):
    fail(app, clock, "198.51.100.1", SPREAD.threshold - 1)
    assert fail(app, clock, "198.51.100.2") == clock.now() + SPREAD.lock_for


def test_sources_outside_the_window_do_not_count(app, clock):
    fail(app, clock, "198.51.100.2")
    clock.advance(seconds=SPREAD.window.total_seconds() + 1)
    assert fail(app, clock, "198.51.100.1", SPREAD.threshold) is None


def test_forget_source_drops_only_that_sources_failures(app, clock):
    fail(app, clock, "198.51.100.1", 2)
    fail(app, clock, "198.51.100.2", 1)
    with app.app_context():
        throttle.forget_source(KEY, throttle.source_of("198.51.100.1"))
        db.session.commit()
    assert fail(app, clock, "198.51.100.1") is None  # 2 counted, not 4
    assert fail(app, clock, "198.51.100.2") is None
    assert fail(app, clock, "198.51.100.2") == clock.now() + SPREAD.lock_for


def test_pair_keys_and_sources_name_neither_the_email_nor_the_address(app):
    with app.app_context():
        pair = throttle.pair_key("agent@staff.example", "198.51.100.1")
        source = throttle.source_of("198.51.100.1")
        assert "agent" not in pair and "198.51" not in pair and "198.51" not in source
        assert len(pair) <= 100 and len(source) == 64  # the columns' sizes
        assert pair != throttle.pair_key("agent@staff.example", "198.51.100.2")
        assert pair != throttle.pair_key("other@staff.example", "198.51.100.1")
        assert throttle.pair_key("agent@staff.example", None) == throttle.pair_key(
            "agent@staff.example", None
        )
