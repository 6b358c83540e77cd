"""A request whose transaction PostgreSQL aborted as a deadlock or a serialization failure runs again
before the 503 page (impersonator/retries.py), and the retry leaves exactly one of everything.

The abort is real: the database itself raises the SQLSTATE, from inside the request's transaction,
as the deadlock detector would."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import text

from impersonator.extensions import db
from impersonator.services.audit import chain
from impersonator.services.impersonation import lifecycle
from tests.conftest import postgresql_only
from tests.support.impersonation import impersonations, request_impersonation, token_from_launch
from tests.support.records import audit_events


def abort_transactions(monkeypatch, sqlstate: str, times: int) -> list[int]:
    """The next `times` impersonation requests have their transaction aborted by the database with
    `sqlstate`, after the TOTP step was consumed and the row written, before the commit."""
    aborted: list[int] = []
    real = lifecycle._record_request

    def record_then_abort(*args, **kwargs):
        recorded = real(*args, **kwargs)
        if len(aborted) < times:
            aborted.append(1)
            db.session.execute(
                text(f"DO $$ BEGIN RAISE EXCEPTION 'forced by the test' USING ERRCODE = '{sqlstate}'; END $$")
            )
        return recorded

    monkeypatch.setattr(lifecycle, "_record_request", record_then_abort)
    return aborted


@postgresql_only
@pytest.mark.parametrize("sqlstate", ["40P01", "40001"], ids=["deadlock", "serialization"])
def test_an_aborted_request_runs_again_and_leaves_one_of_everything(
    app, client, agent, alice, clock, monkeypatch, caplog, sqlstate
):
    aborted = abort_transactions(monkeypatch, sqlstate, times=2)

    with caplog.at_level(logging.WARNING, logger="impersonator.retries"):
        response = request_impersonation(client, agent, clock, alice)

    assert response.status_code == 200
    token_from_launch(response)  # the handoff page, with its token
    assert len(aborted) == 2
    assert caplog.text.count("retrying the request") == 2
    assert len(impersonations(app)) == 1
    assert len(audit_events(app, "impersonation.requested")) == 1
    with app.app_context():
        assert chain.verify(chain.chain_key(app.config)).ok


@postgresql_only
def test_a_request_aborted_every_time_gets_the_503_page_and_leaves_nothing(
    app, client, agent, alice, clock, monkeypatch
):
    abort_transactions(monkeypatch, "40P01", times=100)

    response = request_impersonation(client, agent, clock, alice)

    assert response.status_code == 503
    assert "X-Request-Id" in response.headers
    assert impersonations(app) == []
    assert audit_events(app, "impersonation.requested") == []


@postgresql_only
def test_other_database_errors_are_not_retried(app, client, agent, alice, clock, monkeypatch, caplog):
    aborted = abort_transactions(monkeypatch, "23505", times=100)  # unique_violation: a bug, not a race

    with caplog.at_level(logging.WARNING, logger="impersonator.retries"):
        response = request_impersonation(client, agent, clock, alice)

    assert response.status_code == 503
    assert len(aborted) == 1
    assert "retrying the request" not in caplog.text
