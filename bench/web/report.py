"""What a scenario measured, the verdicts' wording, and the tables: printed, and appended to
bench/RESULTS.md as a dated section."""

from __future__ import annotations

import os
import platform
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

from bench.web.bed import SqlCost
from bench.web.settings import CONNECTIONS, WRK_THREADS, WRK_TIMEOUT_SECONDS
from bench.web.wrk import WrkResult


@dataclass
class Measured:
    """One scenario's wrk run, with what the access log and the probes saw."""

    label: str
    result: WrkResult | None  # None: the probe before the run failed and nothing was measured
    expected: int
    statuses: Counter[int] = field(default_factory=Counter)
    probe_failures: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.result.requests_per_second if self.result else 0.0

    @property
    def unexpected(self) -> int:
        """Responses of another status than the scenario's, plus wrk's socket errors."""
        other = sum(n for status, n in self.statuses.items() if status != self.expected)
        return other + (self.result.failed_sockets if self.result else 0)

    def describe_unexpected(self) -> str:
        other = {status: n for status, n in sorted(self.statuses.items()) if status != self.expected}
        parts = [f"{n} x {status or 'unreadable log line'}" for status, n in other.items()]
        if self.result and self.result.failed_sockets:
            errors = ", ".join(f"{n} {kind}" for kind, n in self.result.socket_errors.items() if n)
            parts.append(f"socket errors: {errors}")
        return ", ".join(parts)


def pooled(label: str, runs: list[Measured]) -> Measured:
    """Several runs of one scenario as one: mean req/s, statuses and failures summed."""
    results = [run.result for run in runs if run.result]
    result = None
    if len(results) == len(runs):
        result = WrkResult(
            requests_per_second=sum(r.requests_per_second for r in results) / len(results),
            requests=sum(r.requests for r in results),
            bad_status=sum(r.bad_status for r in results),
            socket_errors=dict(sum((Counter(r.socket_errors) for r in results), Counter())),
            latency_avg=" / ".join(r.latency_avg for r in results),
        )
    statuses: Counter[int] = Counter()
    for run in runs:
        statuses.update(run.statuses)
    return Measured(
        label, result, runs[0].expected, statuses, [f for run in runs for f in run.probe_failures]
    )


@dataclass
class Row:
    scenario: str
    measured: Measured
    cost: SqlCost | None = None
    ms: float | None = None  # in-process ms per request, for rows without SQL counts (the bare app)
    target: str = ""  # e.g. "0.52 x floor (target >= 0.50): met"
    floor: float | None = None  # mean req/s of the one-read floor


def ratio_note(value: float, reference: float, minimum: float, of: str) -> tuple[str, bool]:
    ratio = value / reference if reference else 0.0
    met = ratio >= minimum
    return f"{ratio:.2f} x {of} (target >= {minimum:.2f}): {'met' if met else 'MISSED'}", met


def machine_facts(postgres_version: str, args) -> dict[str, str]:
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)  # noqa: S607
    wrk_name = (wrk_version.stdout or wrk_version.stderr).splitlines()[0].split(" Copyright")[0].strip()
    load = ", ".join(f"{n:.2f}" for n in os.getloadavg())
    return {
        "machine": f"nproc {len(os.sched_getaffinity(0))}, {platform.platform()}",
        "python": platform.python_version(),
        "postgresql": f"{postgres_version} (throwaway cluster from tests/support/postgres.py: "
        "fsync=off, synchronous_commit=off)",
        "server": f"gunicorn {version('gunicorn')} with gunicorn.conf.py as shipped (sync workers, JSON "
        "access log, max_requests recycling), WEB_CONCURRENCY=2, access log to a file, 127.0.0.1; the "
        "bare app: the same, without recycling (--max-requests 0)",
        "app": "IMPERSONATOR_ENV=production behind a pretend TLS proxy (TRUSTED_PROXY_COUNT=1, "
        "X-Forwarded-Proto: https on every request, Secure __Host- cookies), rate limits off",
        "wrk": f"{wrk_name}, {WRK_THREADS} threads, {CONNECTIONS} connections, {WRK_TIMEOUT_SECONDS} s "
        f"timeout, {args.warmup} s warm-up then {args.seconds} s per scenario",
        "load average at start": load,
    }


def table(rows: list[Row], baseline: float) -> list[list[str]]:
    header = [
        "scenario",
        "req/s",
        "x baseline",
        "x floor",
        "target",
        "unexpected",
        "SQL stmts/req",
        "tx/req",
        "pings/req",
        "PG round trips/req",
        "in-process ms/req",
    ]
    lines = [header]
    for row in rows:
        cost, rps = row.cost, row.measured.rps
        ms = cost.ms if cost else row.ms
        lines.append(
            [
                row.scenario,
                f"{rps:.1f}" if row.measured.result else "not measured",
                f"{rps / baseline:.2f}" if baseline else "-",
                f"{rps / row.floor:.2f}" if row.floor else "-",
                row.target,
                str(row.measured.unexpected),
                f"{cost.statements:.1f}" if cost else "-",
                f"{cost.transactions:.1f}" if cost else "-",
                f"{cost.pings:.1f}" if cost else "-",
                f"{cost.round_trips():.0f}" if cost else "-",
                f"{ms:.2f}" if ms is not None else "-",
            ]
        )
    return lines


def print_table(lines: list[list[str]]) -> None:
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    for n, line in enumerate(lines):
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * width for width in widths))


def markdown(lines: list[list[str]]) -> str:
    out = ["| " + " | ".join(lines[0]) + " |", "|" + "---|" * len(lines[0])]
    out += ["| " + " | ".join(line) + " |" for line in lines[1:]]
    return "\n".join(out)


def append_results(
    path: Path, facts: dict[str, str], tables: list[list[list[str]]], notes: list[str], argv
) -> None:
    """A dated section, in the format bench/search_bench.py appends too (same file header)."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    command = f".venv/bin/python -m bench.web_bench {' '.join(argv)}".strip()
    title = "web pages through gunicorn, production behind a TLS proxy (vs the one-read floor)"
    section = [f"## {stamp}: {title}"]
    section += [""] + [f"- {name}: {value}" for name, value in facts.items()]
    section += [f"- command: `{command}`"]
    for lines in tables:
        section += ["", markdown(lines)]
    section += [""] + [f"- {note}" for note in notes]
    if not path.exists():
        path.write_text("# Benchmark results\n\nAppended by the scripts in bench/; newest last.\n")
    with path.open("a", encoding="utf-8") as results:
        results.write("\n" + "\n".join(section).rstrip() + "\n")
