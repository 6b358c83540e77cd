"""The JSON API's door (issue 15 part 3): only a live bearer key with the view's scope gets in; a
signed-in admin's cookie never does; CSRF does not apply; every call is audited; errors are JSON."""

from __future__ import annotations

import pytest

from impersonator.extensions import db
from impersonator.models import ApiKey, Staff
from impersonator.services.api import keys
from impersonator.services.audit import Actor
from impersonator.services.staff import accounts
from tests.support.api import ALL_SCOPES, call, is_json_error, make_key
from tests.support.records import audit_events
from tests.support.web import CONSOLE, sign_in


@pytest.fixture
def key(app, admin_account) -> str:
    return make_key(app, admin_account.id)


def api_calls(app) -> list[dict]:
    return audit_events(app, "api.request")


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-key",
        "Bearer imp_live_1_short",
        "Bearer imp_live_0_" + "a" * 43,
        "Bearer imp_live_999999_" + "a" * 43,
        "Bearer imp_live_1_" + "a" * 43 + "x",
    ],
)
def test_a_missing_malformed_or_unknown_key_is_refused_with_401(app, client, key, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}

    response = call(client, "GET", "/audit-events", headers=headers)

    is_json_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    [event] = api_calls(app)
    assert event["actor_type"] == "anonymous" and event["outcome"] == "denied"
    assert event["details"]["status"] == 401


def test_a_key_with_a_wrong_secret_is_refused_and_the_refusal_names_the_claimed_id_not_the_secret(
    app, client, key
):
    key_id = int(key.split("_")[2])
    forged = key[: -len(key.split("_", 3)[3])] + "A" * 43

    response = call(client, "GET", "/audit-events", forged)

    is_json_error(response, 401, "api_key_unknown")
    [event] = api_calls(app)
    assert event["details"]["claimed_key_id"] == key_id
    assert "A" * 43 not in str(event) and key not in str(event)


def test_a_revoked_key_is_refused_at_its_next_call(app, client, admin_account, key):
    assert call(client, "GET", "/audit-events", key).status_code == 200
    with app.app_context():
        api_key = db.session.scalars(db.select(ApiKey)).one()
        keys.revoke(
            api_key.id, admin=db.session.get(Staff, admin_account.id), ip=None, now=api_key.created_at
        )

    is_json_error(call(client, "GET", "/audit-events", key), 401, "api_key_revoked")


def test_a_key_stops_working_when_its_creator_is_disabled(app, client, admin_account, key, clock):
    with app.app_context():
        admin = db.session.get(Staff, admin_account.id)
        accounts.disable_staff(admin, actor=Actor.system("test"), ip=None, now=clock.now())

    is_json_error(call(client, "GET", "/sessions", key), 401, "api_key_creator_inactive")


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/impersonations", "impersonations:read"),
        ("GET", "/impersonations/1", "impersonations:read"),
        ("GET", "/sessions", "impersonations:read"),
        ("POST", "/sessions/1/terminate", "sessions:terminate"),
        ("GET", "/audit-events", "audit:read"),
    ],
)
def test_a_key_without_the_scope_is_refused_with_403_and_audited(
    app, client, admin_account, method, path, scope
):
    others = [s for s in ALL_SCOPES if s != scope]
    key = make_key(app, admin_account.id, others, name="Narrow")

    response = call(client, method, path, key, json={"reason": "Scope test of the API"})

    is_json_error(response, 403, "insufficient_scope")
    [event] = api_calls(app)
    assert event["actor_type"] == "api_key" and event["outcome"] == "denied"
    assert "Narrow" in event["actor_label"] and admin_account.email in event["actor_label"]
    assert event["details"]["error"] == "insufficient_scope" and event["details"]["status"] == 403


def test_the_cookie_of_a_signed_in_admin_does_not_authenticate_the_api(app, client, admin_account, clock):
    sign_in(client, admin_account, clock)
    assert client.get("/admin/api-keys/", base_url=CONSOLE).status_code == 200  # the cookie works on pages

    for path in ("/impersonations", "/sessions", "/audit-events"):
        response = call(client, "GET", path)
        is_json_error(response, 401, "api_key_missing")
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    is_json_error(call(client, "POST", "/sessions/1/terminate", json={"reason": "x" * 30}), 401)


def test_no_csrf_token_is_needed_a_key_is(app, client, key):
    # With CSRF on (the test config keeps it on), a POST without a token reaches the view.
    assert app.config["WTF_CSRF_ENABLED"]

    response = call(client, "POST", "/sessions/4242/terminate", key, json={"reason": "Not a live session"})

    is_json_error(response, 404, "impersonation_not_found")


def test_every_call_is_audited_with_the_key_as_actor_and_the_key_remembers_its_last_use(
    app, client, key, clock
):
    call(client, "GET", "/sessions", key)
    call(client, "GET", "/impersonations", key, query_string={"limit": "0"})

    first, second = api_calls(app)
    assert (first["outcome"], first["details"]["status"], first["details"]["endpoint"]) == (
        "success",
        200,
        "api.live_sessions",
    )
    assert (second["outcome"], second["details"]["status"], second["details"]["error"]) == (
        "failure",
        400,
        "bad_filter",
    )
    assert first["actor_type"] == "api_key" and first["actor_id"] == int(key.split("_")[2])
    with app.app_context():
        api_key = db.session.scalars(db.select(ApiKey)).one()
        assert api_key.last_used_at == clock.now()
    assert all(key.split("_", 3)[3] not in str(event) for event in (first, second))
