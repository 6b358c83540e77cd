"""The fuzz run's table: inputs, seconds and throughput per target and database.

One pytest process prints its own (conftest.py). `make fuzz` runs one process per database side by
side, each saving its tally as JSON (IMPERSONATOR_FUZZ_STATS), and then
`python -m tests.fuzz.report --wall SECONDS FILE…` prints the whole run: every process's rows, and
the inputs per second of wall-clock time that the machine managed with both running."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from tests.fuzz.world import Stats


def save(stats: Stats, path: Path) -> None:
    """Write one process's tally where the combined report reads it."""
    rows = [
        {
            "target": target,
            "database": database,
            "inputs": count,
            "seconds": stats.seconds[(target, database)],
        }
        for (target, database), count in sorted(stats.inputs.items())
    ]
    path.write_text(json.dumps({"rows": rows, "remade": dict(stats.remade)}, indent=1))


def load(paths: list[Path]) -> Stats:
    """The tallies of several processes as one."""
    merged = Stats()
    for path in paths:
        saved = json.loads(path.read_text())
        for row in saved["rows"]:
            key = (row["target"], row["database"])
            merged.inputs[key] += row["inputs"]
            merged.seconds[key] += row["seconds"]
        for persona, count in saved["remade"].items():
            merged.remade[persona] += count
    return merged


def table(stats: Stats, wall_seconds: float | None = None) -> list[str]:
    """The lines of the table; with `wall_seconds`, the rate of the run as a whole too."""
    lines, total_inputs, total_seconds = [], 0, 0.0
    width = max((len(target) for target, _ in stats.inputs), default=0)
    label = width + 11  # the target and database columns
    for (target, database), count in sorted(stats.inputs.items()):
        seconds = stats.seconds[(target, database)]
        total_inputs, total_seconds = total_inputs + count, total_seconds + seconds
        lines.append(_row(f"{target:{width}} {database:10}", count, seconds))
    made = ", ".join(f"{name} {count}" for name, count in sorted(stats.remade.items()))
    lines.append(f"browsers made (first time included): {made}")
    lines.append(_row(f"{'all':{label}}", total_inputs, total_seconds))
    if wall_seconds is not None:
        per_database = Counter()
        for (_, database), count in stats.inputs.items():
            per_database[database] += count
        each = ", ".join(f"{database} {count}" for database, count in sorted(per_database.items()))
        wall = _row(f"{'wall clock':{label}}", total_inputs, wall_seconds)
        lines.append(f"{wall}  ({each}, side by side)")
    return lines


def _row(label: str, count: int, seconds: float) -> str:
    return f"{label} {count:9d} inputs {seconds:8.1f} s {count / max(seconds, 1e-9):8.0f}/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, help="tallies saved by the fuzz processes")
    parser.add_argument("--wall", type=float, help="seconds the whole run took")
    args = parser.parse_args()
    print("\n".join(table(load(args.files), args.wall)))


if __name__ == "__main__":
    main()
