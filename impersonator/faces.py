"""Two faces, one process (DESIGN §2, I8).

`HostDispatcher` sends the console host to the console app and every other host to the tenant app,
which answers only for domains of the tenant registry (404 otherwise). Each face signs its session
cookie with a key derived for that face's cookies and a salt naming the face *and the host*, so a
cookie minted on one host fails its signature check on any other, whatever name it is sent under.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Iterable

from flask import Flask, request
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer
from werkzeug.utils import redirect

from impersonator.logs import CURRENT_REQUEST_ID, REQUEST_ID_KEY
from impersonator.services.keys import derived_key

# What a proxy's X-Request-Id may look like to be taken as this request's id (it goes into logs).
REQUEST_ID_SHAPE = re.compile(r"[A-Za-z0-9._:-]{1,64}")

# Where Flask-WTF keeps a browser's CSRF secret in the session, and what it makes (SHA-1, hex).
CSRF_SECRET_KEY = "csrf_token"  # noqa: S105  (a session key name)
CSRF_SECRET_SHAPE = re.compile(r"[0-9a-f]{40}")

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


def hostname_of(host_header: str) -> str:
    """`Acme.Localhost:5000` -> `acme.localhost`; `[::1]:80` -> `::1`."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0].rstrip(".") if ":" in host else host.rstrip(".")


class HostDispatcher:
    """WSGI middleware choosing the face by the Host header; it also gives every request its id.

    `redirect_hosts` (development only) are names a newcomer may type instead of the console's,
    such as `127.0.0.1` and `localhost`: they are sent to `console_home` rather than answered 404."""

    def __init__(
        self,
        console_host: str,
        console: WSGIApp,
        tenant: WSGIApp,
        *,
        redirect_hosts: Iterable[str] = (),
        console_home: str = "",
        trust_request_id: bool = False,
    ) -> None:
        self.console_host = console_host.lower()
        self.console = console
        self.tenant = tenant
        self.redirect_hosts = frozenset(host.lower() for host in redirect_hosts)
        self.console_home = console_home
        self.trust_request_id = trust_request_id

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        rid = environ[REQUEST_ID_KEY] = self.request_id_of(environ)
        bound = CURRENT_REQUEST_ID.set(rid)
        try:
            return self.dispatch(environ, start_response, rid)
        finally:
            CURRENT_REQUEST_ID.reset(bound)

    def request_id_of(self, environ: dict) -> str:
        """The id a trusted proxy gave the request (X-Request-Id), when it is a plain token; else a
        new one. Behind no trusted proxy, a client's header is ignored: it could forge another's."""
        offered = environ.get("HTTP_X_REQUEST_ID", "") if self.trust_request_id else ""
        return offered if REQUEST_ID_SHAPE.fullmatch(offered) else secrets.token_hex(8)

    def dispatch(self, environ: dict, start_response: Callable, rid: str) -> Iterable[bytes]:

        def start_with_id(status: str, headers: list, exc_info=None):
            headers.append(("X-Request-Id", rid))
            return start_response(status, headers, exc_info)

        # The Host header only: a request without one is never the console (the tenant face 404s it).
        host = hostname_of(environ.get("HTTP_HOST") or "")
        if host in self.redirect_hosts:
            return redirect(self.console_home)(environ, start_with_id)
        face = self.console if host == self.console_host else self.tenant
        return face(environ, start_with_id)


class MappingOnly(TaggedJSONSerializer):
    """Flask's cookie serializer, but only a mapping of text keys is a session. A cookie's contents
    are input: whoever holds the key (development's is public) could sign `0`, a list or 10**30,
    which Flask would fail to open or to save again. Anything else reads as an empty session:
    signed out, the ordinary path."""

    def loads(self, value: str) -> dict:
        data = super().loads(value)
        if not isinstance(data, dict) or not all(isinstance(key, str) for key in data):
            return {}
        # Flask-WTF trusts the shape of the CSRF secret it keeps here (it signs it into every form's
        # token and compares it with `hmac.compare_digest`): one of another shape is dropped, and
        # Flask-WTF makes a new one, as for a new browser.
        secret = data.get(CSRF_SECRET_KEY)
        if secret is not None and not (isinstance(secret, str) and CSRF_SECRET_SHAPE.fullmatch(secret)):
            del data[CSRF_SECRET_KEY]
        return data


class HostBoundSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie session, with a salt of the face and the request's host name."""

    serializer = MappingOnly()

    def __init__(self, face: str) -> None:
        self.face = face

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        if not app.secret_key:
            return None
        return URLSafeTimedSerializer(
            # A key of the face's cookies' own, derived from SECRET_KEY (DESIGN I12): a signature made
            # for another purpose with SECRET_KEY itself (a CSRF token, say) is never a cookie.
            derived_key(f"{self.face}-session-cookie"),
            salt=f"impersonator-{self.face}-session|{hostname_of(request.host)}",
            serializer=self.serializer,
            signer_kwargs={"key_derivation": self.key_derivation, "digest_method": hashlib.sha256},
        )
