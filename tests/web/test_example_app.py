"""The integration kit in another app (DESIGN §12, issue 15): examples/minimal_app installs
`ImpersonatorTenant` as a customer's app would, and its ghost sessions keep the same promises as
the demo tenant app's (I4, I7, I8). Served by the console's WSGI entry, so the console's side of
each test is the real one: sign-in, launch, handoff."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.sessions import SessionInterface

from impersonator import ROOT
from impersonator.kit import ImpersonatorSetupError, ImpersonatorTenant
from tests.conftest import config_for
from tests.support.example_app import copy_tenant_cookie, example_app, greets, tenant_face  # noqa: F401
from tests.support.impersonation import (
    BANNER,
    END_PATH,
    ENDED_TITLE,
    READ_ONLY_MESSAGE,
    REDEEM_PATH,
    end_ghost,
    ghost_requests,
    launch,
    launch_and_redeem,
    redeem,
    the_impersonation,
)
from tests.support.records import audit_events
from tests.support.web import ACME, CONSOLE, GLOBEX, csrf_token, sign_in


@pytest.fixture
def app(example_app):  # noqa: F811  (every fixture of tests/conftest.py now serves the example)
    return example_app


OWNER_ONLY = "Support staff cannot use this page while impersonating"


def start_ghost(client, make_staff, clock, alice, **fields):
    """A support agent's browser, impersonating Alice on the example app (read-only by default)."""
    member = make_staff("impersonator")
    sign_in(client, member, clock)
    launched = launch_and_redeem(client, member, clock, alice, **fields)
    assert launched.redeemed.status_code == 303, launched.redeemed.text
    assert launched.redeemed.headers["Location"] == "/"  # the host's home_endpoint
    return launched


@pytest.fixture
def ghost(client, make_staff, clock, alice):
    start_ghost(client, make_staff, clock, alice)
    return client


def greeting_post(client):
    token = csrf_token(client.get("/", base_url=ACME).text)
    return client.post("/greeting", base_url=ACME, data={"csrf_token": token, "greeting": "Boo"})


def test_the_example_is_the_tenant_face_and_the_console_stays_the_console(app, client, tenants):
    assert tenant_face(app).import_name == "examples.minimal_app.app"
    assert greets(client) == "Hello, stranger"  # not a ghost: the app's own behaviour
    assert client.get("/", base_url="http://nowhere.localhost").status_code == 404
    assert client.get("/sign-in", base_url=CONSOLE).status_code == 200


def test_the_kits_steps_run_in_order_without_a_host_sign_in_check(app):
    steps = [step.__name__ for step in tenant_face(app).before_request_funcs[None]]
    assert steps == ["resolve_tenant", "guard", "csrf_protect"]


def test_i7_redeemed_the_ghost_sees_the_customer_under_the_banner(ghost):
    page = ghost.get("/", base_url=ACME).text

    assert "<h1>Hello, Alice</h1>" in page  # the host's user object, from its user_loader
    banner = page[page.index(BANNER) : page.index("</div>", page.index(BANNER))]
    assert "You are signed in as <strong>Alice</strong> (Acme)" in banner
    assert "read-only" in banner and "60 min left" in banner
    assert f'action="{END_PATH}"' in banner


def test_i7_the_banner_is_on_every_page_of_the_example(app, ghost):
    pages = sorted(
        rule.rule
        for rule in tenant_face(app).url_map.iter_rules()
        if "GET" in rule.methods and not rule.arguments and rule.endpoint != "static"
    )
    assert {"/", "/impersonation/ended", REDEEM_PATH, "/password"} < set(pages)

    for path in pages:
        page = ghost.get(path, base_url=ACME, follow_redirects=True)
        owner_only = path == "/password" or path.startswith("/settings/support-access")
        expected = 403 if owner_only else 405 if path == REDEEM_PATH else 200
        assert page.status_code == expected, path
        assert BANNER in page.text, path


def test_i7_read_only_refuses_the_examples_post_but_end_works(app, ghost):
    refused = greeting_post(ghost)

    assert refused.status_code == 403 and READ_ONLY_MESSAGE in refused.text
    assert BANNER in refused.text
    assert greets(ghost) == "Hello, Alice"  # unchanged, still the ghost
    ended = end_ghost(ghost)
    assert ended.status_code == 303 and ended.headers["Location"] == "/impersonation/ended"


def test_i7_full_mode_may_change_the_greeting(client, make_staff, clock, alice):
    start_ghost(client, make_staff, clock, alice, mode="full")

    assert greeting_post(client).status_code == 303
    assert greets(client) == "Boo, Alice"


@pytest.mark.parametrize("mode", ["read_only", "full"])
def test_i7_the_credential_endpoint_is_refused_to_the_ghost_whatever_the_mode(
    app, client, make_staff, clock, alice, mode
):
    visitor = app.test_client()
    assert visitor.get("/password", base_url=ACME).status_code == 200  # not a ghost: the page

    start_ghost(client, make_staff, clock, alice, mode=mode)
    page = client.get("/password", base_url=ACME)

    assert page.status_code == 403
    assert OWNER_ONLY in page.text and BANNER in page.text
    assert "Change your password" not in page.text


