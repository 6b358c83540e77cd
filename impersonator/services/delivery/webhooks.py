"""Webhooks out (DESIGN I10), signed the Standard Webhooks way.

Every message carries `webhook-id` (the outbox message id, the same on every retry),
`webhook-timestamp` (Unix seconds of the attempt) and `webhook-signature`: `v1,` followed by the
base64 HMAC-SHA256, keyed with the endpoint's secret (`whsec_` + base64 bytes), over
`{id}.{timestamp}.{body}`. Receivers verify it as the README shows.

URLs are checked when an admin saves them and again before every attempt (a name may resolve
elsewhere later): loopback, link-local, private and other non-public addresses are refused unless
WEBHOOK_ALLOW_PRIVATE_URLS is on (development and tests). The attempt then connects to the very
address that was checked (the certificate is still checked against the name), so DNS rebinding
between the check and the connection cannot reach an internal address.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

import requests
from flask import current_app
from requests.adapters import HTTPAdapter

from impersonator.services import secret_box
from impersonator.services.delivery.outbox import DeliveryFailed, Outgoing
from impersonator.services.errors import InvalidInput
from impersonator.services.secret_text import same_secret

SECRET_PREFIX = "whsec_"  # noqa: S105  (the Standard Webhooks prefix, not a secret)
URL_MAX = 2000
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# IPv6 prefixes that carry an IPv4 address in their last 32 bits (NAT64, RFC 6052 and RFC 8215).
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def new_secret() -> str:
    """A fresh signing secret, shown to the admin once."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """The `webhook-signature` header value for one attempt."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.{body}".encode()
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(secret: str, message_id: str, timestamp: int, body: str, header: str) -> bool:
    """What a receiver does: any `v1,` signature in the header matches (constant-time)."""
    expected = sign(secret, message_id, timestamp, body)
    return any(same_secret(candidate, expected) for candidate in header.split())


def check_url(url: str | None, *, allow_private: bool | None = None) -> str:
    """The URL if webhooks may be sent to it, or InvalidInput saying why not (SSRF)."""
    return checked_target(url, allow_private=allow_private).url


@dataclass(frozen=True)
class Target:
    """A checked URL, and the public address it resolved to when private ones are refused: the
    request goes to that very address, so a name cannot resolve elsewhere in between (rebinding)."""

    url: str
    address: Address | None = None


def checked_target(url: str | None, *, allow_private: bool | None = None) -> Target:
    """Check `url` (see check_url) and pin the address it resolved to."""
    url = (url or "").strip()
    if not url or len(url) > URL_MAX or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise _not_an_address()
    try:
        # urlsplit refuses a broken bracketed host (`http://[`, `http://[zz]/`) and .port a port out
        # of range: both with ValueError, which is a typo like any other here.
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _not_an_address() from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise _not_an_address()
    if parts.username or parts.password:
        raise InvalidInput("webhook_url_credentials", "Put no user name or password in the address.")
    if allow_private is None:
        allow_private = current_app.config["WEBHOOK_ALLOW_PRIVATE_URLS"]
    if allow_private:
        return Target(url)
    addresses = _addresses(parts.hostname, port or (443 if parts.scheme == "https" else 80))
    if not addresses or not all(is_public(address) for address in addresses):
        raise InvalidInput(
            "webhook_url_private",
            "That address points at a private, loopback or link-local network; "
            "webhooks only go to public addresses.",
        )
    return Target(url, addresses[0])


def _not_an_address() -> InvalidInput:
    return InvalidInput("webhook_url_invalid", "Enter the full address, such as https://example.com/hooks.")


def is_public(address: Address) -> bool:
    """A global unicast address, including the IPv4 address an IPv6 one may carry inside it
    (::ffff:127.0.0.1 is loopback, whatever the IPv6 rules say)."""
    if not address.is_global or address.is_multicast:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        inner = address.ipv4_mapped or address.sixtofour
        if inner is None and any(address in network for network in _NAT64):
            inner = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if inner is not None:
            return is_public(inner)
    return True


def _addresses(hostname: str, port: int) -> list[Address]:
    try:
        return [ipaddress.ip_address(hostname.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(hostname, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as failure:
        raise InvalidInput("webhook_url_unresolvable", "That host name does not resolve.") from failure
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def send(message: Outgoing, now: datetime) -> None:
    """POST one queued event to its endpoint, signed for this attempt; DeliveryFailed unless 2xx."""
    endpoint = message.endpoint
    if endpoint is None:
        raise DeliveryFailed("the endpoint was deleted")
    if not endpoint.active:
        raise DeliveryFailed("the endpoint is disabled")
    try:
        target = checked_target(endpoint.url)
    except InvalidInput as refused:
        raise DeliveryFailed(refused.message) from refused
    secret = secret_box.decrypt(endpoint.secret_encrypted)
    timestamp = int(now.timestamp())
    headers = {
        "content-type": "application/json",
        "user-agent": "Impersonator-Webhooks/1",
        "webhook-id": message.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message.message_id, timestamp, message.payload),
    }
    status = post(target, message.payload, headers, what="the endpoint")
    if not 200 <= status < 300:
        raise DeliveryFailed(f"the endpoint answered {status}")


class _PinnedAdapter(HTTPAdapter):
    """HTTPS to a pinned address that still checks the certificate (and sends SNI) for the name."""

    def __init__(self, hostname: str) -> None:
        self._hostname = hostname
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:
        kwargs["server_hostname"] = self._hostname
        kwargs["assert_hostname"] = self._hostname
        super().init_poolmanager(*args, **kwargs)


def post(target: Target | str, body: str, headers: dict[str, str], *, what: str) -> int:
    """POST `body` with timeouts and no redirects; the status code, or DeliveryFailed. The answer's
    body is never read: a receiver cannot make the worker download anything."""
    if isinstance(target, str):
        target = Target(target)
    timeout = current_app.config["DELIVERY_TIMEOUT_SECONDS"]
    url, headers = target.url, dict(headers)
    with requests.Session() as session:
        if target.address is not None:
            parts = urlsplit(target.url)
            host = f"[{target.address}]" if target.address.version == 6 else str(target.address)
            url = urlunsplit(parts._replace(netloc=host + (f":{parts.port}" if parts.port else "")))
            headers["host"] = parts.netloc
            if parts.scheme == "https":
                session.mount("https://", _PinnedAdapter(parts.hostname))
        try:
            with session.post(
                url,
                data=body.encode(),
                headers=headers,
                timeout=(timeout, timeout),
                allow_redirects=False,
                stream=True,
            ) as response:
                return response.status_code
        except requests.RequestException as failure:
            raise DeliveryFailed(f"{type(failure).__name__} reaching {what}") from failure
