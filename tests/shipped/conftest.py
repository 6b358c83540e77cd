"""The product started the README's way, by the Makefile's own launcher (scripts/launch.py), as real
processes on a fresh instance folder: the web server and the outbox worker side by side.

An in-process test cannot see two processes fighting over a lock, a missing environment variable or
an error page that needs the database (issue 10): these tests talk to the running processes over
HTTP and through Debian's Chromium only.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from impersonator import ROOT
from tests.support.postgres import free_port

LAUNCHER = ROOT / "scripts" / "launch.py"
READY_LINE = "Impersonator is running"
START_TIMEOUT_SECONDS = 120  # a first start migrates and seeds: seconds here, more on a slow CI box
_SECRET = re.compile(r"^\s*TOTP secret: ([A-Z2-7]+)", re.MULTILINE)
_ROLE = re.compile(r"^\s*(support|impersonator|security|admin)\s+(\S+@impersonator\.example)", re.MULTILINE)


@dataclass
class Launched:
    """One `launch.py dev` process: its port, instance folder and everything it printed so far."""

    process: subprocess.Popen
    port: int
    instance: Path
    lines: list[str] = field(default_factory=list)

    def url(self, host: str, path: str = "/") -> str:
        return f"http://{host}:{self.port}{path}"

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def totp_secrets(self) -> dict[str, str]:
        """Each demo role's TOTP secret, read from the printed sign-ins as a newcomer would."""
        roles = [role for role, _email in _ROLE.findall(self.output)]
        secrets = _SECRET.findall(self.output)
        assert roles and len(roles) == len(secrets), self.output
        return dict(zip(roles, secrets, strict=True))

    def stop(self) -> int:
        """Ctrl-C's SIGTERM twin to the launcher; returns its exit code. Kills the group if stuck."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def launch(instance: Path) -> Launched:
    """Start `scripts/launch.py dev` as `make run` does, and wait until it prints the first clicks."""
    ours = ("DATABASE_URL", "MAIL_DIR", "PUBLIC_PORT", "IMPERSONATOR_INSTANCE")
    env = {k: v for k, v in os.environ.items() if k not in ours}
    env["IMPERSONATOR_ENV"] = "development"  # what the Makefile exports
    port = free_port()
    arguments = ["dev", "--port", str(port), "--instance", str(instance)]
    return start_launcher(arguments, env, port, instance, READY_LINE)


def start_launcher(
    arguments: list[str], env: dict[str, str], port: int, instance: Path, ready_line: str
) -> Launched:
    """Start `scripts/launch.py <arguments>` and wait until it prints `ready_line` (fail if it does not)."""
    process = subprocess.Popen(
        [sys.executable, str(LAUNCHER), *arguments],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the teardown can always end all of it
    )
    launched = Launched(process, port, instance)
    ready = threading.Event()

    def read() -> None:
        for line in process.stdout:
            launched.lines.append(line)
            if ready_line in line:
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(START_TIMEOUT_SECONDS) or process.poll() is not None:
        launched.stop()
        pytest.fail(f"`launch.py {arguments[0]}` did not start:\n{launched.output[-4000:]}", pytrace=False)
    time.sleep(0.3)  # the rest of the first-clicks block
    return launched


@pytest.fixture(scope="module")
def product(tmp_path_factory) -> Iterator[Launched]:
    """The product as `make run` starts it, on a fresh instance folder, for the whole module."""
    launched = launch(tmp_path_factory.mktemp("instance"))
    try:
        yield launched
    finally:
        launched.stop()
