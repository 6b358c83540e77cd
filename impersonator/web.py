"""What both faces share on the web side: security headers, error pages, access markers, safe
redirects and the client's address."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, g, request
from flask.globals import request_ctx
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import BadRequest, HTTPException

from impersonator import clock
from impersonator.extensions import db
from impersonator.logs import database_problem, request_id
from impersonator.services.errors import DomainError, Locked
from impersonator.services.validation import unreadable_character

ERROR_TEXT = {
    400: ("Bad request", "The request could not be understood. Please go back and try again."),
    401: ("Sign-in required", "Please sign in to continue."),
    403: ("Not allowed", "You do not have permission to do that."),
    404: ("Not found", "There is nothing at this address."),
    405: ("Method not allowed", "This address does not accept that kind of request."),
    410: ("Gone", "This link has already been used or has expired."),
    413: ("Too large", "What you sent is larger than we accept. Please send less."),
    429: ("Too many requests", "Too many attempts. Please wait a while and try again."),
    500: ("Something went wrong", "An unexpected error occurred. Nothing was changed."),
    503: (
        "Temporarily unavailable",
        "The service could not record this safely, so nothing was changed. Please try again in a moment.",
    ),
}


class ExplainedBadRequest(BadRequest):
    """A 400 whose description is a sentence written for a person: its error page shows it."""


def public(view: Callable) -> Callable:
    """Mark a view as reachable without signing in; every other view needs a signed-in person."""
    view.public = True
    return view


def is_public(endpoint: str | None) -> bool:
    if endpoint == "static":
        return True
    view = current_app.view_functions.get(endpoint or "")
    return bool(getattr(view, "public", False))


def client_ip() -> str | None:
    """The client's address (ProxyFix has applied trusted X-Forwarded-For already)."""
    return request.remote_addr


def user_agent() -> str | None:
    return (request.user_agent.string or "")[:300] or None


def safe_next(target: str | None) -> str | None:
    """A path on this host, or None: `next=` never leads elsewhere (DESIGN I8)."""
    if not target or len(target) > 2000 or unreadable_character(target):
        return None
    if "\\" in target or not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def refusal_headers(refused: DomainError) -> dict[str, str]:
    """Headers that go with a refusal: Retry-After when it is a lock (429)."""
    if isinstance(refused, Locked):
        return {"Retry-After": str(refused.retry_after(clock.now()))}
    return {}


@dataclass(frozen=True)
class Viewer:
    """Who is signed in, as plain values read when they were loaded: what an error page may show."""

    name: str
    role: str | None = None  # staff only


def remember_viewer(name: str, role: str | None = None) -> None:
    """Called by each face's sign-in loader, so an error page can name the person without a query."""
    g.viewer = Viewer(name, role)


def error_page(code: int, message: str | None = None, title: str | None = None) -> tuple[str, int]:
    """The friendly page for an HTTP error, in the face's colours. It never touches the database:
    it is rendered without the faces' context processors (Flask-Login's loads the signed-in person)
    from values this request already holds, so it answers even when the database is what failed."""
    default_title, default_message = ERROR_TEXT.get(code, ERROR_TEXT[500])
    _bind_urls_for_any_host()
    ghost = g.get("impersonation")  # the ghost guard's plain Ghost: it names the account's user
    template = current_app.jinja_env.get_template("shared/error.html")
    body = template.render(
        code=code,
        title=title or default_title,
        message=message or default_message,
        viewer=g.get("viewer") or (Viewer(ghost.user_name) if ghost else None),
        ghost=ghost,
        site_name=g.get("tenant_name"),  # set with the tenant, as text: a rollback cannot expire it
        request_id=request_id(),
        now=clock.now(),
    )
    return body, code


