"""The JSON API in tests: keys made through the service, calls with a bearer key, and every answer
checked against the API's own OpenAPI description with openapi-core."""

from __future__ import annotations

from flask.testing import FlaskClient
from openapi_core import OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from sqlalchemy import select
from werkzeug.test import TestResponse

from impersonator import clock
from impersonator.console.api.openapi import DESCRIPTION
from impersonator.extensions import db
from impersonator.models import Staff
from impersonator.services.api import keys
from tests.support.web import CONSOLE

BASE = "/api/v1"
ALL_SCOPES = ["impersonations:read", "sessions:terminate", "audit:read"]
SPEC = OpenAPI.from_dict({**DESCRIPTION, "servers": [{"url": f"{CONSOLE}{BASE}"}]})


def make_key(app, admin_id: int, scopes: list[str] | None = None, name: str = "SIEM") -> str:
    """A new API key (plaintext), created by the admin with this staff id."""
    with app.app_context():
        admin = db.session.get(Staff, admin_id)
        return keys.create(
            name, ALL_SCOPES if scopes is None else scopes, admin=admin, ip=None, now=clock.now()
        ).plaintext


def admin_id(app) -> int:
    with app.app_context():
        return db.session.scalar(select(Staff.id).where(Staff.role == "admin").order_by(Staff.id).limit(1))


def call(
    client: FlaskClient, method: str, path: str, key: str | None = None, *, validate: bool = True, **kwargs
) -> TestResponse:
    """`method path` under /api/v1 on the console, with `Authorization: Bearer key` when given; the
    response is validated against the OpenAPI description (unless told not to)."""
    headers = dict(kwargs.pop("headers", {}))
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    response = client.open(BASE + path, method=method, base_url=CONSOLE, headers=headers, **kwargs)
    if validate:
        conforms(response)
    return response


class _AnsweredRequest(WerkzeugOpenAPIRequest):
    """The request a response answered: its body was read by the app, and response validation needs
    only its method, path and query."""

    @property
    def body(self) -> bytes | None:
        return None


def conforms(response: TestResponse) -> None:
    """The response is what the description says for its request (status, headers, body)."""
    SPEC.validate_response(_AnsweredRequest(response.request), WerkzeugOpenAPIResponse(response))


def is_json_error(response: TestResponse, status: int, code: str | None = None) -> dict:
    """The response is the API's error shape with this status (and code); returns the error."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json", response.get_data(as_text=True)[:200]
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]
