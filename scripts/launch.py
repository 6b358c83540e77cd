"""Start the product the way the README promises. `make run` calls `launch.py dev`, and the test of
the shipped shape (tests/shipped/) calls this very file, so the two cannot drift apart.

`dev`: migrate and seed a SQLite database in the instance folder, then run the web server (`web`,
Werkzeug's development server) and the outbox worker as two processes, side by side, as in
production. When the web server answers, print
where to click first (last, so it is what a newcomer sees). Ctrl-C or SIGTERM stops both; if either
dies, the other is stopped too and the launcher exits with an error.
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


def listening(port: int) -> bool:
    """Does the web server accept connections? (A bare connect: no request, no access-log line.)"""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def stop(processes: list[subprocess.Popen]) -> None:
    """SIGTERM every child still running (the worker finishes its message), then wait; kill laggards."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
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

    children: dict[str, subprocess.Popen] = {}

    def on_signal(signum, _frame) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        # The worker first, then the web server; the first clicks are printed once both have said
        # they started and the web server accepts connections, so they are the last lines on screen.
        children["worker"], worker_ready = start("worker", flask("outbox", "work"), env, WORKER_STARTED)
        worker_ready.wait(READY_TIMEOUT_SECONDS)
        web = [sys.executable, str(Path(__file__).resolve()), "web", "--port", str(port)]
        children["web"], web_ready = start("web", web, env, WEB_STARTED)
        web_ready.wait(READY_TIMEOUT_SECONDS)
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not listening(port):
            if any(child.poll() is not None for child in children.values()) or time.monotonic() > deadline:
                print("launch: the web server did not start; see the lines above.", file=sys.stderr)
                return 1
            time.sleep(0.2)
        print_first_clicks(port)
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
        stop(list(children.values()))


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
    args = parser.parse_args(argv)
    if args.command == "web":
        return run_web(args.port)
    return run_dev(args.instance.resolve(), args.port)


if __name__ == "__main__":
    sys.exit(main())
