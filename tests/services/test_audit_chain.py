"""I9: the audit log is a hash chain; `flask audit verify` finds any edited, deleted, inserted or
reordered event, names the first broken one and exits non-zero. Tampering here is what an attacker
with database access would do: raw SQL on the tables, never the app's own code."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from impersonator import create_app
from impersonator.extensions import db
from impersonator.models import GENESIS_HASH, AuditCheckpoint, AuditEvent, AuditHead
from impersonator.services import audit
from impersonator.services.audit import Actor
from impersonator.services.audit import chain as audit_chain
from impersonator.services.audit.chain import Anchor, ChainMac, Link, encode, timestamp
from impersonator.services.delivery import events
from tests.conftest import _dispose, _empty_tables, config_for

EVENTS = 8


def write_events(app, count: int = EVENTS, *, start: int = 0) -> None:
    """`count` events through the audit service, one transaction each, as requests write them."""
    with app.app_context():
        for n in range(start, start + count):
            audit.record(
                "test.event",
                actor=Actor.system("test"),
                at=datetime.now(UTC) + timedelta(seconds=n),
                target_type="user",
                target_id=100 + n,
                tenant_id=1,
                ip="192.0.2.10",
                details={"n": n, "note": f"event {n}"},
            )
            db.session.commit()


def verify(app, anchor: Anchor | None = None) -> audit_chain.Verdict:
    with app.app_context():
        return audit_chain.verify(audit_chain.chain_key(app.config), anchor=anchor)


def sql(app, statement: str, **params) -> None:
    """Raw SQL, committed: the attacker's tools."""
    with app.app_context():
        db.session.execute(text(statement), params)
        db.session.commit()


def column(app, name: str, seq: int):
    with app.app_context():
        return db.session.execute(
            text(f"SELECT {name} FROM audit_event WHERE seq = :seq"), {"seq": seq}
        ).scalar()


def head(app) -> tuple[int, str]:
    with app.app_context():
        row = db.session.get(AuditHead, 1)
        return row.seq, row.hash


def anchor_now(app) -> Anchor:
    with app.app_context():
        return audit_chain.current_anchor(now=datetime.now(UTC))


@pytest.fixture
def chain(app, clock):
    write_events(app)
    return app


# --- an untouched chain -----------------------------------------------------------------------


def test_i9_events_are_numbered_linked_and_verify(chain):
    with chain.app_context():
        rows = db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        assert [e.seq for e in rows] == list(range(1, EVENTS + 1))
        assert rows[0].prev_hash == GENESIS_HASH
        assert all(later.prev_hash == earlier.hash for earlier, later in itertools.pairwise(rows))
    assert head(chain) == (EVENTS, rows[-1].hash)

    verdict = verify(chain)

    assert verdict.ok, verdict.problem
    assert (verdict.events, verdict.verified_seq, verdict.verified_hash) == (EVENTS, EVENTS, head(chain)[1])
    assert verdict.summary().startswith(f"audit chain OK: {EVENTS} events, #1 to #{EVENTS}")


def test_i9_an_empty_chain_verifies(app):
    verdict = verify(app)

    assert verdict.ok and verdict.events == 0


def test_i9_the_hash_is_an_hmac_with_the_audit_key_not_a_plain_digest(chain):
    """Without AUDIT_HMAC_KEY nobody can recompute a hash: the same chain under another key breaks at #1."""
    assert chain.config["AUDIT_HMAC_KEY"] != chain.config["SECRET_KEY"]
    with chain.app_context():
        verdict = audit_chain.verify(b"another key")

    assert not verdict.ok
    assert verdict.broken_seq == 1


# --- tampering: edit, delete, insert, reorder -----------------------------------------------------


EDITS = {
    "details": ("details", '{"n":4,"note":"nothing to see"}'),
    "actor_label": ("actor_label", "someone-else"),
    "action": ("action", "test.harmless"),
    "outcome": ("outcome", "denied"),
    "target_id": ("target_id", 999),
    "tenant_id": ("tenant_id", None),
    "impersonation_id": ("impersonation_id", 7),
    "ip": ("ip", "198.51.100.1"),
}


