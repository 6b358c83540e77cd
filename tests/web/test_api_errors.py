"""The API answers every error in its own JSON shape with the right status, never an HTML page:
Flask's own 404 and 405 under /api/ included, bad filters, bad bodies and rate limits. Every answer
here is also checked against the OpenAPI description (tests/support/api.py)."""

from __future__ import annotations

import pytest
from openapi_core.validation.response.exceptions import ResponseValidationError
from sqlalchemy.exc import OperationalError

from impersonator.services import audit
from tests.support.api import call, conforms, is_json_error, make_key
from tests.support.records import audit_events
from tests.support.web import CONSOLE


@pytest.fixture
def key(app, admin_account) -> str:
    return make_key(app, admin_account.id)


@pytest.mark.parametrize("path", ["/nope", "/impersonations/1/nope", "/sessions/abc/terminate", "/"])
def test_an_unknown_address_under_api_is_a_json_404(client, key, path):
    is_json_error(call(client, "GET", path, key, validate=False), 404, "not_found")


def test_an_unknown_address_outside_api_is_still_the_html_page(client):
    response = client.get("/no-such-page", base_url=CONSOLE)

    assert response.status_code in (302, 404)  # signed out: the sign-in; the point is: no JSON
    assert response.mimetype == "text/html"


def test_an_unknown_impersonation_is_a_json_404(client, key):
    is_json_error(call(client, "GET", "/impersonations/999999", key), 404, "impersonation_not_found")


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("POST", "/impersonations", "GET"),
        ("DELETE", "/audit-events", "GET"),
        ("GET", "/sessions/1/terminate", "POST"),
        ("PUT", "/sessions/1/terminate", "POST"),
    ],
)
def test_a_wrong_method_is_a_json_405_with_allow(client, key, method, path, allowed):
    response = call(client, method, path, key, validate=False)

    is_json_error(response, 405, "method_not_allowed")
    assert allowed in response.headers["Allow"]


@pytest.mark.parametrize(
    ("path", "query", "code"),
    [
        ("/impersonations", {"colour": "red"}, "bad_filter"),
        ("/impersonations", {"from": "yesterday"}, "bad_date"),
        ("/impersonations", {"from": "2026-11-30", "to": "2026-11-01"}, "bad_range"),
        ("/impersonations", {"tenant": "no-such-tenant"}, "unknown_tenant"),
        ("/impersonations", {"staff": "nobody@staff.example"}, "unknown_staff"),
        ("/impersonations", {"limit": "201"}, "bad_filter"),
        ("/impersonations", {"before": "-1"}, "bad_filter"),
        ("/audit-events", {"after": "ten"}, "bad_filter"),
        ("/audit-events", {"after": "-1"}, "bad_filter"),
        ("/audit-events", {"limit": "0"}, "bad_filter"),
        ("/audit-events", {"limit": "1001"}, "bad_filter"),
        ("/audit-events", {"after": "9" * 30}, "bad_filter"),
        ("/audit-events", {"action": "api.request"}, "bad_filter"),
    ],
)
def test_a_bad_filter_is_a_json_400_naming_the_rule(client, tenants, key, path, query, code):
    is_json_error(call(client, "GET", path, key, query_string=query), 400, code)


@pytest.mark.parametrize(
    ("body", "content_type", "code"),
    [
        (b"not json", "application/json", "bad_json"),
        (b"[1, 2]", "application/json", "bad_json"),
        (b"", "application/json", "bad_json"),
        (b'{"reason": ""}', "application/json", "required"),
        (b'{"reason": 42}', "application/json", "required"),
        (b'{"reason": "' + b"x" * 501 + b'"}', "application/json", "too_long"),
        (b'{"reason": "nul \\u0000 byte"}', "application/json", None),
    ],
)
def test_a_bad_terminate_body_is_a_json_400(client, key, body, content_type, code):
    response = call(client, "POST", "/sessions/1/terminate", key, data=body, content_type=content_type)

    is_json_error(response, 400, code)


def test_a_body_over_the_cap_is_a_json_413(client, key, app):
    body = b'{"reason": "' + b"x" * (app.config["MAX_CONTENT_LENGTH"] + 10) + b'"}'

    response = call(client, "POST", "/sessions/1/terminate", key, data=body, validate=False)

    is_json_error(response, 413, "too_large")


def test_too_many_calls_get_a_json_429_with_retry_after_and_one_audit_event(make_app, make_staff, clock):
    limited = make_app(API_RATE_LIMIT="3/minute")
    key = make_key(limited, make_staff("admin").id)
    client = limited.test_client()

    statuses = [call(client, "GET", "/sessions", key).status_code for _ in range(5)]

    assert statuses == [200, 200, 200, 429, 429]
    refused = call(client, "GET", "/sessions", key)
    is_json_error(refused, 429, "rate_limited")
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert len(audit_events(limited, "rate_limit.exceeded")) == 1
    assert len(audit_events(limited, "api.request")) == 3  # the refused calls are the burst's event

    clock.advance(minutes=1)
    assert call(client, "GET", "/sessions", key).status_code == 200


def test_callers_without_a_valid_key_are_limited_by_address(make_app, clock):
    limited = make_app(API_RATE_LIMIT="2/minute")
    client = limited.test_client()

    statuses = [call(client, "GET", "/sessions", "imp_live_1_" + "x" * 43).status_code for _ in range(4)]

    assert statuses == [401, 401, 429, 429]


def test_the_description_catches_an_answer_that_breaks_it(client, key):
    """The validation the other tests rely on can fail: a body missing a required field does."""
    response = call(client, "GET", "/sessions", key)
    response.set_data(b'{"sessions": []}')

    with pytest.raises(ResponseValidationError):
        conforms(response)


def test_i1_a_call_whose_audit_write_fails_returns_no_data(app, client, key, monkeypatch):
    real_record = audit.record

    def record(action, **kwargs):
        if action == "api.request":
            raise OperationalError("INSERT INTO audit_event", {}, Exception("disk I/O error"))
        return real_record(action, **kwargs)

    monkeypatch.setattr(audit, "record", record)

    response = call(client, "GET", "/audit-events", key, validate=False)

    assert response.status_code in (500, 503)
    is_json_error(response, response.status_code)
    assert "items" not in response.get_data(as_text=True)


@pytest.mark.parametrize("value", ["2147483648", "9" * 5000, "2147483647"])
@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/impersonations/{}"), ("POST", "/sessions/{}/terminate")]
)
def test_i11_an_id_no_table_can_hold_or_the_largest_one_is_a_json_404(client, key, value, method, path):
    response = call(
        client, method, path.format(value), key, json={"reason": "Checking the largest ids"}, validate=False
    )

    is_json_error(response, 404)
