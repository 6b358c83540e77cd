"""Act tokens as a back-end meets them: the console's JWKS fetched over HTTP from a real server by
PyJWT's PyJWKClient, and tokens minted by the tenant side inside a real tenant request."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import jwt
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from impersonator.kit import act_token
from tests.support.impersonation import COOKIE

JWKS_PATH = "/.well-known/jwks.json"
ISSUER = "http://console.localhost"


@dataclass
class Served:
    """The app served on a loopback port."""

    port: int

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def host(self, name: str) -> dict[str, str]:
        """The Host header that picks a face (`*.localhost` need not resolve on this machine)."""
        return {"Host": f"{name}:{self.port}"}

    def jwks_client(self) -> jwt.PyJWKClient:
        """A back-end's PyJWKClient on the console's JWKS, fetching afresh on every call."""
        return jwt.PyJWKClient(
            self.url(JWKS_PATH), cache_jwk_set=False, headers=self.host("console.localhost"), timeout=10
        )

    def verify(self, token: str, audience: str = "projects-api") -> dict:
        """What a back-end does with an act token: the key named by its kid, from the JWKS over HTTP."""
        key = self.jwks_client().get_signing_key_from_jwt(token)
        return jwt.decode(token, key, algorithms=["EdDSA"], audience=audience, issuer=ISSUER)


@contextmanager
def served(app: Flask) -> Iterator[Served]:
    """Serve `app` (both faces, by Host) on 127.0.0.1 with a threaded Werkzeug server; stopped after."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="jwks-server", daemon=True)
    thread.start()
    try:
        yield Served(server.server_port)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def mint_in_tenant_request(
    app: Flask, client: FlaskClient, audience: str = "projects-api", domain: str = "acme.localhost"
) -> str | None:
    """What `act_token(audience)` gives the host app's code in a request of `client`'s browser on
    `domain`, after the whole tenant pipeline (tenant, ghost guard, CSRF, sign-in) has run."""
    tenant_app = app.extensions["impersonator.tenant_app"]
    cookie = client.get_cookie(COOKIE, domain=domain)
    headers = {"Cookie": f"{COOKIE}={cookie.value}"} if cookie else {}
    with tenant_app.test_request_context("/", base_url=f"http://{domain}", headers=headers):
        tenant_app.preprocess_request()
        return act_token(audience)
