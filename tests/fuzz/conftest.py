"""The fuzz tests' settings and world (issue 19).

Two Hypothesis profiles: `bounded` (the default, part of `make test`: a few examples per target,
derandomized so CI is repeatable) and `long` (`make fuzz`: 10⁶ inputs in all, random). Pick with
IMPERSONATOR_FUZZ_PROFILE; IMPERSONATOR_FUZZ_EXAMPLES overrides the total (a short sample of the long
run). At the end, inputs per target and throughput are printed."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

from tests.fuzz.world import STATS, World
from tests.support.impersonation import minutes, opt_in, user_id

PROFILE = os.environ.get("IMPERSONATOR_FUZZ_PROFILE", "bounded")
# Each target's share of the examples: the forms are the most varied input, so they get the most.
WEIGHTS = {"redeem": 2, "forms": 6, "query": 2, "paths": 2, "headers": 2, "cookies": 1}
TOTAL_WEIGHT = sum(WEIGHTS.values()) + 3 * WEIGHTS["cookies"]  # the cookie test: 2 shapes, 2 faces
BOUNDED = {"redeem": 60, "forms": 150, "query": 50, "paths": 50, "headers": 50, "cookies": 60}
LONG_TOTAL = 1_000_000  # both databases together

# Hypothesis keeps caches of its own: under the system's temp dir, never in the checkout.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "impersonator-hypothesis")

_common = {
    "deadline": None,
    "database": None,  # nothing written under the checkout
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
}
settings.register_profile("bounded", derandomize=True, print_blob=True, **_common)
settings.register_profile("long", derandomize=False, print_blob=True, **_common)


def examples(target: str) -> int:
    """How many inputs this target gets on one database under the chosen profile."""
    total = os.environ.get("IMPERSONATOR_FUZZ_EXAMPLES")
    if PROFILE == "bounded" and total is None:
        return BOUNDED[target]
    share = int(total) if total else LONG_TOTAL
    return max(1, share * WEIGHTS[target] // (2 * TOTAL_WEIGHT))


def fuzz_settings(target: str) -> settings:
    return settings(settings.get_profile(PROFILE), max_examples=examples(target))


@pytest.fixture
def world(app, make_staff, clock, tenants) -> World:
    alice = user_id(app, "alice@acme.example")
    opt_in(app, alice, clock.now() + minutes(8 * 60))
    return World(app, make_staff, clock, tenants, alice)


def pytest_terminal_summary(terminalreporter):
    if not STATS.inputs:
        return
    write = terminalreporter.write_line
    terminalreporter.section(f"fuzz: inputs per target ({PROFILE} profile)")
    total_inputs = total_seconds = 0
    for (target, database), count in sorted(STATS.inputs.items()):
        seconds = STATS.seconds[(target, database)]
        total_inputs, total_seconds = total_inputs + count, total_seconds + seconds
        write(
            f"{target:8} {database:10} {count:9d} inputs {seconds:8.1f} s {count / max(seconds, 1e-9):8.0f}/s"
        )
    write(
        "browsers made (first time included): "
        + ", ".join(f"{k} {v}" for k, v in sorted(STATS.remade.items()))
    )
    rate = total_inputs / max(total_seconds, 1e-9)
    write(f"{'all':19} {total_inputs:9d} inputs {total_seconds:8.1f} s {rate:8.0f}/s")
