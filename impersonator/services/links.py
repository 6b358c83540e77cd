"""Addresses on other hosts, built from configuration and the tenant registry only, never from the
request (DESIGN I8)."""

from __future__ import annotations

from flask import current_app

# Tenant-face pages that mail links to: the blueprint mounts here, the mails point here.
SUPPORT_ACCESS_PATH = "/settings/support-access"
ACCESS_HISTORY_PATH = SUPPORT_ACCESS_PATH + "/history"


def _origin(host: str) -> str:
    config = current_app.config
    port = config["PUBLIC_PORT"]
    default = 443 if config["PUBLIC_SCHEME"] == "https" else 80
    suffix = f":{port}" if port and port != default else ""
    return f"{config['PUBLIC_SCHEME']}://{host}{suffix}"


def tenant_origin(domain: str) -> str:
    """`https://acme.example.com` for a registered tenant domain."""
    return _origin(domain)


def console_url(path: str) -> str:
    """An absolute address on the console, for links from a tenant domain."""
    return _origin(current_app.config["CONSOLE_HOST"]) + path