def _bind_urls_for_any_host() -> None:
    """Let the page build its links (stylesheet, home) whatever the Host header said.

    Flask binds a request's URL adapter to its host, IDNA-encoded; a host that cannot be encoded (a
    label over 63 characters, an empty label) leaves the request without one (Werkzeug's BadHost),
    and `url_for` would raise while the 404 for that very host is drawn. The page's links are paths
    on this host, which need no host name: they are built with a stand-in one."""
    if request_ctx.url_adapter is None:
        request_ctx.url_adapter = current_app.url_map.bind(
            "host.invalid", script_name=request.root_path or "/", url_scheme=request.scheme
        )


def _rollback() -> None:
    """End the failed request's transaction; a dead connection is the pool's to replace. Handlers
    call it after drawing the page: nothing the page shows is read after a failure."""
    try:
        db.session.rollback()
    except SQLAlchemyError:
        db.session.close()


def register_session_teardown(app: Flask) -> None:
    """End the request's session before Flask-SQLAlchemy's own teardown (teardowns run last-registered
    first), swallowing a dead connection: the database dying as a request finishes made the rollback
    in that teardown raise outside every error handler, and gunicorn sent a bare 500 for a page the
    view had already built."""

    @app.teardown_appcontext
    def end_session(_error: BaseException | None) -> None:
        try:
            db.session.remove()
        except SQLAlchemyError as failure:
            app.logger.warning("ending the session failed: %s", database_problem(failure))
            try:
                db.session().invalidate()  # the pool replaces the connection
            finally:
                db.session.registry.clear()


CSRF_REFUSAL = "This form has expired or was not sent from this site. Reload the page and try again."


def register_error_handlers(app: Flask) -> None:
    """Friendly pages for every error; never a stack trace; failed transactions rolled back."""

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError):
        page = error_page(400, CSRF_REFUSAL)
        _rollback()
        return page

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        if error.code is None or error.code < 400:
            return error
        response = error.get_response()
        explained = error.description if isinstance(error, ExplainedBadRequest) else None
        body, code = error_page(error.code, explained)
        _rollback()
        # Keep headers such as Allow (405) and Retry-After (429).
        headers = {k: v for k, v in response.headers.items() if k in ("Allow", "Retry-After")}
        return body, code, headers

    @app.errorhandler(SQLAlchemyError)
    def database_error(error: SQLAlchemyError):
        # One line, with the request id the page shows: the traceback says nothing a person can act
        # on when the database is locked or gone, and buries the line that does in the terminal.
        g.database_unavailable = True  # after-request hooks must not try to write either
        app.logger.error("database unavailable: %s", database_problem(error))
        page = error_page(503)
        _rollback()
        return page

    @app.errorhandler(500)
    def internal_error(error):
        page = error_page(500)
        _rollback()
        return page


def database_available() -> bool:
    """False once this request has met a database error (its after-request hooks skip writes)."""
    return not g.get("database_unavailable", False)


def content_security_policy(*form_targets: str) -> str:
    """The pages' CSP; forms may post (and be redirected) to this origin and to `form_targets`."""
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
        + " ".join(("form-action 'self'", *form_targets))
    )


FAVICON = "favicon.ico"  # in static/, with favicon.svg that the pages link


def register_favicon(app: Flask) -> None:
    """Answer the browser's own request for /favicon.ico with the icon (never a 404, which a ghost's
    request log would count as a refused attempt). It is served as a static file, so it goes the
    static files' way on both faces: public, no tenant lookup, no ghost guard, cacheable."""
    app.add_url_rule(f"/{FAVICON}", endpoint="static", defaults={"filename": FAVICON})


def register_security_headers(app: Flask, *, referrer_policy: str) -> None:
    """Security headers on every response (DESIGN I11)."""
    hsts = app.config["SECURITY_HSTS"]

    @app.after_request
    def add_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", content_security_policy())
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", referrer_policy)
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if hsts:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if request.endpoint != "static":
            # Pages show people's data: never keep them in a shared or back-button cache.
            headers.setdefault("Cache-Control", "no-store")
        return response
