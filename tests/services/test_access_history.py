"""The customer's access history (DESIGN §9; issue 4): every session support had in my account,
newest first, who (display name), why (unless hidden), mode, how long, how it ended, what was done;
and *Revoke now* on my own live sessions only."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from impersonator.extensions import db
from impersonator.models import AuditEvent, Impersonation
from impersonator.services.consent import access_history
from tests.support.ghost_rows import ghost_session, held_back, trail, user_by_email


@pytest.fixture
def staff_id(make_staff) -> int:
    return make_staff("impersonator").id


def alice():
    return user_by_email("alice@acme.example")


def test_a_session_shows_who_why_mode_and_what_was_done(app, tenants, clock, staff_id):
    now = clock.now()
    with app.app_context():
        imp = ghost_session(staff_id, alice(), now, ticket="SUP-1")
        trail(
            imp,
            ("GET", "/", 200),
            ("GET", "/account", 200),
            ("HEAD", "/", 200),
            ("POST", "/projects", 303),
            ("GET", "/projects", 303),  # a redirect is still a page asked for
            ("POST", "/account/email", 403),
            ("GET", "/settings/support-access", 403),
            ("GET", "/no-such-page", 404),
            ("GET", "/static/css/app.css", 200),  # not a page: left out
            ("GET", "/static/js/ghost-countdown.js", 304),
            at=now,
        )
        held_back(imp, 2, at=now)

        [entry] = access_history.for_user(alice(), now)

        assert entry.impersonation_id == imp.id
        assert entry.staff_name == "Impersonator Person"  # the display name, never the email
        assert "@" not in entry.staff_name
        assert (entry.justification, entry.ticket) == (imp.reason, "SUP-1")
        assert (entry.mode, entry.mode_text) == ("full", "full access (may make changes)")
        assert (entry.started_at, entry.ends_at, entry.chosen_minutes) == (
            imp.redeemed_at,
            imp.expires_at,
            30,
        )
        assert entry.active and entry.end_text is None and entry.ended_at is None
        assert (entry.actual, entry.actual_text) == (timedelta(minutes=1), "1 minute")
        assert (entry.pages_viewed, entry.changes_made, entry.refused, entry.held_back) == (4, 1, 3, 2)
        assert entry.trail_total == len(entry.trail) == 8
        assert not [s for s in entry.trail if s.path.startswith("/static/")]
        assert [(s.method, s.path, s.status, s.kind) for s in entry.trail[:6]] == [
            ("GET", "/", 200, "viewed"),
            ("GET", "/account", 200, "viewed"),
            ("HEAD", "/", 200, "viewed"),
            ("POST", "/projects", 303, "changed"),
            ("GET", "/projects", 303, "viewed"),
            ("POST", "/account/email", 403, "refused"),
        ]
        assert [s.at for s in entry.trail] == sorted(s.at for s in entry.trail)


def test_ending_the_session_is_not_counted_as_a_change(app, tenants, clock, staff_id):
    now = clock.now()
    with app.app_context():
        imp = ghost_session(staff_id, alice(), now, ended_at=now, end_reason="staff_ended")
        trail(imp, ("GET", "/", 200), ("POST", "/impersonation/end", 303), at=now)

        [entry] = access_history.for_user(alice(), now)

        assert (entry.pages_viewed, entry.changes_made, entry.refused) == (1, 0, 0)
        assert [s.kind for s in entry.trail] == ["viewed", "ended"]


def test_sessions_are_listed_newest_first_and_only_those_that_started(app, tenants, clock, staff_id):
    now = clock.now()
    with app.app_context():
        older = ghost_session(
            staff_id,
            alice(),
            now,
            redeemed_at=now - timedelta(days=2),
            expires_at=now - timedelta(days=2) + timedelta(minutes=30),
        )
        newer = ghost_session(staff_id, alice(), now)
        # Issued but never used: nobody entered the account, so it is not in the history.
        ghost_session(staff_id, alice(), now, redeemed_at=None, expires_at=None)

        ids = [entry.impersonation_id for entry in access_history.for_user(alice(), now)]

        assert ids == [newer.id, older.id]


def test_only_the_users_own_sessions_are_listed(app, tenants, clock, staff_id):
    now = clock.now()
    with app.app_context():
        ghost_session(staff_id, user_by_email("gina@globex.example"), now)

        assert access_history.for_user(alice(), now) == []


def test_the_justification_is_hidden_when_the_tenant_says_so(app, tenants, clock, staff_id):
    now = clock.now()
    with app.app_context():
        ghost_session(staff_id, alice(), now, ticket="SUP-1")
        alice().tenant.hide_justification = True
        db.session.commit()

        [entry] = access_history.for_user(alice(), now)

        assert entry.justification is None and entry.ticket is None


@pytest.mark.parametrize(
    ("reason", "text"),
    [
        ("staff_ended", "ended by the support agent"),
        ("user_revoked", "ended by you"),
        ("security_terminated", "terminated by the security team"),
        ("expired", "time limit reached"),
        ("switched_off", "ended: support access was switched off"),
        ("staff_disabled", "ended: the support agent's access was withdrawn"),
        ("policy_changed", "ended: the access rules for your account changed"),
    ],
)
def test_how_it_ended_is_said_in_the_customers_words(app, tenants, clock, staff_id, reason, text):
    now = clock.now()
    with app.app_context():
        ghost_session(staff_id, alice(), now, ended_at=now - timedelta(seconds=20), end_reason=reason)

        [entry] = access_history.for_user(alice(), now)

        assert (entry.active, entry.end_text) == (False, text)
        assert entry.ended_at == now - timedelta(seconds=20)
        assert entry.actual_text == "under a minute"


def test_a_session_past_its_limit_ended_by_itself_at_the_limit(app, tenants, clock, staff_id):
    now = clock.now()
    with app.app_context():
        limit = ghost_session(staff_id, alice(), now).expires_at
    clock.advance(hours=2)
    with app.app_context():
        [entry] = access_history.for_user(alice(), clock.now())

        assert (entry.active, entry.end_text, entry.ended_at) == (False, "time limit reached", limit)
        assert entry.actual == timedelta(minutes=30)
        assert entry.actual_text == "30 minutes"


def test_the_trail_is_capped_but_the_counts_cover_every_request(app, tenants, clock, staff_id, monkeypatch):
    monkeypatch.setattr(access_history, "TRAIL_LIMIT", 3)
    now = clock.now()
    with app.app_context():
        first = ghost_session(staff_id, alice(), now)
        second = ghost_session(staff_id, alice(), now)
        trail(first, *[("GET", f"/page/{n}", 200) for n in range(5)], at=now)
        trail(second, ("GET", "/", 200), at=now)

        entries = {e.impersonation_id: e for e in access_history.for_user(alice(), now)}

        assert [s.path for s in entries[first.id].trail] == ["/page/0", "/page/1", "/page/2"]
        assert (entries[first.id].trail_total, entries[first.id].pages_viewed) == (5, 5)
        assert [s.path for s in entries[second.id].trail] == ["/"]


# --- Revoke now ---------------------------------------------------------------------------------


def test_revoke_ends_my_live_session_as_user_revoked_with_me_as_actor(app, tenants, clock, staff_id):
    now = clock.now()
    with app.app_context():
        imp = ghost_session(staff_id, alice(), now)

        assert access_history.revoke(alice(), imp.id, ip="203.0.113.9", now=now) is True

        row = db.session.get(Impersonation, imp.id)
        assert (row.ended_at, row.end_reason) == (now, "user_revoked")
        [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "impersonation.ended"))
        assert (event.actor_type, event.actor_id, event.ip) == ("customer", alice().id, "203.0.113.9")
        assert json.loads(event.details) == {"impersonation_id": imp.id, "reason": "user_revoked"}
        assert event.impersonation_id == imp.id
        [entry] = access_history.for_user(alice(), now)
        assert entry.end_text == "ended by you"


def test_revoking_an_ended_session_changes_nothing(app, tenants, clock, staff_id):
    now = clock.now()
    with app.app_context():
        imp = ghost_session(staff_id, alice(), now, ended_at=now, end_reason="staff_ended")
        expired = ghost_session(staff_id, alice(), now, expires_at=now)

        assert access_history.revoke(alice(), imp.id, ip=None, now=now) is False
        assert access_history.revoke(alice(), expired.id, ip=None, now=now) is False

        assert db.session.get(Impersonation, imp.id).end_reason == "staff_ended"
        assert db.session.get(Impersonation, expired.id).ended_at is None
        assert (
            db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "impersonation.ended")) is None
        )


def test_another_accounts_session_is_not_found(app, tenants, clock, staff_id):
    now = clock.now()
    with app.app_context():
        ginas = ghost_session(staff_id, user_by_email("gina@globex.example"), now)
        unredeemed = ghost_session(staff_id, alice(), now, redeemed_at=None, expires_at=None)

        for impersonation_id in (ginas.id, unredeemed.id, 999_999):
            with pytest.raises(access_history.SessionNotFound) as missing:
                access_history.revoke(alice(), impersonation_id, ip=None, now=now)
            assert missing.value.status == 404

        assert db.session.get(Impersonation, ginas.id).ended_at is None
        assert db.session.get(Impersonation, unredeemed.id).ended_at is None
