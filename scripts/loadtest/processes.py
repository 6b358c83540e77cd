"""The processes the load test starts, and the /proc lookups its faults and checks need.

Everything listens on 127.0.0.1 only, and everything started here is stopped by `Processes.stop_all`,
which main.py calls in a `finally` (Ctrl-C and SIGTERM included). Only processes started here are
ever signalled, each by its own pid.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from scripts.local_postgres import Unavailable, bin_dir, server_user

ROOT = Path(__file__).resolve().parents[2]
STOP_TIMEOUT_SECONDS = 15


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def flask(*args: str) -> list[str]:
    """A `flask` command of this checkout's interpreter (the venv's, under make)."""
    return [sys.executable, "-m", "flask", "--app", "app", *args]


# --- PostgreSQL ------------------------------------------------------------------------------------


class Postgres:
    """A throwaway cluster in `home` (trust auth, socket in `home`, TCP on 127.0.0.1 only), as the
    test suite's PostgresServer does; as root, PostgreSQL's tools run as the `postgres` user."""

    def __init__(self) -> None:
        self.bin_dir = bin_dir()
        # A folder of its own: the server's user must be able to enter it (the run's is root's, 0700).
        self.home = Path(tempfile.mkdtemp(prefix="impersonator-loadtest-pg-"))
        self.data = self.home / "data"
        self.port = free_port()
        self.run_as = server_user()

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess:
        command = [str(self.bin_dir / tool), *args]
        if self.run_as is not None:
            command = ["runuser", "-u", self.run_as.pw_name, "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=False)

    def create(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        if self.run_as is not None:
            os.chown(self.home, self.run_as.pw_uid, self.run_as.pw_gid)
        done = self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"
        )
        if done.returncode != 0:
            raise Unavailable(f"initdb failed: {(done.stderr or done.stdout).strip()[-500:]}")
        self.start()

    def start(self) -> None:
        # Durability left at PostgreSQL's defaults: the restart fault is a crash (`-m immediate`).
        options = f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1 -c max_connections=100"
        log = str(self.home / "server.log")
        done = self._run("pg_ctl", "-D", str(self.data), "-l", log, "-w", "-t", "60", "-o", options, "start")
        if done.returncode != 0:
            raise Unavailable(f"PostgreSQL did not start: {done.stderr.strip()[-300:]}; see {log}")

    def crash(self) -> None:
        """Stop at once, as a crash does (no checkpoint; clients are cut off); `start` recovers."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def destroy(self, *, keep: bool = False) -> None:
        """Stop it; delete its data unless asked to keep it (to look into a failed run)."""
        if self.data.exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        if not keep:
            shutil.rmtree(self.home, ignore_errors=True)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


# --- children: gunicorn and the outbox workers --------------------------------------------------------


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@dataclass
class Processes:
    """The children of one load test run, stopped together."""

    env: dict[str, str]
    logs: Path
    children: list[Child] = field(default_factory=list)

    def start(self, name: str, command: list[str]) -> Child:
        log = self.logs / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C at the terminal reaches us; we stop them in order
            )
        child = Child(name, process, log)
        self.children.append(child)
        return child

    def start_gunicorn(self, bind: str) -> Child:
        """gunicorn exactly as scripts/launch.py serve starts it (gunicorn.conf.py), on `bind`."""
        config = str(ROOT / "gunicorn.conf.py")
        return self.start(
            "gunicorn", [sys.executable, "-m", "gunicorn", "--config", config, "--bind", bind, "app:app"]
        )

    def start_outbox_worker(self, n: int) -> Child:
        return self.start(f"outbox-worker-{n}", flask("outbox", "work"))

    def stop_all(self) -> None:
        """SIGTERM every child still running (gunicorn finishes requests, a worker its message),
        then wait; kill -9 laggards. Only our own children, by pid."""
        live = [child for child in self.children if child.process.poll() is None]
        for child in live:
            child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for child in live:
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)  # its own session: gunicorn and its workers
                child.process.wait()


# --- /proc --------------------------------------------------------------------------------------------


def socket_owner(pids: list[int], local_port: int) -> int | None:
    """Which of `pids` holds the loopback TCP socket bound to `local_port` (the client end of a
    connection the webhook receiver sees), from /proc/net/tcp and each process's open files."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        if int(parts[1].split(":")[1], 16) == local_port:
            inode = parts[9]
            break
    if inode is None:
        return None
    wanted = f"socket:[{inode}]"
    for pid in pids:
        for fd in glob.glob(f"/proc/{pid}/fd/*"):
            try:
                if os.readlink(fd) == wanted:
                    return pid
            except OSError:
                continue
    return None


def machine() -> str:
    """CPU count and memory, for the table's heading."""
    cpus = len(os.sched_getaffinity(0))
    total = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            total = int(line.split()[1]) // 1024
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    python = sys.version.split()[0]
    return f"{cpus} CPUs ({model or 'unknown model'}), {total / 1024:.1f} GB memory, Python {python}"
