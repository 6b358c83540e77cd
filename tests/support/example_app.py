"""The example host app of the integration kit (examples/minimal_app), served as the tenant face
by the console's own WSGI entry: the fixtures of tests/conftest.py then work for it unchanged."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from examples.minimal_app.app import create_example_app
from impersonator import create_app
from tests.conftest import _dispose, _empty_tables, config_for
from tests.support.web import ACME


@pytest.fixture
def example_app(database_url):
    """The console with examples/minimal_app on the tenant domains (replaces the `app` fixture)."""
    built = create_app(config_for(database_url), tenant_face=create_example_app)
    yield built
    _empty_tables(built)
    _dispose(built)


def tenant_face(app):
    return app.extensions["impersonator.tenant_app"]


def copy_tenant_cookie(app, source: FlaskClient, target: FlaskClient, *, to_domain: str) -> None:
    """Give `target` the tenant face's session cookie that `source` holds for acme.localhost."""
    name = tenant_face(app).config["SESSION_COOKIE_NAME"]
    cookie = source.get_cookie(name, domain="acme.localhost")
    assert cookie is not None, "no tenant session cookie on acme.localhost"
    target.set_cookie(name, cookie.value, domain=to_domain)


def greets(client: FlaskClient, host: str = ACME) -> str:
    """The example's home page heading: whom it greets."""
    page = client.get("/", base_url=host)
    assert page.status_code == 200, page.text
    return page.text.split("<h1>", 1)[1].split("</h1>", 1)[0]