def test_i7_every_ghost_request_is_recorded_against_the_impersonation(app, ghost):
    ghost.get("/password", base_url=ACME)
    greeting_post(ghost)  # its GET of / first, then the POST
    ghost.get("/no/such/page", base_url=ACME)

    end_ghost(ghost)

    assert ghost_requests(app, the_impersonation(app).id) == [
        ("GET", "/password", 403),
        ("GET", "/", 200),
        ("POST", "/greeting", 403),
        ("GET", "/no/such/page", 404),
        ("GET", "/", 200),
        ("POST", END_PATH, 303),
    ]


def test_i4_end_lands_on_the_ended_page_that_links_to_the_console(app, ghost, alice):
    end_ghost(ghost)

    landed = ghost.get("/impersonation/ended", base_url=ACME)

    assert landed.status_code == 200 and ENDED_TITLE in landed.text
    assert f'href="{CONSOLE}/users/{alice}"' in landed.text
    assert "<title>Impersonation ended · Acme</title>" in landed.text  # in the host's base template
    assert greets(ghost) == "Hello, stranger"
    [event] = audit_events(app, "impersonation.ended")
    assert event["details"]["reason"] == "staff_ended"


def test_i2_a_replayed_token_is_refused(app, client, make_staff, clock, alice):
    launched = start_ghost(client, make_staff, clock, alice)

    replay = redeem(app.test_client(), launched.token)

    assert replay.status_code == 410 and "already used" in replay.text


def test_i8_the_ghost_cookie_from_acme_is_not_a_ghost_on_globex(app, ghost):
    thief = app.test_client()
    copy_tenant_cookie(app, ghost, thief, to_domain="globex.localhost")

    assert greets(thief, GLOBEX) == "Hello, stranger"
    assert greets(ghost) == "Hello, Alice"  # the real session on acme is untouched
    copy_tenant_cookie(app, ghost, tab := app.test_client(), to_domain="acme.localhost")
    assert greets(tab) == "Hello, Alice"  # the control: the copy works on its own host


def test_i4_the_session_ends_after_its_duration(app, client, make_staff, clock, alice):
    start_ghost(client, make_staff, clock, alice, duration="30")
    clock.advance(minutes=29)
    assert greets(client) == "Hello, Alice"

    clock.advance(minutes=2)
    page = client.get("/", base_url=ACME)

    assert page.status_code == 403
    assert ENDED_TITLE in page.text and "Time limit reached." in page.text
    assert BANNER not in page.text
    assert [e["details"]["reason"] for e in audit_events(app, "impersonation.ended")] == ["expired"]
    assert greets(client) == "Hello, stranger"  # the ghost cookie is gone


def test_a_second_handoff_replaces_the_ghost_session(app, client, make_staff, clock, alice):
    member = make_staff("support")
    sign_in(client, member, clock)
    launch_and_redeem(client, member, clock, alice)

    assert redeem(client, launch(client, member, clock, alice)[1]).status_code == 303
    assert greets(client) == "Hello, Alice"


# --- the boundary: the kit refuses to start without what it needs from the host ------------------


OPTIONS = {
    "user_loader": str,
    "base_template": "base.html",
    "home_endpoint": "index",
    "current_customer": lambda: None,
}


def bare_app(url: str = "sqlite://") -> Flask:
    """A host app with the example's templates, before the kit is installed."""
    app = Flask(__name__, template_folder=str(ROOT / "examples" / "minimal_app" / "templates"))
    app.config.from_object(config_for(url))
    return app


def test_the_kit_names_every_missing_host_option():
    with pytest.raises(ImpersonatorSetupError) as refused:
        ImpersonatorTenant(bare_app())

    for option in ("user_loader=", "base_template=", "home_endpoint=", "current_customer="):
        assert option in str(refused.value)


def test_the_kit_refuses_a_base_template_the_app_does_not_have():
    with pytest.raises(ImpersonatorSetupError, match=r"base_template='missing\.html'"):
        ImpersonatorTenant(bare_app(), **dict(OPTIONS, base_template="missing.html"))


def test_the_kit_refuses_a_session_that_it_cannot_bind_to_the_host():
    app = bare_app()
    app.session_interface = SessionInterface()

    with pytest.raises(ImpersonatorSetupError, match="cookie sessions"):
        ImpersonatorTenant(app, **OPTIONS)


def test_the_kit_refuses_to_serve_with_a_misspelt_credential_endpoint(app, tenants):
    """Routes come after the kit starts, so the names are checked on every request: a typo would
    otherwise leave the credential page open to the ghost."""
    host = bare_app(app.config["SQLALCHEMY_DATABASE_URI"])
    host.add_url_rule("/", "index", lambda: "home")
    host.add_url_rule("/password", "password", lambda: "password")
    ImpersonatorTenant(host, **OPTIONS, credential_endpoints={"pasword"})

    with pytest.raises(ImpersonatorSetupError, match="pasword"):
        host.test_client().get("/", base_url=ACME)


def test_a_value_the_example_marks_sensitive_is_masked_for_the_ghost_until_revealed(app, ghost):
    page = ghost.get("/", base_url=ACME).text
    assert "a•••@acme.example" in page and "alice@acme.example" not in page

    token = csrf_token(page)
    data = {"csrf_token": token, "category": "contact", "key": "email", "reason": "Checking the login email."}
    revealed = ghost.post("/impersonation/reveal", base_url=ACME, data={**data, "back": "/"})

    assert revealed.status_code == 303 and revealed.headers["Location"] == "/"
    assert "alice@acme.example" in ghost.get("/", base_url=ACME).text
    [event] = audit_events(app, "impersonation.revealed")
    assert event["details"]["key"] == "email"
