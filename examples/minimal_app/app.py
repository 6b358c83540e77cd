"""A minimal host app of Impersonator's tenant side (impersonator/kit): a customer's own Flask app.

It has no sign-in of its own, so its only signed-in user is the customer whom support impersonates:
`/` greets them, `/greeting` changes the greeting (a change, refused in read-only mode), and
`/password` is a credential page, refused to every ghost. `serve()` is its WSGI entry next to the
console (README.md here)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, redirect, render_template, request, session, url_for

from config import Config, config_from_environment
from impersonator import create_app
from impersonator.kit import ImpersonatorTenant, ghost_user


@dataclass(frozen=True)
class Customer:
    """This app's own user object: what its pages know of a customer."""

    name: str
    email: str


def create_example_app(config: type[Config]) -> Flask:
    """The example app on Impersonator's configuration (and so its database)."""
    app = Flask(__name__)
    app.config.from_object(config)
    app.add_url_rule("/", "index", index)
    app.add_url_rule("/greeting", "greeting", change_greeting, methods=["POST"])
    app.add_url_rule("/password", "password", password)
    ImpersonatorTenant(
        app,
        user_loader=lambda row: Customer(row.name, row.email),
        base_template="base.html",
        home_endpoint="index",
        current_customer=lambda: None,  # no sign-in here: the Support access pages answer 401
        credential_endpoints={"password"},
    )
    return app


def index():
    return render_template("hello.html", user=ghost_user(), greeting=session.get("greeting", "Hello"))


def change_greeting():
    # A change: in a read-only ghost session the kit's guard refuses it before it gets here.
    session["greeting"] = request.form.get("greeting", "Hello").strip()[:40] or "Hello"
    return redirect(url_for("index"), code=303)


def password():
    return render_template("password.html")


def serve() -> Flask:
    """The console, and this app on every tenant domain: `flask --app examples.minimal_app.app:serve`."""
    return create_app(config_from_environment(), tenant_face=create_example_app)
