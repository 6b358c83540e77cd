"""The local webhook receiver: a threaded HTTP server on 127.0.0.1 that records every delivery's
`webhook-id`, checks its Standard Webhooks signature, and de-duplicates by id as a receiver should.

Two faults act on it: `down()` / `up()` close and reopen its port (connections are refused, so
the outbox retries), and `hold_next()` holds the next delivery before answering, so that the worker
sending it can be killed mid-delivery; the request is recorded (it reached the wire), never answered.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOLD_SECONDS = 30  # a held delivery waits at most this long for the fault to let it go


@dataclass
class Held:
    """The delivery being held: its id and the sending worker's local port."""

    webhook_id: str
    client_port: int


@dataclass
class Received:
    """What arrived, under one lock."""

    wire: Counter = field(default_factory=Counter)  # webhook-id -> deliveries on the wire
    types: dict[str, str] = field(default_factory=dict)  # webhook-id -> event type
    audit_seqs: dict[str, int] = field(default_factory=dict)  # webhook-id -> the event's audit seq
    bad_signatures: list[str] = field(default_factory=list)


class Receiver:
    def __init__(self, port: int, verify: Callable[[str, int, str, str], bool]) -> None:
        self.port = port
        self.verify = verify  # (id, timestamp, body, signature header) -> valid?
        self.received = Received()
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._hold = threading.Event()
        self.held: Held | None = None
        self.holding = threading.Event()  # set once a delivery is held
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
                receiver.record(self.headers, body)
                if receiver._hold.is_set():
                    receiver._hold.clear()
                    receiver.held = Held(self.headers.get("webhook-id", ""), self.client_address[1])
                    receiver.holding.set()
                    receiver.release.wait(HOLD_SECONDS)
                    self.close_connection = True
                    return  # never answered: the worker was killed while waiting for this
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:  # quiet: the table tells the story
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()

    def down(self) -> None:
        """Close the port: every delivery attempt until `up()` is refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def hold_next(self) -> None:
        self.holding.clear()
        self.release.clear()
        self._hold.set()

    def let_go(self) -> None:
        self._hold.clear()
        self.release.set()

    def record(self, headers, body: str) -> None:
        webhook_id = headers.get("webhook-id", "")
        try:
            valid = self.verify(
                webhook_id,
                int(headers.get("webhook-timestamp", "0")),
                body,
                headers.get("webhook-signature", ""),
            )
        except (ValueError, TypeError):
            valid = False
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {}
        with self.lock:
            self.received.wire[webhook_id] += 1
            self.received.types[webhook_id] = str(payload.get("type"))
            seq = (payload.get("data") or {}).get("audit_seq")
            if isinstance(seq, int):
                self.received.audit_seqs[webhook_id] = seq
            if not valid:
                self.received.bad_signatures.append(webhook_id)

    def snapshot(self) -> tuple[Counter, dict[str, int], list[str]]:
        with self.lock:
            return (
                Counter(self.received.wire),
                dict(self.received.audit_seqs),
                list(self.received.bad_signatures),
            )

    def wait_until(self, condition: Callable[[], bool], seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.25)
        return True
