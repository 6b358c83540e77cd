"""Start the product the way the README promises. `make run` calls `launch.py dev`, `make serve` calls
`launch.py serve`, and the tests of the shipped shapes (tests/shipped/) call this very file, so they
cannot drift apart.

`dev`: migrate and seed a SQLite database in the instance folder, then run the web server (`web`,
Werkzeug's development server) and the outbox worker as two processes, side by side, as in
production. When the web server answers, print
where to click first (last, so it is what a newcomer sees). Ctrl-C or SIGTERM stops both; if either
dies, the other is stopped too and the launcher exits with an error.

`serve`: production (IMPERSONATOR_ENV=production, whatever the Makefile exports): `flask db upgrade`
on DATABASE_URL, then gunicorn (gunicorn.conf.py) and the outbox worker, watched and stopped the same
way. Nothing starts when the configuration is refused: config.py's one line says why.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from werkzeug.serving import WSGIRequestHandler, run_simple

ROOT = Path(__file__).resolve().parent.parent
CONSOLE_HOST = "console.localhost"
FIRST_SIGN_IN = ("support@impersonator.example", "support-demo-password")
READY_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 10
# The last line each child prints when it has started (the worker's own; Werkzeug's).
WORKER_STARTED = "outbox worker started"
WEB_STARTED = "Press CTRL+C to quit"
GUNICORN_STARTED = "Booting worker"
# gunicorn.conf.py gives requests in flight 30 s after SIGTERM; the launcher waits a little longer.
SERVE_STOP_TIMEOUT_SECONDS = 35


def flask(*args: str) -> list[str]:
    """A `flask` command of this checkout's interpreter (the venv's, under make)."""
    return [sys.executable, "-m", "flask", "--app", "app", *args]


def development_environment(instance: Path, port: int) -> dict[str, str]:
    """The children's environment: development, in `instance`, links on `port`."""
    env = dict(os.environ)
    env.setdefault("IMPERSONATOR_ENV", "development")
    env["IMPERSONATOR_INSTANCE"] = str(instance)  # config.py: the SQLite file and mail folder there
    env["PUBLIC_PORT"] = str(port)
    env["PYTHONUNBUFFERED"] = "1"  # lines reach the terminal (or the test reading them) at once
    return env


# A query string may hold what belongs in no log: a token pasted into an address, a search for a
# customer's email. The development server's lines keep the path and drop the query.
_QUERY = re.compile(r"\?[^\s\"]*")


class RequestHandlerWithoutQueries(WSGIRequestHandler):
    """Werkzeug's request handler, writing no query string into any line it logs."""

    def log(self, type: str, message: str, *args) -> None:
        line = message % args if args else message
        super().log(type, "%s", _QUERY.sub("?…", line))


def run_web(port: int) -> int:
    """The web server of `dev`: the app of app.py on 127.0.0.1, one thread per request."""
    sys.path.insert(0, str(ROOT))
    from app import app

    run_simple("127.0.0.1", port, app, threaded=True, request_handler=RequestHandlerWithoutQueries)
    return 0


def listening(port: int, host: str = "127.0.0.1") -> bool:
    """Does the web server accept connections? (A bare connect: no request, no access-log line.)"""
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    return True