@pytest.mark.parametrize("name", sorted(EDITS))
def test_i9_an_edited_event_breaks_the_chain_at_that_event(chain, name):
    column_name, value = EDITS[name]
    sql(chain, f"UPDATE audit_event SET {column_name} = :value WHERE seq = 5", value=value)

    verdict = verify(chain)

    assert not verdict.ok
    assert verdict.broken_seq == 5
    assert "edited" in verdict.problem
    assert verdict.verified_seq == 4


def test_i9_an_event_moved_in_time_breaks_the_chain(chain):
    sql(chain, "UPDATE audit_event SET at = :at WHERE seq = 3", at=datetime(2020, 1, 1, 12, 0))

    assert verify(chain).broken_seq == 3


def test_i9_an_edit_with_its_hash_recomputed_without_the_key_breaks_the_next_link(chain):
    """The attacker rewrites event 5 and, not having the key, stores a plain SHA-256 as its hash."""
    forged = hashlib.sha256(b"forged").hexdigest()
    sql(chain, "UPDATE audit_event SET details = '{}', hash = :hash WHERE seq = 5", hash=forged)

    verdict = verify(chain)

    assert verdict.broken_seq == 5


def test_i9_a_deleted_event_is_named_by_its_number(chain):
    sql(chain, "DELETE FROM audit_event WHERE seq = 5")

    verdict = verify(chain)

    assert not verdict.ok
    assert verdict.broken_seq == 5
    assert "missing" in verdict.problem


def test_i9_a_deleted_event_with_the_rest_renumbered_breaks_the_link(chain):
    sql(chain, "DELETE FROM audit_event WHERE seq = 5")
    sql(chain, "UPDATE audit_event SET seq = -seq WHERE seq > 5")
    sql(chain, "UPDATE audit_event SET seq = -seq - 1 WHERE seq < 0")
    sql(chain, "UPDATE audit_head SET seq = seq - 1")

    verdict = verify(chain)

    assert verdict.broken_seq == 5
    assert "link" in verdict.problem


def insert_event(app, seq: int, prev_hash: str, digest: str, **values) -> None:
    row = {
        "seq": seq,
        "at": datetime(2026, 11, 23, 12, 30),
        "actor_type": "staff",
        "actor_id": 1,
        "actor_label": "innocent@staff.example",
        "action": "staff.signed_in",
        "outcome": "success",
        "details": "{}",
        **values,
    }
    names = ", ".join([*row, "prev_hash", "hash"])
    marks = ", ".join(f":{name}" for name in [*row, "prev_hash", "hash"])
    sql(app, f"INSERT INTO audit_event ({names}) VALUES ({marks})", **row, prev_hash=prev_hash, hash=digest)


def test_i9_an_event_inserted_in_the_middle_breaks_the_chain_there(chain):
    sql(chain, "UPDATE audit_event SET seq = -seq WHERE seq >= 5")
    sql(chain, "UPDATE audit_event SET seq = -seq + 1 WHERE seq < 0")
    insert_event(chain, 5, column(chain, "hash", 4), hashlib.sha256(b"made up").hexdigest())
    sql(chain, "UPDATE audit_head SET seq = seq + 1")

    verdict = verify(chain)

    assert verdict.broken_seq == 5
    assert "edited" in verdict.problem


def test_i9_an_event_appended_at_the_end_is_caught_even_with_the_head_moved(chain):
    last_hash = column(chain, "hash", EVENTS)
    forged = hashlib.sha256(b"made up").hexdigest()
    insert_event(chain, EVENTS + 1, last_hash, forged)
    sql(chain, "UPDATE audit_head SET seq = :seq, hash = :hash", seq=EVENTS + 1, hash=forged)

    verdict = verify(chain)

    assert verdict.broken_seq == EVENTS + 1


def test_i9_a_replayed_copy_of_a_real_event_is_caught(chain):
    """An exact copy of event 3 (hashes included) appended as the next event."""
    with chain.app_context():
        original = db.session.execute(text("SELECT * FROM audit_event WHERE seq = 3")).mappings().one()
    copy = {k: v for k, v in original.items() if k not in ("id", "seq", "prev_hash", "hash")}
    insert_event(chain, EVENTS + 1, original["prev_hash"], original["hash"], **copy)

    verdict = verify(chain)

    assert verdict.broken_seq == EVENTS + 1
    assert "link" in verdict.problem


