"""Processes the bench serves from: gunicorn as production runs it, one request at a time for the
probes, and the RSS of each worker sampled while it runs."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.web.settings import GUNICORN_CONF, PROXY_HEADERS, ROOT, RSS_SAMPLE_SECONDS
from scripts.procfs import children_of, rss_mib


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def http_request(
    port: int, method: str, path: str, host: str, cookie: str | None = None, form: str | None = None
) -> Answer:
    """One request as the proxy would pass it on (PROXY_HEADERS), on a connection of its own."""
    headers = {"Host": host, **PROXY_HEADERS, **({"Cookie": cookie} if cookie else {})}
    if form is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, body=form, headers=headers)
        response = conn.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        conn.close()


class Gunicorn:
    """gunicorn with the shipped gunicorn.conf.py on 127.0.0.1, in a process group of its own, its
    access log (JSON lines) in a file the bench reads."""

    def __init__(
        self, name: str, target: str, env: dict[str, str], workdir: Path, extra: tuple[str, ...] = ()
    ) -> None:
        self.name, self.target, self.extra = name, target, extra
        self.port = free_port()
        self.env = {**env, "GUNICORN_BIND": f"127.0.0.1:{self.port}"}
        self.log_path = workdir / f"gunicorn-{name}.log"
        self.access_path = workdir / f"access-{name}.jsonl"
        self.access_offset = 0
        self.process: subprocess.Popen | None = None

    def start(self) -> Gunicorn:
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            str(GUNICORN_CONF),
            "--chdir",
            str(ROOT),
            "--access-logfile",
            str(self.access_path),
            *self.extra,
            self.target,
        ]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(  # noqa: S603  (a fixed command)
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn ({self.name}) exited:\n{self.log_tail()}")
            try:
                http_request(self.port, "GET", "/", "bench.invalid")
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"gunicorn ({self.name}) did not answer in 30 s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Stop the master and its workers: the whole process group we started, by its id."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=35)  # gunicorn.conf.py's graceful_timeout is 30 s
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            pass

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def workers(self) -> list[int]:
        return children_of(self.process.pid) if self.process else []

    def recycled(self) -> int:
        """Workers that left after max_requests (gunicorn.conf.py), from gunicorn's own log."""
        try:
            return self.log_path.read_text(errors="replace").count("Autorestarting worker")
        except OSError:
            return 0

    def mark(self) -> None:
        """Count statuses from here on (see `statuses`)."""
        self.settle()
        self.access_offset = self.access_size()

    def access_size(self) -> int:
        try:
            return self.access_path.stat().st_size
        except OSError:
            return 0

    def settle(self, quiet: float = 0.3, most: float = 5.0) -> None:
        """Wait until the access log stops growing: the last requests of a run are logged after wrk
        has gone (each line is written once its response is sent)."""
        deadline = time.monotonic() + most
        size, still_since = self.access_size(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now_size = self.access_size()
            if now_size != size:
                size, still_since = now_size, time.monotonic()
            elif time.monotonic() - still_since >= quiet:
                return

    def statuses(self) -> Counter[int]:
        """The statuses of the responses logged since `mark`; the mark moves to the end."""
        self.settle()
        with self.access_path.open("rb") as log:
            log.seek(self.access_offset)
            chunk = log.read()
        complete = chunk[: chunk.rfind(b"\n") + 1]
        self.access_offset += len(complete)
        counted: Counter[int] = Counter()
        for line in complete.splitlines():
            try:
                counted[int(json.loads(line)["status"])] += 1
            except (ValueError, KeyError, TypeError):
                counted[0] += 1  # not an access line of ours: unexpected
        return counted

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


class RssSampler:
    """The RSS of each worker of a server, every RSS_SAMPLE_SECONDS while running: the peak per
    worker process, the ones max_requests replaced included."""

    def __init__(self, server: Gunicorn) -> None:
        self.server = server
        self.peaks: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> dict[int, float]:
        now = {pid: rss for pid in self.server.workers() if (rss := rss_mib(pid)) is not None}
        for pid, rss in now.items():
            self.peaks[pid] = max(rss, self.peaks.get(pid, 0.0))
        return now

    def _run(self) -> None:
        while not self._stop.wait(RSS_SAMPLE_SECONDS):
            self.sample()
