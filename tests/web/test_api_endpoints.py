"""What the API serves (issue 15 part 3): impersonations with the audit page's filters and keyset
pages, one impersonation with its events, live sessions, terminate (the ghost's next request is
refused), the audit log by `seq` cursor, and its OpenAPI description. Every answer is validated
against that description with openapi-core (tests/support/api.py `call`)."""

from __future__ import annotations

import pytest
from openapi_core import OpenAPI
from sqlalchemy import update

from impersonator.console.api.openapi import DESCRIPTION
from impersonator.extensions import db
from impersonator.models import AuditEvent, Impersonation
from impersonator.services.api import sessions as api_sessions
from impersonator.services.errors import InvalidInput
from tests.support.api import call, is_json_error, make_key
from tests.support.customer import ghost_in
from tests.support.impersonation import impersonations
from tests.support.records import audit_events
from tests.support.web import ACME

REASON = "SEC-12: access from an unexpected country"


@pytest.fixture
def key(app, admin_account) -> str:
    return make_key(app, admin_account.id)


@pytest.fixture
def ghost(app, make_staff, alice, clock):
    """A support agent in Alice's account right now, in a browser of their own."""
    browser = ghost_in(app, make_staff("support", email="sam@staff.example"), clock, alice)
    assert browser.get("/", base_url=ACME).status_code == 200
    return browser


def test_the_openapi_description_is_served_and_is_valid_openapi_3_1(client):
    response = call(client, "GET", "/openapi.json")

    assert response.status_code == 200
    assert response.get_json() == DESCRIPTION
    assert DESCRIPTION["openapi"] == "3.1.0"
    OpenAPI.from_dict(DESCRIPTION)  # raises when the description breaks the OpenAPI schema


def test_impersonations_list_newest_first_with_keyset_pages(app, client, key, make_staff, alice, clock):
    agent = make_staff("support", email="sam@staff.example")
    for _ in range(3):
        ghost_in(app, agent, clock, alice)
    ids = [imp.id for imp in impersonations(app)]

    first = call(client, "GET", "/impersonations", key, query_string={"limit": "2"}).get_json()
    second = call(
        client, "GET", "/impersonations", key, query_string={"limit": "2", "before": str(first["next"])}
    ).get_json()

    assert [item["id"] for item in first["items"]] == ids[::-1][:2]
    assert [item["id"] for item in second["items"]] == ids[:1]
    assert second["next"] is None
    item = first["items"][0]
    assert (item["state"], item["mode"], item["staff"]["email"], item["user"]["email"]) == (
        "active",
        "read_only",
        "sam@staff.example",
        "alice@acme.example",
    )
    assert item["tenant"]["slug"] == "acme" and item["redeemed_at"].endswith("Z")
    assert "token_jti" not in item and "ghost_secret_hash" not in item


def test_impersonations_take_the_audit_pages_filters(app, client, key, make_staff, alice, clock):
    sam, sue = (
        make_staff("support", email="sam@staff.example"),
        make_staff("support", email="sue@staff.example"),
    )
    ghost_in(app, sam, clock, alice)
    ghost_in(app, sue, clock, alice)
    today = clock.now().date().isoformat()

    def ids(**query) -> list[str]:
        answer = call(client, "GET", "/impersonations", key, query_string=query).get_json()
        return [item["staff"]["email"] for item in answer["items"]]

    assert ids(staff="sue@staff.example") == ["sue@staff.example"]
    assert ids(staff=str(sam.id)) == ["sam@staff.example"]
    assert ids(tenant="acme", user="alice@acme.example") == ["sue@staff.example", "sam@staff.example"]
    assert ids(tenant="globex") == []
    assert ids(**{"from": today, "to": today}) == ["sue@staff.example", "sam@staff.example"]
    assert ids(**{"to": "2020-01-01"}) == []


def test_one_impersonation_with_its_audit_events_in_chain_order(app, client, key, ghost):
    [imp] = impersonations(app)

    answer = call(client, "GET", f"/impersonations/{imp.id}", key).get_json()

    assert answer["id"] == imp.id
    actions = [event["action"] for event in answer["events"]]
    assert actions[:2] == ["impersonation.requested", "impersonation.started"]
    seqs = [event["seq"] for event in answer["events"]]
    assert seqs == sorted(seqs)


def test_live_sessions_list_only_the_active_ones(app, client, key, ghost, clock):
    [imp] = impersonations(app)

    live = call(client, "GET", "/sessions", key).get_json()["items"]

    assert [(s["id"], s["state"]) for s in live] == [(imp.id, "active")]
    assert 0 < live[0]["seconds_left"] <= 60 * 60
    clock.advance(hours=2)
    assert call(client, "GET", "/sessions", key).get_json() == {"items": []}