def test_i9_two_events_swapped_break_the_chain_at_the_first(chain):
    sql(chain, "UPDATE audit_event SET seq = -1 WHERE seq = 4")
    sql(chain, "UPDATE audit_event SET seq = 4 WHERE seq = 5")
    sql(chain, "UPDATE audit_event SET seq = 5 WHERE seq = -1")

    verdict = verify(chain)

    assert verdict.broken_seq == 4
    assert "reordered" in verdict.problem


# --- truncating the tail: the head row, and the anchor for an attacker who rewinds it too ----------


def test_i9_a_truncated_tail_is_caught_by_the_chain_head(chain):
    sql(chain, "DELETE FROM audit_event WHERE seq > 5")

    verdict = verify(chain)

    assert not verdict.ok
    assert verdict.broken_seq == 6
    assert "truncated" in verdict.problem
    assert verdict.verified_seq == 5


def test_i9_a_truncated_tail_with_the_head_rewound_is_caught_only_with_an_anchor(chain):
    anchor = anchor_now(chain)
    sql(chain, "DELETE FROM audit_event WHERE seq > 5")
    sql(chain, "UPDATE audit_head SET seq = 5, hash = :hash", hash=column(chain, "hash", 5))

    assert verify(chain).ok  # a consistent, shorter chain: the database alone cannot tell
    verdict = verify(chain, anchor=anchor)

    assert not verdict.ok
    assert verdict.broken_seq == 6
    assert f"the anchor names event #{EVENTS}" in verdict.problem


def test_i9_an_anchor_still_verifies_as_the_chain_grows(chain):
    anchor = anchor_now(chain)
    write_events(chain, 3, start=EVENTS)

    verdict = verify(chain, anchor=anchor)

    assert verdict.ok
    assert verdict.verified_seq == EVENTS + 3


def test_i9_a_chain_rewritten_from_the_anchored_event_on_differs_from_the_anchor(chain):
    anchor = Anchor(5, hashlib.sha256(b"what the anchor saw").hexdigest(), "")

    verdict = verify(chain, anchor=anchor)

    assert verdict.broken_seq == 5
    assert "anchor" in verdict.problem


def test_i9_a_head_that_names_more_events_than_exist_is_truncation(chain):
    sql(chain, "UPDATE audit_head SET seq = seq + 2")

    verdict = verify(chain)

    assert verdict.broken_seq == EVENTS + 1
    assert "truncated" in verdict.problem


def test_i9_a_deleted_head_row_is_reported(chain):
    sql(chain, "DELETE FROM audit_head")

    verdict = verify(chain)

    assert not verdict.ok
    assert "head row is missing" in verdict.problem


def test_i9_a_head_rewound_behind_real_events_is_reported(chain):
    sql(chain, "UPDATE audit_head SET seq = 3, hash = :hash", hash=column(chain, "hash", 3))

    verdict = verify(chain)

    assert verdict.broken_seq == 4


# --- the CLI: exit codes, output, checkpoint, anchor file ---------------------------------------


def checkpoints(app) -> list[tuple[bool, int, int | None]]:
    with app.app_context():
        rows = db.session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id))
        return [(c.ok, c.verified_seq, c.first_broken_seq) for c in rows]


def test_i9_cli_verify_prints_ok_exits_zero_and_records_a_checkpoint(chain):
    result = chain.test_cli_runner().invoke(args=["audit", "verify"])

    assert result.exit_code == 0, result.output
    assert f"audit chain OK: {EVENTS} events, #1 to #{EVENTS}" in result.output
    assert checkpoints(chain) == [(True, EVENTS, None)]


def test_i9_cli_verify_names_the_first_broken_event_and_exits_one(chain):
    sql(chain, "UPDATE audit_event SET outcome = 'denied' WHERE seq = 3")
    sql(chain, "DELETE FROM audit_event WHERE seq = 6")

    result = chain.test_cli_runner().invoke(args=["audit", "verify"])

    assert result.exit_code == 1
    assert "audit chain BROKEN at #3" in result.output
    assert checkpoints(chain) == [(False, 2, 3)]


