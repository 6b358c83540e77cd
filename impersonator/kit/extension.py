"""`ImpersonatorTenant`: the Flask extension that puts Impersonator's tenant side into a host app
(the boundary is described in the package's docstring, impersonator/kit/__init__.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from flask import Flask, current_app, g, request
from flask.sessions import SecureCookieSessionInterface
from markupsafe import Markup

from impersonator import clock
from impersonator.extensions import csrf, db
from impersonator.faces import HostBoundSessionInterface
from impersonator.kit import ghost, impersonation, masking, support_access, support_requests, tenancy
from impersonator.kit.host import EXTENSION, HostOptions, ImpersonatorSetupError
from impersonator.models import User
from impersonator.services import wording
from impersonator.web import register_session_teardown


class ImpersonatorTenant:
    """Impersonator's tenant side in a Flask app: `ImpersonatorTenant(app, **options)`, or
    `kit = ImpersonatorTenant(**options)` then `kit.init_app(app)` in a factory."""

    def __init__(
        self,
        app: Flask | None = None,
        *,
        user_loader: Callable[[User], Any] | None = None,
        base_template: str | None = None,
        home_endpoint: str | None = None,
        current_customer: Callable[[], User | None] | None = None,
        credential_endpoints: Iterable[str] = (),
        sign_in_check: Callable[[], Any] | None = None,
        error_nav_template: str | None = None,
    ) -> None:
        self.host = HostOptions.of(
            user_loader=user_loader,
            base_template=base_template,
            home_endpoint=home_endpoint,
            current_customer=current_customer,
            credential_endpoints=credential_endpoints,
            sign_in_check=sign_in_check,
            error_nav_template=error_nav_template,
        )
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Every tenant request, top to bottom (Flask runs `before_request` functions in the order they
        are registered, so this order is the order of the code below):

        1. resolve the tenant: an unknown host is a 404 whatever the method, and every page, error
           pages included, knows its tenant;
        2. the ghost guard: every request of a ghost session is checked and logged, even one that
           CSRF refuses next; read-only refuses every change but End, and the host's credential
           endpoints are refused to every ghost;
        3. the CSRF check on every POST (Flask-WTF adds it when it starts);
        4. the host's sign-in check (`sign_in_check`), for every page but the kit's redemption and End.
        After the view: the ghost request log, and the banner's End redirect allowed by the CSP.
        """
        self.host.check(app)
        if EXTENSION in app.extensions:
            raise ImpersonatorSetupError("ImpersonatorTenant is already installed on this app")
        app.extensions[EXTENSION] = self
        _use_host_bound_cookies(app)
        if "sqlalchemy" not in app.extensions:  # the host shares Impersonator's database and models
            db.init_app(app)
            register_session_teardown(app)
        app.before_request(tenancy.resolve_tenant)
        app.before_request(ghost.guard)
        csrf.init_app(app)
        if self.host.sign_in_check is not None:
            app.before_request(_except_kit_pages(self.host.sign_in_check))
        app.after_request(ghost.log_request)
        app.after_request(ghost.allow_end_redirect)
        # Always there: the customer's mails link to them (services/customer/notifications.py).
        for module in (support_access, support_requests, impersonation, masking):
            app.register_blueprint(module.bp)
        self._register_template_globals(app)

    def _register_template_globals(self, app: Flask) -> None:
        env = app.jinja_env
        env.add_extension("jinja2.ext.do")  # the shared macros use it
        # How the host marks a sensitive value: {{ value|sensitive("payment", key="card") }} (DESIGN §13).
        env.filters["sensitive"] = masking.sensitive_filter
        env.globals.update(
            current_impersonation=ghost.current_impersonation,
            changes_off=ghost.changes_off,
            impersonator_banner=banner,
            impersonator_base=self.host.base_template,  # what the kit's pages extend
            impersonator_home=self.host.home_endpoint,  # the error page's way home
            impersonator_error_nav=self.host.error_nav_template,
        )
        env.globals.setdefault("face", "tenant")
        env.globals.setdefault("words", wording)  # codes in people's words (services/wording.py)
        app.context_processor(lambda: {"tenant": g.get("tenant"), "now": clock.now()})


def banner() -> Markup:
    """The ghost banner (DESIGN I7) for the host's base template: `{{ impersonator_banner() }}`,
    empty outside a ghost session. Drawn from the Ghost's plain values, like the error pages' one."""
    current = ghost.current_impersonation()
    if current is None:
        return Markup("")
    macros = current_app.jinja_env.get_template("shared/_macros.html").module
    return macros.ghost_banner(current, clock.now())


def _use_host_bound_cookies(app: Flask) -> None:
    """A cookie minted on one tenant domain is nobody's on another (DESIGN I8): Flask's own cookie
    session is replaced by one whose signature names the host; another kind is refused."""
    if isinstance(app.session_interface, HostBoundSessionInterface):
        return
    if type(app.session_interface) is not SecureCookieSessionInterface:
        raise ImpersonatorSetupError(
            "ImpersonatorTenant needs Flask's cookie sessions, which it binds to each host (DESIGN I8)"
        )
    app.session_interface = HostBoundSessionInterface("tenant")


def _except_kit_pages(check: Callable[[], Any]) -> Callable[[], Any]:
    """The host's sign-in check, skipped for the kit's public pages: the token is the credential of
    redemption, and End and its confirmation must answer whoever is (or was) the ghost."""

    @wraps(check)
    def host_sign_in_check() -> Any:
        view = current_app.view_functions.get(request.endpoint or "")
        if request.blueprint == impersonation.bp.name and getattr(view, "public", False):
            return None
        return check()

    return host_sign_in_check
