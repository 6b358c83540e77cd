"""A throwaway PostgreSQL server for the test session: initdb in a temp dir, started on a free
loopback port, stopped and deleted at the end, or by its watchdog when the process that started it
is killed. PostgreSQL refuses to run as root, so as root the server runs as the `postgres` system
user (created by Debian's package)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bin_dir() -> Path:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "pg_ctl").exists():
            return Path(candidate)
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    raise PostgresUnavailable("PostgreSQL server binaries (pg_ctl) are not installed")


# Waits for the process that started the server to go, however it ends (a normal exit, SIGTERM,
# SIGKILL), then stops the server and deletes its files: a test run stopped mid-way leaves no
# server behind. Arguments: that process's id, the directory, the stop command.
_WATCHDOG = """
parent=$1; directory=$2; shift 2
while kill -0 "$parent" 2>/dev/null; do sleep 1; done
"$@" >/dev/null 2>&1
rm -rf "$directory"
"""


@dataclass
class PostgresServer:
    bin_dir: Path
    data_dir: Path
    port: int
    run_as: str | None
    watchdog: subprocess.Popen | None = None

    def _command(self, *args: str) -> list[str]:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        return ["runuser", "-u", self.run_as, "--", *command] if self.run_as else command

    def _run(self, *args: str) -> None:
        subprocess.run(self._command(*args), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def _stop_args(self) -> tuple[str, ...]:
        return ("pg_ctl", "-D", str(self.data_dir / "data"), "-m", "immediate", "-w", "stop")

    @classmethod
    def start(cls) -> PostgresServer:
        bin_dir = _bin_dir()
        run_as = None
        data_dir = Path(tempfile.mkdtemp(prefix="impersonator-pg-"))
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise PostgresUnavailable("running as root and there is no postgres user") from exc
            os.chown(data_dir, user.pw_uid, user.pw_gid)
            run_as = "postgres"
        server = cls(bin_dir, data_dir, free_port(), run_as)
        try:
            server._run(
                "initdb",
                "-D",
                str(data_dir / "data"),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--locale=C",
            )
            options = (
                f"-p {server.port} -k {data_dir} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=200"
            )
            server._run(
                "pg_ctl",
                "-D",
                str(data_dir / "data"),
                "-l",
                str(data_dir / "server.log"),
                "-w",
                "-o",
                options,
                "start",
            )
        except subprocess.CalledProcessError as exc:
            shutil.rmtree(data_dir, ignore_errors=True)
            raise PostgresUnavailable(f"could not start PostgreSQL: {exc.stderr.decode()[-500:]}") from exc
        server.watchdog = subprocess.Popen(
            [
                "sh",
                "-c",
                _WATCHDOG,
                "watchdog",
                str(os.getpid()),
                str(data_dir),
                *server._command(*server._stop_args()),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # outlives a signal sent to the test run's process group
        )
        return server

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self.watchdog is not None:  # stopped here: nothing left to watch
            self.watchdog.kill()
            self.watchdog.wait()
        try:
            self._run(*self._stop_args())
        finally:
            shutil.rmtree(self.data_dir, ignore_errors=True)
