"""A throwaway PostgreSQL for trying `make serve` on this machine (`make postgres`, `make postgres-stop`).

`start` creates a cluster in instance/postgres/ on first use (a random password for TCP, the socket
in that folder, listening on 127.0.0.1 only), starts it, creates the `impersonator` database and
prints the DATABASE_URL to export. Run again, it prints the same URL. `stop` stops the server and
deletes the folder. PostgreSQL's tools refuse to run as root, so as root they run as the `postgres`
user (Debian's package creates it), as the test suite's throwaway server does (tests/support/postgres.py).
Standard library only: it works before `make` has built the venv.
"""

from __future__ import annotations

import argparse
import glob
import os
import pwd
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / "instance" / "postgres"
DATABASE = "impersonator"


class Unavailable(Exception):
    """PostgreSQL cannot be started here; the message says what to do."""


def bin_dir() -> Path:
    """The newest installed server binaries (Debian: /usr/lib/postgresql/<version>/bin)."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "pg_ctl").exists():
            return Path(candidate)
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    raise Unavailable("PostgreSQL's server binaries are not installed: apt-get install postgresql")


def server_user() -> pwd.struct_passwd | None:
    """Whom the server runs as: None for the caller, or `postgres` when the caller is root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError as exc:
        raise Unavailable("running as root and there is no `postgres` user to run the server as") from exc


def run(tool: str, *args: str, capture: bool = False) -> subprocess.CompletedProcess:
    command = [str(bin_dir() / tool), *args]
    user = server_user()
    if user is not None:
        command = ["runuser", "-u", user.pw_name, "--", *command]
    return subprocess.run(command, capture_output=capture, text=True, check=False)


def owned_by_server(path: Path) -> None:
    user = server_user()
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)


def running() -> bool:
    return (HOME / "data").exists() and run(
        "pg_ctl", "-D", str(HOME / "data"), "status", capture=True
    ).returncode == 0


def database_url(port: int) -> str:
    password = (HOME / "password").read_text(encoding="utf-8").strip()
    return f"postgresql+psycopg://postgres:{password}@127.0.0.1:{port}/{DATABASE}"


def create_cluster() -> None:
    HOME.mkdir(parents=True, exist_ok=True)
    HOME.chmod(0o700)  # the socket and the password file: the server's user only
    owned_by_server(HOME)
    password_file = HOME / "password"
    password_file.write_text(secrets.token_urlsafe(24) + "\n", encoding="utf-8")
    password_file.chmod(0o600)
    owned_by_server(password_file)
    initdb = run(
        "initdb",
        "-D",
        str(HOME / "data"),
        "-U",
        "postgres",
        f"--pwfile={password_file}",
        "--auth-local=trust",  # the socket sits in HOME, which only the server's user may enter
        "--auth-host=scram-sha-256",
        "-E",
        "UTF8",
        "--locale=C",
        capture=True,
    )
    if initdb.returncode != 0:
        shutil.rmtree(HOME, ignore_errors=True)
        raise Unavailable(f"initdb failed: {(initdb.stderr or initdb.stdout).strip()[-500:]}")


def start(port: int) -> int:
    if not (HOME / "data").exists():
        create_cluster()
    if not running():
        options = f"-p {port} -k {HOME} -c listen_addresses=127.0.0.1"
        log = str(HOME / "server.log")
        started = run(
            "pg_ctl", "-D", str(HOME / "data"), "-l", log, "-w", "-o", options, "start", capture=True
        )
        if started.returncode != 0:
            raise Unavailable(f"PostgreSQL did not start (port {port} in use?); see {log}")
    port = int((HOME / "data" / "postmaster.pid").read_text(encoding="utf-8").splitlines()[3])
    socket = ("-h", str(HOME), "-p", str(port), "-U", "postgres")
    exists = run("psql", *socket, "-tAc", "SELECT datname FROM pg_database", capture=True)
    if DATABASE not in exists.stdout.split():
        created = run("createdb", *socket, DATABASE, capture=True)
        if created.returncode != 0:
            raise Unavailable(f"createdb failed: {created.stderr.strip()[-300:]}")
    print(
        f"PostgreSQL is running on 127.0.0.1:{port}, data in {HOME.relative_to(ROOT)}/ "
        "(`make postgres-stop` stops it and deletes it). To try `make serve`:\n"
        f"  export DATABASE_URL={database_url(port)}\n"
        "  export SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')\n"
        "  export AUDIT_HMAC_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')\n"
        "  make serve"
    )
    return 0


def stop() -> int:
    if running():
        run("pg_ctl", "-D", str(HOME / "data"), "-m", "fast", "-w", "stop")
    shutil.rmtree(HOME, ignore_errors=True)
    print(f"PostgreSQL stopped; {HOME.relative_to(ROOT)}/ deleted.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    started = commands.add_parser("start", help="create (first time) and start it; print DATABASE_URL")
    started.add_argument("--port", type=int, default=5433, help="a port on 127.0.0.1 (default 5433)")
    commands.add_parser("stop", help="stop it and delete its data")
    args = parser.parse_args(argv)
    try:
        return start(args.port) if args.command == "start" else stop()
    except Unavailable as problem:
        print(f"make postgres: {problem}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