def stop(processes: list[subprocess.Popen], timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """SIGTERM every child still running (the worker finishes its message), then wait; kill laggards."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def print_first_clicks(port: int) -> None:
    email, password = FIRST_SIGN_IN
    print(
        "\n"
        "Impersonator is running: the web server and the outbox worker (Ctrl-C stops both).\n"
        f"  Open     http://{CONSOLE_HOST}:{port}/\n"
        f"  Sign in  {email}  /  {password}\n"
        "  Code     make codes   (each staff member's code now and next; a code works once)\n",
        flush=True,
    )


def relay(name: str, process: subprocess.Popen, marker: str, ready: threading.Event) -> None:
    """Copy a child's output to ours, each line prefixed with its name (as foreman and honcho do);
    `ready` is set when a line contains `marker`, or when the child ends."""
    for line in process.stdout:
        print(f"{name:6} | {line}", end="", flush=True)
        if marker in line:
            ready.set()
    ready.set()


def start(
    name: str, command: list[str], env: dict[str, str], marker: str
) -> tuple[subprocess.Popen, threading.Event]:
    """Start a child with its output relayed; the event is set once it printed `marker` (or ended)."""
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    ready = threading.Event()
    threading.Thread(target=relay, args=(name, process, marker, ready), daemon=True).start()
    return process, ready


def run_dev(instance: Path, port: int) -> int:
    instance.mkdir(parents=True, exist_ok=True)
    # `flask …` typed in this checkout (the commands the pages print) runs in development too.
    (instance / "environment").write_text("development\n", encoding="utf-8")
    env = development_environment(instance, port)
    for command in (flask("db", "upgrade"), flask("seed-demo")):
        subprocess.run(command, cwd=ROOT, env=env, check=True)
    web = [sys.executable, str(Path(__file__).resolve()), "web", "--port", str(port)]
    children = [("worker", flask("outbox", "work"), WORKER_STARTED), ("web", web, WEB_STARTED)]
    return supervise(children, env, ("127.0.0.1", port), lambda: print_first_clicks(port))


def production_environment() -> dict[str, str]:
    """The children's environment for `serve`: production, whatever the Makefile exports for `run`."""
    env = dict(os.environ)
    env["IMPERSONATOR_ENV"] = "production"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def print_serving(host: str, port: int, env: dict[str, str]) -> None:
    console = env.get("CONSOLE_HOST") or CONSOLE_HOST
    print(
        "\n"
        "Impersonator is serving (production): gunicorn and the outbox worker (Ctrl-C stops both).\n"
        f"  Listens  {host}:{port}  (put the TLS proxy for {console} and the tenant domains in front)\n"
        f"  Ready?   curl -H 'Host: {console}' http://{host}:{port}/readyz\n"
        "  Staff    .venv/bin/flask --app app staff create --email … --name … --role admin"
        "  (same environment; production has no demo data)\n",
        flush=True,
    )


def run_serve(bind: str) -> int:
    host, port = bind.rsplit(":", 1)
    env = production_environment()
    # The migration runs once, before any web process: config.py refuses an insecure environment
    # here, with one line, and nothing starts.
    upgrade = subprocess.run(flask("db", "upgrade"), cwd=ROOT, env=env)
    if upgrade.returncode != 0:
        print("launch: `flask db upgrade` failed (see above); nothing was started.", file=sys.stderr)
        return max(upgrade.returncode, 1)  # a signal's negative code is no exit status
    web = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        str(ROOT / "gunicorn.conf.py"),
        "--bind",
        bind,
        "app:app",
    ]
    children = [("worker", flask("outbox", "work"), WORKER_STARTED), ("web", web, GUNICORN_STARTED)]
    return supervise(
        children,
        env,
        ("127.0.0.1" if host in ("0.0.0.0", "") else host, int(port)),  # noqa: S104  (connect, not bind)
        lambda: print_serving(host, int(port), env),
        stop_timeout=SERVE_STOP_TIMEOUT_SECONDS,
    )


def supervise(
    commands: list[tuple[str, list[str], str]],
    env: dict[str, str],
    address: tuple[str, int],
    announce: Callable[[], None],
    *,
    stop_timeout: float = STOP_TIMEOUT_SECONDS,
) -> int:
    """Start each (name, command, started marker) in turn, announce once the web server at `address`
    accepts connections, then watch: if a child stops, stop the rest and fail; Ctrl-C or SIGTERM stops
    them all and exits 0."""
    children: dict[str, subprocess.Popen] = {}

    def on_signal(signum, _frame) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        # The worker first, then the web server; the announcement is printed once both have said
        # they started and the web server accepts connections, so it is the last lines on screen.
        for name, command, marker in commands:
            children[name], ready = start(name, command, env, marker)
            ready.wait(READY_TIMEOUT_SECONDS)
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not listening(address[1], address[0]):
            if any(child.poll() is not None for child in children.values()) or time.monotonic() > deadline:
                print("launch: the web server did not start; see the lines above.", file=sys.stderr)
                return 1
            time.sleep(0.2)
        announce()
        while True:
            for name, child in children.items():
                if child.poll() is not None:
                    print(
                        f"launch: the {name} process stopped (exit {child.returncode}); stopping.",
                        file=sys.stderr,
                    )
                    return child.returncode or 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    finally:
        stop(list(children.values()), stop_timeout)


def host_and_port(value: str) -> str:
    """`--bind`: HOST:PORT (gunicorn's own syntax, TCP only)."""
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, not {value!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    dev = commands.add_parser("dev", help="SQLite, demo data, web server and outbox worker (make run)")
    dev.add_argument("--port", type=int, default=5000)
    dev.add_argument(
        "--instance", type=Path, default=ROOT / "instance", help="the folder for the database and mail"
    )
    web = commands.add_parser("web", help="only the web server, as `dev` runs it (no query strings logged)")
    web.add_argument("--port", type=int, default=5000)
    serve = commands.add_parser(
        "serve", help="production: migrations, gunicorn and the outbox worker on DATABASE_URL (make serve)"
    )
    serve.add_argument("--bind", type=host_and_port, default="127.0.0.1:8000", help="HOST:PORT for gunicorn")
    args = parser.parse_args(argv)
    if args.command == "web":
        return run_web(args.port)
    if args.command == "serve":
        return run_serve(args.bind)
    return run_dev(args.instance.resolve(), args.port)


if __name__ == "__main__":
    sys.exit(main())