def test_terminate_through_the_api_ends_the_session_on_the_next_tenant_request(app, client, key, ghost):
    [imp] = impersonations(app)

    response = call(client, "POST", f"/sessions/{imp.id}/terminate", key, json={"reason": REASON})

    assert response.status_code == 200
    answer = response.get_json()
    assert answer["terminated"] is True
    assert (answer["impersonation"]["state"], answer["impersonation"]["end_reason"]) == (
        "ended",
        "security_terminated",
    )
    assert answer["impersonation"]["end_note"] == REASON
    next_click = ghost.get("/", base_url=ACME)
    assert next_click.status_code == 403
    assert "<h1>Impersonation ended</h1>" in next_click.text
    # The key is the actor (its label names the admin who created it), in the ended event itself.
    [ended] = audit_events(app, "impersonation.ended")
    assert ended["actor_type"] == "api_key" and ended["actor_id"] == int(key.split("_")[2])
    assert ended["details"] == {"impersonation_id": imp.id, "reason": "security_terminated", "note": REASON}

    again = call(client, "POST", f"/sessions/{imp.id}/terminate", key, json={"reason": REASON})
    assert again.status_code == 200 and again.get_json()["terminated"] is False
    assert len(audit_events(app, "impersonation.ended")) == 1


def test_terminate_refuses_a_missing_reason_and_changes_nothing(app, client, key, ghost):
    [imp] = impersonations(app)

    is_json_error(call(client, "POST", f"/sessions/{imp.id}/terminate", key, json={}), 400, "required")

    assert impersonations(app)[0].ended_at is None
    assert ghost.get("/", base_url=ACME).status_code == 200


def test_audit_events_follow_the_log_by_cursor_without_gaps_or_repeats(
    app, client, key, make_staff, alice, clock
):
    ghost_in(app, make_staff("support"), clock, alice)
    seen: list[int] = []
    cursor = 0
    for _ in range(50):
        answer = call(client, "GET", "/audit-events", key, query_string={"after": str(cursor), "limit": "3"})
        page = answer.get_json()
        assert len(page["items"]) <= 3
        seen += [event["seq"] for event in page["items"]]
        if not page["items"]:
            assert page["next"] == cursor
            break
        cursor = page["next"]
        assert cursor == seen[-1]
    with app.app_context():
        head = db.session.scalar(db.select(db.func.max(AuditEvent.seq)))
    # Every call is an event of its own: the follower also reads the events of its own earlier calls.
    assert seen == list(range(1, head))  # the last call's own event comes after its read
    actions = {event["action"] for event in call(client, "GET", "/audit-events", key).get_json()["items"]}
    assert {"impersonation.started", "api.request", "api_key.created"} <= actions


def test_an_audit_event_carries_its_chain_fields(app, client, key):
    [event] = call(client, "GET", "/audit-events", key, query_string={"limit": "1"}).get_json()["items"]

    assert event["seq"] == 1
    assert len(event["hash"]) == 64 and len(event["prev_hash"]) == 64
    assert isinstance(event["details"], dict)


def test_the_cursor_stops_before_a_gap_rather_than_step_over_it(app, client, key, make_staff):
    for _ in range(3):
        make_staff("support")  # a few events
    with app.app_context():
        # A gap no commit can make (seq is allocated under the head's lock): an event deleted by hand.
        db.session.execute(db.delete(AuditEvent).where(AuditEvent.seq == 3))
        db.session.commit()

    page = call(client, "GET", "/audit-events", key, query_string={"after": "0"}).get_json()
    assert [event["seq"] for event in page["items"]] == [1, 2] and page["next"] == 2
    again = call(client, "GET", "/audit-events", key, query_string={"after": "2"}).get_json()
    assert again == {"items": [], "next": 2}


def test_i1_a_call_refused_half_way_changes_nothing_though_its_audit_event_commits(
    app, client, key, ghost, monkeypatch
):
    """The call's audit event is committed after the view (api/__init__.py audit_each_call): a change
    the refused service had made, and not committed, must not go with it."""
    [imp] = impersonations(app)

    def half_way(impersonation_id, **_kwargs):
        db.session.execute(
            update(Impersonation).where(Impersonation.id == impersonation_id).values(end_note="half-made")
        )
        raise InvalidInput("reason_required", "Give a reason.")

    monkeypatch.setattr(api_sessions, "terminate", half_way)

    is_json_error(call(client, "POST", f"/sessions/{imp.id}/terminate", key, json={}), 400, "reason_required")

    assert impersonations(app)[0].end_note is None
    [audited] = [e for e in audit_events(app, "api.request") if e["details"]["status"] == 400]
    assert audited["details"]["path"] == f"/api/v1/sessions/{imp.id}/terminate"
