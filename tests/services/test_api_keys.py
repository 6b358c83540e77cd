"""API keys (issue 15 part 3, DESIGN §12, I12): `imp_live_<id>_<secret>`, shown once, stored only as
a keyed hash, scoped, revocable, never outliving the standing of the admin who created them; the
seal that carries a new key to the page that shows it once."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from impersonator.extensions import db
from impersonator.models import ApiKey, AuditEvent, Staff
from impersonator.services import audit
from impersonator.services.api import keys
from impersonator.services.api.keys import KeyRefused
from impersonator.services.errors import InvalidInput
from tests.support.records import audit_events

FORMAT = re.compile(r"imp_live_([1-9][0-9]*)_([A-Za-z0-9_-]{43})")


@pytest.fixture
def admin(app, make_staff) -> int:
    return make_staff("admin").id


def new_key(app, admin: int, clock, scopes=("audit:read",), name="SIEM") -> str:
    with app.app_context():
        return keys.create(
            name, list(scopes), admin=db.session.get(Staff, admin), ip="203.0.113.9", now=clock.now()
        ).plaintext


def authenticate(app, header: str | None) -> int:
    with app.app_context():
        return keys.authenticate(header).id


def refusal(app, header: str | None) -> str:
    with app.app_context(), pytest.raises(KeyRefused) as refused:
        keys.authenticate(header)
    assert refused.value.status == 401
    return refused.value.reason


def test_a_key_carries_its_id_and_only_a_keyed_hash_of_its_secret_is_stored(app, admin, clock):
    key = new_key(app, admin, clock, scopes=("sessions:terminate", "audit:read", "audit:read"))

    key_id, secret = FORMAT.fullmatch(key).groups()
    with app.app_context():
        row = db.session.get(ApiKey, int(key_id))
        assert row.scope_list == ["audit:read", "sessions:terminate"]
        assert row.secret_hash != secret and secret not in row.secret_hash
        stored = " ".join(str(value) for value in db.session.execute(select(ApiKey.__table__)).one())
        assert secret not in stored
        assert secret not in " ".join(e.details for e in db.session.scalars(select(AuditEvent)))
    assert authenticate(app, f"Bearer {key}") == int(key_id)
    assert authenticate(app, f"bearer   {key}") == int(key_id)  # the scheme is case-insensitive (RFC 7235)
    [event] = audit_events(app, "api_key.created")
    assert (event["actor_id"], event["ip"], event["target_id"]) == (admin, "203.0.113.9", int(key_id))


def test_two_keys_never_share_a_secret(app, admin, clock):
    first, second = new_key(app, admin, clock), new_key(app, admin, clock)

    assert first.split("_", 3)[3] != second.split("_", 3)[3]


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "api_key_missing"),
        ("Token abc", "api_key_missing"),
        ("Bearer imp_test_1_" + "a" * 43, "api_key_malformed"),
        ("Bearer imp_live_01_" + "a" * 43, "api_key_malformed"),
        ("Bearer imp_live_1_" + "a" * 42 + "!", "api_key_malformed"),
        ("Bearer imp_live_77_" + "a" * 43, "api_key_unknown"),
    ],
)
def test_missing_malformed_and_unknown_keys_are_refused(app, admin, clock, header, reason):
    new_key(app, admin, clock)

    assert refusal(app, header) == reason


def test_the_secret_of_one_key_does_not_open_another(app, admin, clock):
    first, second = new_key(app, admin, clock), new_key(app, admin, clock)
    first_id, second_secret = first.split("_")[2], second.split("_", 3)[3]

    assert refusal(app, f"Bearer imp_live_{first_id}_{second_secret}") == "api_key_unknown"


def test_a_revoked_key_is_refused_and_revoking_twice_is_audited_once(app, admin, clock):
    key = new_key(app, admin, clock)
    key_id = int(key.split("_")[2])
    with app.app_context():
        staff = db.session.get(Staff, admin)
        assert keys.revoke(key_id, admin=staff, ip=None, now=clock.now()) is True
        assert keys.revoke(key_id, admin=staff, ip=None, now=clock.now()) is False

    assert refusal(app, f"Bearer {key}") == "api_key_revoked"
    assert len(audit_events(app, "api_key.revoked")) == 1


@pytest.mark.parametrize("change", ["disabled", "no longer an admin"])
def test_a_key_never_outlives_its_creators_standing(app, admin, clock, change):
    key = new_key(app, admin, clock)
    with app.app_context():
        staff = db.session.get(Staff, admin)
        if change == "disabled":
            staff.active = False
        else:
            staff.role = "security"
        db.session.commit()

    assert refusal(app, f"Bearer {key}") == "api_key_creator_inactive"


@pytest.mark.parametrize(
    ("name", "scopes", "reason"),
    [
        ("", ["audit:read"], "required"),
        ("x" * 101, ["audit:read"], "too_long"),
        ("SIEM", [], "no_scope"),
        ("SIEM", ["audit:write"], "unknown_scope"),
        ("SIEM", ["audit:read", "admin"], "unknown_scope"),
    ],
)
def test_a_key_needs_a_readable_name_and_known_scopes(app, admin, clock, name, scopes, reason):
    with app.app_context(), pytest.raises(InvalidInput) as refused:
        keys.create(name, scopes, admin=db.session.get(Staff, admin), ip=None, now=clock.now())

    assert refused.value.reason == reason
    with app.app_context():
        assert db.session.scalars(select(ApiKey)).all() == []


def test_i1_a_failing_audit_write_creates_no_key(app, admin, clock, monkeypatch):
    def record(action, **kwargs):
        raise OperationalError("INSERT INTO audit_event", {}, Exception("disk I/O error"))

    monkeypatch.setattr(audit, "record", record)
    with app.app_context():
        with pytest.raises(OperationalError):
            keys.create("SIEM", ["audit:read"], admin=db.session.get(Staff, admin), ip=None, now=clock.now())
        db.session.rollback()
        assert db.session.scalars(select(ApiKey)).all() == []


def test_the_seal_opens_once_within_its_time_and_never_after(app, clock):
    with app.app_context():
        sealed = keys.seal("imp_live_1_secret")
        assert keys.unseal(sealed, now=clock.now()) == "imp_live_1_secret"
        later = clock.now() + timedelta(seconds=keys.REVEAL_SECONDS + 1)
        assert keys.unseal(sealed, now=later) is None
        assert keys.unseal(sealed[:-2] + "AA", now=clock.now()) is None
        assert keys.unseal(["not", "text"], now=clock.now()) is None
        assert "secret" not in sealed
