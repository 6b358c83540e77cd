"""The JSON API for security tooling under /api/v1/ on the console (DESIGN §12).

Authenticated only by `Authorization: Bearer <API key>`: the console's sign-in cookie is never read
here (no view touches `current_user`), so a signed-in admin's browser gets 401 like anyone else, and
CSRF does not apply (the blueprint is exempt: a cross-site page cannot attach the header). The
console's deny-by-default check lets these views through as `@public` because this module's
`authenticate` does their access check instead: a key, live, whose creator is still an admin, with
the view's scope. Each call is counted (API_RATE_LIMIT) and audited (services/api/calls.py). Errors
are always `{"error": {"code", "message"}}`, Flask's own 404 and 405 under /api/ included.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from impersonator import clock
from impersonator.extensions import csrf, db
from impersonator.logs import database_problem
from impersonator.services import rate_limits
from impersonator.services.api import calls, keys
from impersonator.web import ERROR_TEXT, client_ip

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)
PREFIX = "/api/"
# What each HTTP error is called in `error.code` when no rule gave a reason code of its own.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


def scoped(scope: str | None) -> Callable[[Callable], Callable]:
    """The scope a view needs (None: no key needed, e.g. the OpenAPI description). Public to the
    console's sign-in check: `authenticate` below is these views' access check."""

    def mark(view: Callable) -> Callable:
        view.api_scope = scope
        view.public = True
        view.rate_limit = "api"  # counted in `authenticate`, before the view
        return view

    return mark


def error(status: int, code: str, message: str | None = None, headers: dict | None = None) -> Response:
    """The API's one shape of error; `code` is also what the call's audit event records."""
    g.api_error = code
    message = message or ERROR_TEXT.get(status, ERROR_TEXT[500])[1]
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    response.headers.update(headers or {})
    return response


@bp.before_request
def authenticate():
    """Key, rate limit, scope: in that order, so a caller without a valid key is counted by address."""
    view = current_app.view_functions.get(request.endpoint or "")
    scope = getattr(view, "api_scope", None)
    now, ip = clock.now(), client_ip()
    refusal = None
    g.api_key = None
    if scope is not None:
        try:
            g.api_key = keys.authenticate(request.headers.get("Authorization"))
        except keys.KeyRefused as refused:
            refusal = refused
    try:
        calls.count(g.api_key, ip=ip, now=now)
    except rate_limits.RateLimited as limited:
        g.api_audited = True  # the burst's own event (rate_limit.exceeded) records it, once a window
        return error(429, "rate_limited", limited.message, {"Retry-After": str(limited.retry_after(now))})
    if refusal is not None:
        return error(401, refusal.reason, refusal.message, {"WWW-Authenticate": 'Bearer realm="api"'})
    if scope is not None and not keys.has_scope(g.api_key, scope):
        return error(403, "insufficient_scope", f"This API key does not have the “{scope}” scope.")
    return None


@bp.after_request
def audit_each_call(response: Response) -> Response:
    """Every call with a key, or refused for want of one, is an audit event (not the description)."""
    view = current_app.view_functions.get(request.endpoint or "")
    if g.get("api_audited") or getattr(view, "api_scope", None) is None:
        return response
    g.api_audited = True
    try:
        calls.audit_call(
            g.get("api_key"),
            claimed_key_id=keys.key_id_of(request.headers.get("Authorization", "").partition(" ")[2].strip()),
            method=request.method,
            endpoint=request.endpoint,
            path=request.path,
            status=response.status_code,
            error=g.get("api_error"),
            ip=client_ip(),
            now=clock.now(),
        )
    except SQLAlchemyError as failure:
        return database_error(failure)  # audit or nothing (I1): the answer's data is not sent
    return response


@bp.errorhandler(HTTPException)
def http_error(failure: HTTPException):
    return _http_error(failure)


@bp.errorhandler(SQLAlchemyError)
def database_error(failure: SQLAlchemyError):
    g.database_unavailable = True
    g.api_audited = True  # the database is what failed: no event can be written
    current_app.logger.error("database unavailable: %s", database_problem(failure))
    _rollback()
    return error(503, "unavailable")


@bp.errorhandler(500)
def internal_error(_failure):
    g.api_audited = True
    _rollback()
    return error(500, "internal_error")


def _http_error(failure: HTTPException) -> Response:
    status = failure.code or 500
    headers = {k: v for k, v in failure.get_response().headers.items() if k in ("Allow", "Retry-After")}
    _rollback()
    return error(status, HTTP_CODES.get(status, "error"), None, headers)


def _rollback() -> None:
    try:
        db.session.rollback()
    except SQLAlchemyError:
        db.session.close()


def register(app: Flask) -> None:
    """The blueprint, and JSON for Flask's own routing errors under /api/ (no blueprint sees those:
    an unknown address or method matches no view)."""
    from impersonator.console.api import views  # noqa: F401  (the routes)

    app.register_blueprint(bp)

    def routing_error(failure: HTTPException):
        if request.path.startswith(PREFIX):
            return _http_error(failure)
        pages = current_app.error_handler_spec[None][None][HTTPException]  # web.register_error_handlers
        return pages(failure)

    for status in (404, 405):
        app.register_error_handler(status, routing_error)
