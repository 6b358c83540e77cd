"""`make fuzz` adds up the tallies of its two processes (one per database) into one table."""

from __future__ import annotations

from tests.fuzz import report
from tests.fuzz.world import Stats


def tally(database: str, forms: int, seconds: float) -> Stats:
    stats = Stats()
    stats.inputs[("forms", database)] += forms
    stats.seconds[("forms", database)] += seconds
    stats.inputs[("redeem", database)] += 10
    stats.seconds[("redeem", database)] += 1.0
    stats.remade["agent"] += 2
    return stats


def test_the_tallies_of_both_processes_add_up_with_the_wall_clock_rate(tmp_path):
    report.save(tally("sqlite", 300, 2.0), tmp_path / "sqlite.json")
    report.save(tally("postgresql", 100, 4.0), tmp_path / "postgresql.json")

    merged = report.load([tmp_path / "sqlite.json", tmp_path / "postgresql.json"])
    lines = report.table(merged, wall_seconds=5.0)

    assert merged.inputs[("forms", "sqlite")] == 300 and merged.inputs[("forms", "postgresql")] == 100
    assert merged.remade["agent"] == 4
    assert lines[-2].split()[:2] == ["all", "420"]  # 300 + 100 + 10 + 10 inputs over 8 s of processes
    assert lines[-2].split()[-1] == "52/s"
    assert lines[-1].startswith("wall clock") and "84/s" in lines[-1]  # 420 inputs in 5 s of wall time
    assert "postgresql 110, sqlite 310" in lines[-1]
