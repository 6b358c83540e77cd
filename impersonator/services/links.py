"""Addresses on other hosts, built from configuration and the tenant registry only, never from the
request (DESIGN I8). Paths come from the faces' own routes, by endpoint: a path is written once, in
its view's module, and a service that needs it asks here."""

from __future__ import annotations

from typing import Any

from flask import current_app


def console_url(endpoint: str, **values: Any) -> str:
    """An absolute address of a console page (`links.console_url("users.show", user_id=7)`)."""
    return _build("console", current_app.config["CONSOLE_HOST"], endpoint, values)


def console_origin() -> str:
    """`https://console.example.com`: the console's scheme, host and port."""
    return _origin(current_app.config["CONSOLE_HOST"])


def tenant_url(domain: str, endpoint: str, **values: Any) -> str:
    """An absolute address of a tenant page on one of its registered domains."""
    return _build("tenant", domain, endpoint, values)


def tenant_origin(domain: str) -> str:
    """`https://acme.example.com` for a registered tenant domain."""
    return _origin(domain)


def tenant_path(endpoint: str, **values: Any) -> str:
    """The path of a tenant page, the same on every tenant domain (`/impersonation/end`)."""
    return _faces()["tenant"].url_map.bind("tenant").build(endpoint, values)


def _build(face: str, host: str, endpoint: str, values: dict[str, Any]) -> str:
    config = current_app.config
    adapter = _faces()[face].url_map.bind(_host_and_port(host), url_scheme=config["PUBLIC_SCHEME"])
    return adapter.build(endpoint, values, force_external=True)


def _faces() -> dict:
    # Both faces' apps, registered by create_app on each of them: a tenant page can link to the
    # console and a console page or mail to a tenant domain, without either importing the other.
    return current_app.extensions["impersonator.faces"]


def _origin(host: str) -> str:
    return f"{current_app.config['PUBLIC_SCHEME']}://{_host_and_port(host)}"


def _host_and_port(host: str) -> str:
    config = current_app.config
    port = config["PUBLIC_PORT"]
    default = 443 if config["PUBLIC_SCHEME"] == "https" else 80
    return f"{host}:{port}" if port and port != default else host