def test_i9_cli_anchor_file_then_verify_with_it_catches_a_rewound_truncation(chain, tmp_path):
    runner = chain.test_cli_runner()
    anchor_file = tmp_path / "audit-anchor.json"

    written = runner.invoke(args=["audit", "anchor", "--file", str(anchor_file)])

    assert written.exit_code == 0, written.output
    assert f"anchor #{EVENTS}" in written.output
    assert json.loads(anchor_file.read_text())["seq"] == EVENTS
    sql(chain, "DELETE FROM audit_event WHERE seq > 6")
    sql(chain, "UPDATE audit_head SET seq = 6, hash = :hash", hash=column(chain, "hash", 6))
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0

    result = runner.invoke(args=["audit", "verify", "--anchor", str(anchor_file)])

    assert result.exit_code == 1
    assert "audit chain BROKEN at #7" in result.output
    assert "truncated" in result.output


def test_i9_cli_verify_refuses_a_file_that_is_not_an_anchor(chain, tmp_path):
    bogus = tmp_path / "bogus.json"
    bogus.write_text("not json at all")

    result = chain.test_cli_runner().invoke(args=["audit", "verify", "--anchor", str(bogus)])

    assert result.exit_code == 1
    assert "cannot use" in result.output and "not an anchor" in result.output
    assert "Traceback" not in result.output
    assert checkpoints(chain) == []


def test_i9_cli_anchor_needs_a_destination(chain):
    result = chain.test_cli_runner().invoke(args=["audit", "anchor"])

    assert result.exit_code == 2
    assert "Give --file, --url or both." in result.output


def test_i9_cli_anchor_posts_to_a_url(chain, httpserver):
    httpserver.expect_request("/anchors", method="POST").respond_with_data("ok")

    result = chain.test_cli_runner().invoke(args=["audit", "anchor", "--url", httpserver.url_for("/anchors")])

    assert result.exit_code == 0, result.output
    [(request, _)] = httpserver.log
    assert json.loads(request.get_data()) == {"seq": EVENTS, "hash": head(chain)[1], "at": request.json["at"]}


# --- I1: a failing audit write leaves nothing behind, the head included ---------------------------


def test_i1_a_failing_audit_write_leaves_no_event_and_does_not_advance_the_head(chain, monkeypatch):
    before = head(chain)

    def outbox_fails(event):
        raise OperationalError("INSERT INTO outbox_message", {}, Exception("disk I/O error"))

    with chain.app_context():
        audit.record("test.first", actor=Actor.system("test"), at=datetime.now(UTC))
        audit.record("test.second", actor=Actor.system("test"), at=datetime.now(UTC))
        monkeypatch.setattr(events, "published", outbox_fails)
        with pytest.raises(OperationalError):
            db.session.commit()  # the first event is appended and the head moves, then the outbox fails…
        db.session.rollback()  # …and the failed transaction takes it all back
        monkeypatch.undo()
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == EVENTS

    assert head(chain) == before
    write_events(chain, 1, start=EVENTS)  # the next event continues from the real head
    verdict = verify(chain)
    assert verdict.ok and verdict.verified_seq == EVENTS + 1


# --- events join the chain at commit, and leave with a rollback ---------------------------------


def test_an_event_gets_its_link_when_its_transaction_commits(chain):
    with chain.app_context():
        event = audit.record("test.pending", actor=Actor.system("test"), at=datetime.now(UTC))
        assert (event.seq, event.hash) == (None, None)  # not a link yet: the head is not held
        db.session.commit()

    assert event.seq == EVENTS + 1 and head(chain) == (event.seq, event.hash)
    assert verify(chain).ok


def test_a_rolled_back_savepoint_takes_only_its_own_events(chain):
    with chain.app_context():
        audit.record("test.kept", actor=Actor.system("test"), at=datetime.now(UTC))
        savepoint = db.session.begin_nested()
        audit.record("test.dropped", actor=Actor.system("test"), at=datetime.now(UTC))
        savepoint.rollback()
        audit.record("test.kept_too", actor=Actor.system("test"), at=datetime.now(UTC))
        db.session.commit()
        actions = list(
            db.session.scalars(
                select(AuditEvent.action).where(AuditEvent.seq > EVENTS).order_by(AuditEvent.seq)
            )
        )

    assert actions == ["test.kept", "test.kept_too"]
    assert verify(chain).ok


