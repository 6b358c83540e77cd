"""Migration 0004 seals the events written before the chain existed: numbered in the order they were
written, linked and hashed with the chain's key, so `flask audit verify` passes and new events
continue the same chain (DESIGN I9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text

from impersonator.extensions import db
from impersonator.models import GENESIS_HASH, AuditEvent, AuditHead
from impersonator.services import audit
from impersonator.services.audit import Actor, chain
from tests.conftest import flask_db

OLD_EVENTS = 25
WRITTEN = datetime(2026, 11, 1, 9, 30, 0, 123456)


def insert_old_events(app) -> None:
    """Audit rows as the 0003 schema holds them (no seq, no hashes), written with raw SQL, some of
    them with NULLs and text that a careless encoding would confuse."""
    rows = [
        {
            "at": WRITTEN + timedelta(minutes=n),
            "actor_type": "staff" if n % 3 else "anonymous",
            "actor_id": n if n % 3 else None,
            "actor_label": f"member{n}@staff.example" if n % 3 else "someone|typed~this",
            "action": "staff.signed_in" if n % 2 else "impersonation.requested",
            "outcome": "success" if n % 5 else "denied",
            "target_type": "user" if n % 2 == 0 else None,
            "target_id": 40 + n if n % 2 == 0 else None,
            "tenant_id": 1 if n % 2 == 0 else None,
            "ip": "192.0.2.7" if n % 4 else None,
            "details": f'{{"n":{n},"reason":"Kunde meldet Fehler \u2013 Ticket {n}"}}',
        }
        for n in range(OLD_EVENTS)
    ]
    with app.app_context():
        db.session.execute(
            text(
                "INSERT INTO audit_event (at, actor_type, actor_id, actor_label, action, outcome,"
                " target_type, target_id, tenant_id, ip, details) VALUES (:at, :actor_type, :actor_id,"
                " :actor_label, :action, :outcome, :target_type, :target_id, :tenant_id, :ip, :details)"
            ),
            rows,
        )
        db.session.commit()


def test_i9_migration_0004_seals_the_events_written_before_it(fresh_app):
    flask_db(fresh_app, "upgrade", "0003_search_indexes")
    insert_old_events(fresh_app)

    flask_db(fresh_app, "upgrade")

    with fresh_app.app_context():
        rows = db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        assert [row.seq for row in rows] == list(range(1, OLD_EVENTS + 1))
        assert [row.id for row in rows] == sorted(row.id for row in rows)  # in the order written
        assert rows[0].prev_hash == GENESIS_HASH
        assert rows[0].at == WRITTEN.replace(tzinfo=UTC)
        head = db.session.get(AuditHead, 1)
        assert (head.seq, head.hash) == (OLD_EVENTS, rows[-1].hash)
        verdict = chain.verify(chain.chain_key(fresh_app.config))
        assert verdict.ok, verdict.problem
        assert verdict.verified_seq == OLD_EVENTS

        # The app's next event is #26, linked to the last sealed one.
        event = audit.record("staff.signed_in", actor=Actor.system("test"), at=datetime.now(UTC))
        db.session.commit()
        assert (event.seq, event.prev_hash) == (OLD_EVENTS + 1, rows[-1].hash)
        assert chain.verify(chain.chain_key(fresh_app.config)).ok


def test_i9_migration_0004_seals_with_the_chain_key(fresh_app):
    """The sealed hashes are HMACs with AUDIT_HMAC_KEY: under another key the chain breaks at #1."""
    flask_db(fresh_app, "upgrade", "0003_search_indexes")
    insert_old_events(fresh_app)
    flask_db(fresh_app, "upgrade")

    with fresh_app.app_context():
        verdict = chain.verify(b"not the audit key")

    assert verdict.broken_seq == 1


def test_i9_migration_0004_on_an_empty_log_starts_the_chain_at_genesis(fresh_app):
    flask_db(fresh_app, "upgrade")

    with fresh_app.app_context():
        head = db.session.get(AuditHead, 1)
        assert (head.seq, head.hash) == (0, GENESIS_HASH)
        assert chain.verify(chain.chain_key(fresh_app.config)).ok
