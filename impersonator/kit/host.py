"""What the host app tells the kit (`ImpersonatorTenant(app, **options)`), checked when the kit
starts, and read by the kit's own code through `host()` during a request."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from jinja2 import TemplateNotFound

from impersonator.models import User

EXTENSION = "impersonator_tenant"  # the key in app.extensions

# The options without which the kit cannot start, with what each one is: the error says so.
REQUIRED = {
    "user_loader": "a function given Impersonator's User row of the impersonated customer, "
    "returning your app's user object for that customer",
    "base_template": "the name of your base template: the kit's pages extend it, filling its "
    "`title` and `content` blocks",
    "home_endpoint": "the endpoint a new ghost session lands on (your app's home page)",
    "current_customer": "a function returning Impersonator's User row of the signed-in customer, "
    "or None: the Support access pages are theirs",
}


class ImpersonatorSetupError(RuntimeError):
    """The host app did not give the kit what it needs: raised at start, before any request."""


@dataclass(frozen=True)
class HostOptions:
    """The host app's side of the boundary (see the kit's module docstring)."""

    user_loader: Callable[[User], Any] | None = None
    base_template: str | None = None
    home_endpoint: str | None = None
    current_customer: Callable[[], User | None] | None = None
    credential_endpoints: frozenset[str] = frozenset()
    sign_in_check: Callable[[], Any] | None = None
    error_nav_template: str | None = None

    @classmethod
    def of(cls, credential_endpoints: Iterable[str] = (), **options: Any) -> HostOptions:
        if isinstance(credential_endpoints, str):  # one name, not its letters
            raise ImpersonatorSetupError("credential_endpoints must be a set of endpoint names, not a string")
        return cls(credential_endpoints=frozenset(credential_endpoints), **options)

    def check(self, app: Flask) -> None:
        """Refuse to start without a required option, or with a base template the app cannot find."""
        missing = [name for name in REQUIRED if not getattr(self, name)]
        if missing:
            wanted = "; ".join(f"{name}= ({REQUIRED[name]})" for name in missing)
            raise ImpersonatorSetupError(f"ImpersonatorTenant needs {wanted} (impersonator/kit/__init__.py)")
        for name in ("user_loader", "current_customer", "sign_in_check"):
            option = getattr(self, name)
            if option is not None and not callable(option):
                raise ImpersonatorSetupError(f"ImpersonatorTenant's {name}= must be a function")
        try:
            app.jinja_env.get_template(self.base_template)
        except TemplateNotFound:
            raise ImpersonatorSetupError(
                f"ImpersonatorTenant's base_template={self.base_template!r} is not among the app's templates"
            ) from None

    def unknown_endpoints(self, app: Flask) -> set[str]:
        """Named endpoints the app does not have: a typo there would leave a credential page open."""
        return ({self.home_endpoint} | self.credential_endpoints) - app.view_functions.keys()


def host() -> HostOptions:
    """The options of the app serving this request."""
    return current_app.extensions[EXTENSION].host