# --- the encoding and the MAC ------------------------------------------------------------------

AWKWARD = [
    {"actor_label": "👻 ghost|~:12:", "details": {"reason": "é vs e\u0301, 漢字, tab\tnew\nline", "x": ""}},
    {"actor_label": "", "ip": "", "target_type": "user", "target_id": 2**31 - 1, "tenant_id": -5},
    {"actor_label": "~", "ip": "2001:db8::1", "impersonation_id": 0, "details": {"n": [1, {"a": None}]}},
    {"actor_label": "x" * 254, "details": {"long": "y" * 5000}},
]


def test_i9_the_databases_encode_events_exactly_as_python_does(app, clock):
    """The verifier lets the database write each event's canonical bytes; they must be Python's."""
    with app.app_context():
        for n, awkward in enumerate(AWKWARD):
            fields = dict(awkward)
            at = datetime.now(UTC) + timedelta(microseconds=0 if n == 0 else 999_999 - n)
            audit.record("test.awkward", actor=Actor("staff", 7, fields.pop("actor_label")), at=at, **fields)
            db.session.commit()
        with audit_chain._snapshot() as reader:
            walked = [(row[0], row[2]) for row in reader.rows(batch=2)]
            assert len(walked) == len(AWKWARD)
            for seq, encoded in walked:
                assert encoded == reader.encoded(seq)

    assert verify(app).ok


@pytest.fixture
def sqlite_app(sqlite_url, clock):
    """The app on SQLite only (tables emptied after)."""
    app = create_app(config_for(sqlite_url))
    yield app
    _empty_tables(app)
    _dispose(app)


def test_i9_an_instant_stored_as_other_text_is_still_the_same_instant(sqlite_app):
    """SQLite keeps `at` as text: the same instant written another way is encoded by Python instead
    (PostgreSQL keeps a timestamp, which has one text form)."""
    write_events(sqlite_app, 3)
    with sqlite_app.app_context():
        stored = db.session.execute(text("SELECT at FROM audit_event WHERE seq = 2")).scalar()
    sql(sqlite_app, "UPDATE audit_event SET at = :at WHERE seq = 2", at=stored.replace(" ", "T") + "+00:00")

    assert verify(sqlite_app).ok
    sql(sqlite_app, "UPDATE audit_event SET at = :at WHERE seq = 2", at=stored.replace(" ", "T") + "+01:00")
    assert verify(sqlite_app).broken_seq == 2  # an hour earlier is another instant


@pytest.mark.parametrize("key", [b"", b"k", b"testing-audit-key", b"x" * 64, b"y" * 65, bytes(range(200))])
def test_i9_chain_mac_is_standard_hmac_sha256(key):
    message = b"prev|" + bytes(range(256))

    assert ChainMac(key).hexdigest(message) == hmac.new(key, message, hashlib.sha256).hexdigest()


def link(**changes) -> Link:
    values = {
        "seq": 1,
        "at": datetime(2026, 11, 23, 12, 0, 5, 120, tzinfo=UTC),
        "actor_type": "staff",
        "actor_id": 3,
        "actor_label": "a",
        "action": "b",
        "outcome": "success",
        "target_type": None,
        "target_id": None,
        "tenant_id": None,
        "impersonation_id": None,
        "ip": None,
        "details": "{}",
    }
    return Link(**{**values, **changes})


def test_i9_the_encoding_cannot_be_shifted_between_fields():
    assert encode(link(actor_label="a|b", action="c")) != encode(link(actor_label="a", action="b|c"))
    assert encode(link(ip=None)) != encode(link(ip="~"))
    assert encode(link(ip="")) != encode(link(ip=None))


def test_i9_timestamps_encode_alike_from_every_database():
    aware = datetime(2026, 11, 23, 12, 0, 5, 120, tzinfo=UTC)
    elsewhere = aware.astimezone(datetime.now().astimezone().tzinfo)

    assert {
        timestamp(aware),
        timestamp(elsewhere),
        timestamp(aware.replace(tzinfo=None)),  # PostgreSQL hands back naive UTC
        timestamp("2026-11-23 12:00:05.000120"),  # SQLite's text
        timestamp("2026-11-23T12:00:05.000120+00:00"),
    } == {"2026-11-23T12:00:05.000120+00:00"}
