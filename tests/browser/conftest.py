"""The browser bed: the real app served on a loopback port, driven by Debian's headless Chromium
(its fixtures: tests/support/browser.py).

The server runs in a thread of the test process, so time-machine moves its clock too. Every
`*.localhost` name resolves to 127.0.0.1 inside Chromium, so the Host header picks the face exactly as
in `make run`. A failing test leaves a screenshot in test-artifacts/<test name>.png.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from impersonator import create_app
from tests.conftest import _dispose, _empty_tables, config_for


@dataclass
class LiveServer:
    app: Flask
    port: int

    def url(self, host: str, path: str = "/") -> str:
        return f"http://{host}:{self.port}{path}"


DATABASE_URL_FIXTURES = {"sqlite": "sqlite_url", "postgresql": "postgres_url"}


@pytest.fixture
def live_server(request) -> Iterator[LiveServer]:
    """The app served on 127.0.0.1 by a threaded Werkzeug server; tables emptied after. On SQLite,
    unless a test asks for more with `@pytest.mark.parametrize("live_server", ["sqlite",
    "postgresql"], indirect=True)`: SQLite serialises every transaction, so races show on PostgreSQL."""
    database = getattr(request, "param", "sqlite")
    app = create_app(config_for(request.getfixturevalue(DATABASE_URL_FIXTURES[database])))
    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
    # Links between hosts (the handoff to the tenant, End back to the console) carry this port.
    for face in (app, app.extensions["impersonator.tenant_app"]):
        face.config["PUBLIC_PORT"] = server.server_port
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(app, server.server_port)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        _empty_tables(app)
        _dispose(app)
