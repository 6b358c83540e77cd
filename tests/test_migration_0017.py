"""Migration 0017 drops the ghost trail's foreign key and keeps every row of the trail; its downgrade
puts the key back (on SQLite, batch mode copies the table to do either)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import inspect, select

from impersonator.extensions import db
from impersonator.models import GhostRequest, Tenant, TenantDomain, User
from impersonator.services.audit import Actor
from impersonator.services.passwords import hash_password
from impersonator.services.staff.accounts import create_staff
from tests.conftest import flask_db
from tests.support.ghost_rows import ghost_session

NOW = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
PATHS = ["/", "/projects", "/settings/support-access", "/projects/new?from=menu"]


def trail_keys(app) -> list[dict]:
    with app.app_context():
        return inspect(db.engine).get_foreign_keys("ghost_request")


def trail(app) -> list[tuple]:
    with app.app_context():
        rows = db.session.execute(
            select(
                GhostRequest.id, GhostRequest.impersonation_id, GhostRequest.method, GhostRequest.path
            ).order_by(GhostRequest.id)
        )
        return [tuple(row) for row in rows]


def record_a_session(app) -> None:
    """A ghost session of the 0016 schema's kind and its trail, written through the models (none of
    their tables but the trail changes in 0017)."""
    with app.app_context():
        tenant = Tenant(slug="acme", name="Acme", created_at=NOW)
        tenant.domains.append(TenantDomain(domain="acme.localhost"))
        user = User(
            tenant=tenant,
            email="alice@acme.example",
            name="Alice",
            password_hash=hash_password("pw"),
            created_at=NOW,
        )
        db.session.add(user)
        db.session.commit()
        staff, _ = create_staff(
            email="imp@staff.example", name="Imp", role="impersonator", actor=Actor.system("test"), now=NOW
        )
        imp = ghost_session(staff.id, user, NOW)
        for n, path in enumerate(PATHS):
            db.session.add(
                GhostRequest(
                    impersonation_id=imp.id,
                    at=NOW + timedelta(seconds=n),
                    method="GET",
                    path=path,
                    status=200,
                )
            )
        db.session.commit()


def test_0017_drops_the_trails_key_and_keeps_its_rows_and_its_downgrade_restores_the_key(fresh_app):
    flask_db(fresh_app, "upgrade", "0016_masking")
    record_a_session(fresh_app)
    before = trail(fresh_app)
    assert len(before) == len(PATHS)
    assert [key["referred_table"] for key in trail_keys(fresh_app)] == ["impersonation"]

    flask_db(fresh_app, "upgrade")
    assert trail_keys(fresh_app) == []
    assert trail(fresh_app) == before

    flask_db(fresh_app, "downgrade", "0016_masking")
    [key] = trail_keys(fresh_app)
    assert (key["referred_table"], key["constrained_columns"]) == ("impersonation", ["impersonation_id"])
    assert key["options"].get("ondelete", "").upper() == "CASCADE"
    assert trail(fresh_app) == before
