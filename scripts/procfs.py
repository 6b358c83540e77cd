"""What /proc says about processes we started: a gunicorn master's workers and their memory. Shared by
the load test (scripts/loadtest/) and the web benchmark (bench/web_bench.py); standard library only."""

from __future__ import annotations

from pathlib import Path


def children_of(pid: int) -> list[int]:
    """Live child processes of `pid` (gunicorn's workers of its master)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return sorted(found)


def rss_mib(pid: int) -> float | None:
    """Resident memory (VmRSS) of `pid` in MiB, or None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None
