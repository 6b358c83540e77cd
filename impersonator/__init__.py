"""Impersonator: the support-impersonation console (see DESIGN.md).

`create_app()` returns the console's Flask application, which carries the CLI and migrations and
whose WSGI entry dispatches by Host to the console face or to the tenant face (`faces.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from flask import Flask
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


def create_app(
    config: type[Config] | None = None, *, tenant_face: Callable[[type[Config]], Flask] | None = None
) -> Flask:
    """Build both faces and return the console app, whose WSGI entry serves every host.

    `tenant_face(config)` builds another app with the integration kit (impersonator/kit) to serve
    the tenant domains in place of the demo tenant app (examples/minimal_app)."""
    config = config or config_from_environment()
    config.check()
    configure_logging(config.LOG_LEVEL)
    console = build_face("console", config)
    tenant = tenant_face(config) if tenant_face is not None else build_face("tenant", config)
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
    else:
        # The customers' own sign-in; the kit starts the CSRF check, in its place (kit/extension.py).
        customer_login.init_app(app)


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
        register_tenant_app(app)


def register_tenant_app(app: Flask) -> None:
    """The demo tenant app: its own pages, then the integration kit, installed as a customer's app
    installs it (impersonator/kit/__init__.py says what each option is)."""
    from impersonator.kit import ImpersonatorTenant
    from impersonator.tenant import access, account, billing, home, sign_in

    for module in (sign_in, home, billing, account):
        app.register_blueprint(module.bp)
    ImpersonatorTenant(
        app,
        user_loader=access.customer_of,
        current_customer=access.signed_in_customer,
        base_template="tenant/base.html",
        home_endpoint="tenant_home.index",
        # The account's own credentials: refused to every ghost, whatever the mode (DESIGN I7).
        credential_endpoints={"account.change_email", "account.change_password"},
        sign_in_check=access.enforce_sign_in,
        error_nav_template="tenant/_error_nav.html",
    )


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
    # The tenant face's own globals (the ghost, the tenant, the banner) are the kit's.


def register_commands(app: Flask) -> None:
    from impersonator.cli import register

    register(app)
