"""The database dying as a request finishes: the page the view built is still sent (web.py,
register_session_teardown), not a bare 500 from the session's teardown."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tests.support.web import CONSOLE


def test_a_dead_connection_at_teardown_costs_nothing_the_view_built(app, client, agent, monkeypatch, caplog):
    real_close, calls = Session.close, []

    def close_on_a_dead_connection(self) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("ROLLBACK", {}, Exception("server closed the connection unexpectedly"))
        real_close(self)

    monkeypatch.setattr(Session, "close", close_on_a_dead_connection)
    response = client.get("/search?q=alice", base_url=CONSOLE)
    monkeypatch.undo()

    assert response.status_code == 200
    assert calls  # the teardown met the dead connection
    assert "ending the session failed" in caplog.text
    assert client.get("/", base_url=CONSOLE).status_code == 200  # the next request is served as usual
