"""The fuzz tests' settings and world (issue 19).

Two Hypothesis profiles: `bounded` (the default, part of `make test`: a few examples per target,
derandomized so CI is repeatable) and `long` (`make fuzz`: 10⁶ inputs in all, random). Pick with
IMPERSONATOR_FUZZ_PROFILE; IMPERSONATOR_FUZZ_EXAMPLES overrides the total (a short sample of the long
run). At the end, inputs per target and throughput are printed, and saved as JSON to the file named
by IMPERSONATOR_FUZZ_STATS when it is set (`make fuzz` runs one process per database and adds them
up with tests/fuzz/report.py)."""

from __future__ import annotations

import os
import signal
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

from tests.fuzz import report
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


def _stop(_signal, _frame):
    raise KeyboardInterrupt("stopped")


if PROFILE == "long":
    # `make fuzz` starts this process in the background, where the shell has it ignore SIGINT, and
    # passes Ctrl-C on as SIGTERM: stopping like Ctrl-C keeps the tally so far (the summary below).
    signal.signal(signal.SIGTERM, _stop)


@pytest.fixture
def world(request, app, make_staff, clock, tenants) -> World:
    alice = user_id(app, "alice@acme.example")
    opt_in(app, alice, clock.now() + minutes(8 * 60))
    return World(app, make_staff, clock, tenants, alice, progress=_progress_to(request.config))


def _progress_to(config: pytest.Config):
    """Each minute of a target: the tally saved (when a file is named) and a line in the output,
    written past pytest's capture so a long run's log shows its pace as it goes."""
    saved = os.environ.get("IMPERSONATOR_FUZZ_STATS")
    capture = config.pluginmanager.getplugin("capturemanager")
    terminal = config.pluginmanager.getplugin("terminalreporter")

    def progress(target: str, inputs: int, seconds: float) -> None:
        if saved:
            report.save(STATS, Path(saved))
        if terminal is None:
            return
        so_far = sum(count for (name, _), count in STATS.inputs.items() if name == target)
        # No clock time: the tests' clock is frozen or travelling.
        line = f"fuzz {target}: {so_far:,} inputs so far, {inputs / seconds:.0f}/s in the last minute"
        with capture.global_and_fixture_disabled():
            terminal.write_line(line)

    return progress


def pytest_terminal_summary(terminalreporter):
    if not STATS.inputs:
        return
    terminalreporter.section(f"fuzz: inputs per target ({PROFILE} profile)")
    for line in report.table(STATS):
        terminalreporter.write_line(line)
    if saved := os.environ.get("IMPERSONATOR_FUZZ_STATS"):
        report.save(STATS, Path(saved))
