"""The tests' throwaway PostgreSQL server stops itself when the process that started it is killed
(tests/support/postgres.py): a test run stopped by hand or by a timeout leaves no server running
and no data directory behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import missing_real_part
from tests.support.postgres import PostgresServer, PostgresUnavailable

ROOT = Path(__file__).resolve().parents[2]
# A process that starts a server, says where it is, and waits to be killed.
STARTER = """
import time
from tests.support.postgres import PostgresServer
server = PostgresServer.start()
print(server.port, server.data_dir, flush=True)
time.sleep(600)
"""

pytestmark = pytest.mark.postgres


def answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def gone_within(seconds: float, port: int, data_dir: Path) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not answers(port) and not data_dir.exists():
            return True
        time.sleep(0.2)
    return False


def test_a_server_whose_starter_is_killed_stops_and_is_deleted():
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = starter.stdout.readline()
        if not line:
            missing_real_part("the starter process could not start PostgreSQL")
        port, data_dir = int(line.split()[0]), Path(line.split()[1])
        assert answers(port) and data_dir.exists()

        starter.send_signal(signal.SIGKILL)  # no teardown runs: only the watchdog can stop it
        starter.wait()

        assert gone_within(20, port, data_dir)
    finally:
        starter.kill()
        starter.wait()
        starter.stdout.close()


def test_a_server_stopped_by_its_fixture_leaves_no_watchdog_behind():
    try:
        server = PostgresServer.start()
    except PostgresUnavailable as problem:
        missing_real_part(str(problem))
    watchdog = server.watchdog

    server.stop()

    assert watchdog.poll() is not None
    assert not answers(server.port) and not server.data_dir.exists()
