"""The webhook receivers of the delivery tests: pytest-httpserver on the loopback answering on one
path, what it got, and a receiver of a test's own that can be stopped and started again."""

from __future__ import annotations

from collections.abc import Iterator

from pytest_httpserver import HTTPServer

from tests.support.webhooks import arrivals

HOOK = "/hooks"


def answer(httpserver: HTTPServer, status: int = 200, *, once: bool = False, path: str = HOOK) -> None:
    """Have the receiver answer POSTs on `path` with `status` (only the next one, with `once`)."""
    expect = httpserver.expect_oneshot_request if once else httpserver.expect_request
    expect(path, method="POST").respond_with_data("", status=status)


def types_received(httpserver: HTTPServer) -> list[str]:
    """The event type of each webhook the receiver accepted, in order."""
    return [arrival.json["type"] for arrival in arrivals(httpserver, HOOK) if arrival.status == 200]


def loopback_receiver() -> Iterator[HTTPServer]:
    """A receiver on 127.0.0.1 that a test may stop and start again (same port); stopped after."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def wrong_code(account, clock) -> str:
    """A TOTP code that is not the staff member's current one."""
    return f"{(int(account.code()) + 1) % 1_000_000:06d}"
