"""The scenarios: each a probe (is this the page we mean to measure?), a wrk warm-up, the measured
run, and the probe again, with every response's status read from the access log; the product's
scenarios in the order that keeps drift from favouring one of them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench.web.bed import Bed
from bench.web.report import Measured
from bench.web.servers import Gunicorn, RssSampler, http_request
from bench.web.settings import CONSOLE_HOST, GHOST_MARK, PROXY_HEADERS, SEARCH_PATH, TENANT_HOST, WRK_THREADS
from bench.web.wrk import REDEEM_LUA, WrkResult, run_wrk


class Runner:
    def __init__(self, seconds: int, warmup: int, workdir: Path) -> None:
        self.seconds, self.warmup, self.workdir = seconds, warmup, workdir

    def measure(
        self,
        label: str,
        server: Gunicorn,
        path: str,
        host: str,
        cookie: str | None = None,
        *,
        present: bytes | None = None,
        absent: bytes | None = None,
    ) -> Measured:
        """A probe (is this the page we mean to measure?), a warm-up, the measured run, the probe
        again (is it still?); every response's status from the access log."""

        def probe(when: str) -> str | None:
            answer = http_request(server.port, "GET", path, host, cookie)
            shows = present is None or present in answer.body
            hides = absent is None or absent not in answer.body
            if answer.status == 200 and shows and hides and "set-cookie" not in answer.headers:
                return None
            return (
                f"{label}: the probe {when} the run got {answer.status}, expected 200 with {present!r} "
                f"and without {absent!r}, setting no cookie (got {answer.headers.get('set-cookie')!r})"
            )

        headers = {"Host": host, **PROXY_HEADERS, **({"Cookie": cookie} if cookie else {})}
        return self._run(
            label,
            server,
            200,
            probe,
            lambda seconds, _run: run_wrk(server.url(path), seconds=seconds, headers=headers),
        )

    def measure_redemptions(self, bed: Bed, server: Gunicorn) -> Measured:
        label = "redemptions (POST /impersonation/redeem)"
        script = self.workdir / "redeem.lua"
        script.write_text(REDEEM_LUA)
        main_count = max(20_000, 2_500 * self.seconds)
        warm_count = 2_500 * self.warmup
        started = time.monotonic()
        issued = bed.issue_tokens(main_count + warm_count + 2)
        print(f"  (issued {len(issued)} tokens in {time.monotonic() - started:.1f} s)", flush=True)
        probes = {"before": issued.pop(), "after": issued.pop()}

        def probe(when: str) -> str | None:
            answer = http_request(
                server.port, "POST", "/impersonation/redeem", TENANT_HOST, form=f"token={probes[when]}"
            )
            location = answer.headers.get("location", "")
            if answer.status == 303 and urlsplit(location).path == "/" and "set-cookie" in answer.headers:
                return None
            return (
                f"{label}: the probe {when} the run got {answer.status} (Location {location!r}), expected "
                "303 to the tenant home with a session cookie"
            )

        headers = {"Host": TENANT_HOST, **PROXY_HEADERS}
        files = {"warm-up": issued[:warm_count], "main": issued[warm_count:]}
        for name, lines in files.items():
            (self.workdir / f"tokens-{name}.txt").write_text("\n".join(lines) + "\n")

        def load(seconds: int, name: str) -> WrkResult:
            return run_wrk(
                server.url(),
                seconds=seconds,
                headers=headers,
                script=script,
                args=(str(self.workdir / f"tokens-{name}.txt"), str(WRK_THREADS)),
            )

        measured = self._run(label, server, 303, probe, load)
        if measured.result and measured.result.requests > main_count:
            sent = measured.result.requests
            print(f"  warning: {sent} requests for {main_count} tokens: some were refused")
        return measured

    def _run(
        self,
        label: str,
        server: Gunicorn,
        expected: int,
        probe: Callable[[str], str | None],
        load: Callable[[int, str], WrkResult],
    ) -> Measured:
        server.mark()
        failure = probe("before")
        if failure:
            print(f"  {label:<44} NOT MEASURED: {failure}", flush=True)
            measured = Measured(label, None, expected, server.statuses(), [failure])
            measured.probe_failures[0] += f"\n{server.log_tail(10)}"
            return measured
        if self.warmup:
            load(self.warmup, "warm-up")
        result = load(self.seconds, "main")
        failures = [f for f in [probe("after")] if f]
        statuses = server.statuses()
        if sum(statuses.values()) < result.requests:
            # The statuses are read from the access log: a short log would hide them.
            failures.append(
                f"{label}: the access log holds {sum(statuses.values())} responses, wrk counted "
                f"{result.requests}"
            )
        measured = Measured(label, result, expected, statuses, failures)
        flags = f"{measured.unexpected} unexpected" + (", probe or log check FAILED" if failures else "")
        print(f"  {label:<44} {result.requests_per_second:>9.1f} req/s  ({flags})", flush=True)
        return measured


@dataclass
class Product:
    """The product's scenarios, each run once, except the tenant home: `cycles` ABBA cycles."""

    search: Measured
    customer: list[Measured]
    ghost: list[Measured]
    redeem: Measured
    rss_after: dict[int, float]
    rss_peaks: dict[int, float]
    recycled: int

    def cycle_ratios(self) -> list[float]:
        """Each cycle's ghost req/s over its customer req/s (the mean of its two runs each)."""
        ratios = []
        for n in range(0, len(self.ghost), 2):
            ghost = self.ghost[n].rps + self.ghost[n + 1].rps
            customer = self.customer[n].rps + self.customer[n + 1].rps
            ratios.append(ghost / customer if customer else 0.0)
        return ratios

    def runs(self) -> list[Measured]:
        return [self.search, *self.customer, *self.ghost, self.redeem]


def measure_product(runner: Runner, bed: Bed, server: Gunicorn, cycles: int) -> Product:
    customer: list[Measured] = []
    ghost: list[Measured] = []
    with RssSampler(server) as rss:
        search = runner.measure(
            # a result row (alice.0000@acme.example …), not the query echoed in the search box
            "console search",
            server,
            SEARCH_PATH,
            CONSOLE_HOST,
            bed.console_cookie,
            present=b"alice.0",
        )

        def tenant_home(who: str, cookie: str) -> None:
            marks = {"absent": GHOST_MARK} if who == "customer" else {"present": GHOST_MARK}
            runs = customer if who == "customer" else ghost
            label = f"tenant home, {who} session ({len(runs) + 1})"
            runs.append(runner.measure(label, server, "/", TENANT_HOST, cookie, **marks))

        # ABBA cycles: a machine that drifts during a cycle favours neither session.
        for _ in range(cycles):
            tenant_home("customer", bed.customer_cookie)
            tenant_home("ghost", bed.ghost_cookie)
            tenant_home("ghost", bed.ghost_cookie)
            tenant_home("customer", bed.customer_cookie)
        redeem = runner.measure_redemptions(bed, server)
        rss_after = rss.sample()
    return Product(search, customer, ghost, redeem, rss_after, rss.peaks, server.recycled())
