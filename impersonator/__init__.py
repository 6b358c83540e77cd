"""Impersonator: the support-impersonation console (see DESIGN.md).

`create_app()` returns the console's Flask application, which carries the CLI and migrations and
whose WSGI entry dispatches by Host to the console face or to the tenant face (`faces.py`).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from flask import Flask, g
from werkzeug.middleware.proxy_fix import ProxyFix

from config import INSTANCE_DIR, Config, config_from_environment
from impersonator import clock, models  # noqa: F401  (models: registers every table on db.metadata)
from impersonator.extensions import csrf, customer_login, db, migrate, staff_login
from impersonator.faces import HostBoundSessionInterface, HostDispatcher
from impersonator.logs import configure_logging
from impersonator.retries import RetryingFlask
from impersonator.services import links
from impersonator.web import (
    register_error_handlers,
    register_favicon,
    register_security_headers,
    register_session_teardown,
)
from impersonator.web_input import register_request_rules

ROOT = Path(__file__).resolve().parent.parent


def create_app(config: type[Config] | None = None) -> Flask:
    """Build both faces and return the console app, whose WSGI entry serves every host."""
    config = config or config_from_environment()
    config.check()
    configure_logging(config.LOG_LEVEL)
    console = build_face("console", config)
    tenant = build_face("tenant", config)
    for face in (console, tenant):
        face.extensions["impersonator.faces"] = {"console": console, "tenant": tenant}
    with console.app_context():
        console_home = links.console_url("home.index")
    dispatcher = HostDispatcher(
        config.CONSOLE_HOST,
        console=console.wsgi_app,
        tenant=tenant,
        redirect_hosts=config.REDIRECT_TO_CONSOLE_HOSTS,
        console_home=console_home,
        trust_request_id=config.TRUSTED_PROXY_COUNT > 0,
    )
    proxies = config.TRUSTED_PROXY_COUNT
    console.wsgi_app = (
        ProxyFix(dispatcher, x_for=proxies, x_proto=proxies, x_host=proxies) if proxies else dispatcher
    )
    console.extensions["impersonator.tenant_app"] = tenant
    migrate.init_app(console, db, directory=str(ROOT / "migrations"))
    register_commands(console)
    return console


def build_face(face: str, config: type[Config]) -> Flask:
    """One face: its own cookie, routes, access rules, error pages and headers."""
    app = RetryingFlask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(INSTANCE_DIR),
    )
    app.config.from_object(config)
    app.config["FACE"] = face
    # __Host- cookies must be Secure, path /, with no Domain: the browser keeps them on one host.
    prefix = "__Host-" if config.SESSION_COOKIE_SECURE else ""
    app.config["SESSION_COOKIE_NAME"] = f"{prefix}impersonator_{face}"
    lifetime = (
        timedelta(hours=config.CONSOLE_ABSOLUTE_HOURS)
        if face == "console"
        else timedelta(hours=config.TENANT_SESSION_HOURS)
    )
    app.config["PERMANENT_SESSION_LIFETIME"] = lifetime
    app.session_interface = HostBoundSessionInterface(face)
    register_request_rules(app)  # the request class and the id converter, before any route
    register_extensions(app, face)
    register_session_teardown(app)  # after db.init_app, so that it runs before its teardown
    register_blueprints(app, face)
    register_favicon(app)
    register_error_handlers(app)
    register_security_headers(app, referrer_policy="same-origin")
    register_template_globals(app, face)
    return app


def register_extensions(app: Flask, face: str) -> None:
    db.init_app(app)
    if face == "console":
        csrf.init_app(app)
        staff_login.init_app(app)
    # The tenant face starts its CSRF check and sign-in in register_tenant_pipeline, in their place.


def register_blueprints(app: Flask, face: str) -> None:
    if face == "console":
        from impersonator.console import (
            access,
            admin_switches,
            api,
            api_keys_admin,
            approvals,
            audit_log,
            health,
            home,
            impersonation_detail,
            impersonations,
            jwks,
            live_sessions,
            outbox_admin,
            search,
            sign_in,
            staff_admin,
            staff_invites,
            users,
            webhooks_admin,
        )

        # Every console request: the CSRF check (started with the extension), then who may see what.
        app.before_request(access.enforce_access)
        for module in (
            health,
            jwks,
            sign_in,
            staff_invites,
            home,
            search,
            users,
            impersonations,
            approvals,
            audit_log,
            impersonation_detail,
            live_sessions,
            admin_switches,
            staff_admin,
            webhooks_admin,
            outbox_admin,
            api_keys_admin,
        ):
            app.register_blueprint(module.bp)
        api.register(app)  # /api/v1/: bearer keys, not the sign-in; JSON errors (console/api/)
    else:
        from impersonator.tenant import (
            account,
            home,
            impersonation,
            sign_in,
            support_access,
            support_requests,
        )

        register_tenant_pipeline(app)
        for module in (sign_in, home, account, support_access, support_requests, impersonation):
            app.register_blueprint(module.bp)


def register_tenant_pipeline(app: Flask) -> None:
    """Every tenant request, top to bottom (Flask runs `before_request` functions in the order they
    are registered, so this order is the order of the code below):

    1. resolve the tenant: an unknown host is a 404 whatever the method, and every page, error
       pages included, knows its tenant;
    2. the ghost guard: every request of a ghost session is checked and logged, even one that
       CSRF refuses next;
    3. the CSRF check on every POST (Flask-WTF adds it when it starts);
    4. sign-in: every page needs a signed-in customer unless marked `@public`.
    After the view: the ghost request log, and the banner's End redirect allowed by the CSP.
    """
    from impersonator.tenant import access, ghost

    app.before_request(access.resolve_tenant)
    app.before_request(ghost.guard)
    csrf.init_app(app)
    customer_login.init_app(app)
    app.before_request(access.enforce_sign_in)
    app.after_request(ghost.log_request)
    app.after_request(ghost.allow_end_redirect)


def register_template_globals(app: Flask, face: str) -> None:
    from impersonator.services import wording

    app.jinja_env.add_extension("jinja2.ext.do")
    app.jinja_env.globals["face"] = face
    # Codes in people's words, on both faces (services/wording.py).
    app.jinja_env.globals["words"] = wording
    if face == "console":
        from impersonator.console import times
        from impersonator.console.access import can, navigation

        app.jinja_env.globals["can"] = can
        app.jinja_env.globals["navigation"] = navigation
        # Times in one style (console/times.py).
        app.jinja_env.globals["when"] = times.when
        app.jinja_env.globals["zone_note"] = times.zone_note
        # The commands pages print, as they are typed where the console runs: in a `make run`
        # checkout the venv's own flask (config.py then picks development by itself).
        app.jinja_env.globals["flask_command"] = (
            ".venv/bin/flask" if app.config["ENV_NAME"] == "development" else "flask"
        )
    else:
        from impersonator.tenant.ghost import changes_off, current_impersonation

        app.jinja_env.globals["current_impersonation"] = current_impersonation
        app.jinja_env.globals["changes_off"] = changes_off
        app.context_processor(lambda: {"tenant": g.get("tenant"), "now": clock.now()})


def register_commands(app: Flask) -> None:
    from impersonator.cli import register

    register(app)
