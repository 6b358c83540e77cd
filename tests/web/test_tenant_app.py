"""The tenant app (issue 3, item 7): projects on the home page and the account page, for the customer
and for the ghost (DESIGN I7, I11).

Ghost sessions here are made directly: an impersonation row, redeemed and not ended, and a tenant
session cookie that holds it, signed exactly as the tenant face signs its cookies for that host.
"""

from __future__ import annotations

import html
import re
import secrets
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from impersonator.extensions import db
from impersonator.models import (
    AnalyticsEvent,
    GhostRequest,
    Impersonation,
    Notification,
    Project,
    Tenant,
    User,
)
from impersonator.services import demo
from impersonator.services.impersonation import ghost as ghost_sessions
from impersonator.services.passwords import hash_password, verify_password
from tests.support.web import ACME, csrf_token, flashes_with_category, post_form, sign_in_customer

ALICE = "alice@acme.example"
PASSWORD = "customer password"
READ_ONLY_REFUSAL = "This impersonation is read-only: changes are not allowed."
OWNER_ONLY_REFUSAL = "Support staff cannot use this page while impersonating"
ANALYTICS = "js/analytics.js"
BANNER = 'id="ghost-banner"'
_FIELD_ERROR = re.compile(r'<p class="field-error" id="([^"]+)-error">(.*?)</p>', re.S)


# --- helpers --------------------------------------------------------------------------------------


def field_errors(response) -> dict[str, str]:
    return {field: html.unescape(text.strip()) for field, text in _FIELD_ERROR.findall(response.text)}


def user_id(app, email: str) -> int:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.email == email))


def add_user(app, tenant_id: int, email: str, password: str = PASSWORD) -> int:
    with app.app_context():
        user = User(
            tenant_id=tenant_id, email=email, name="Another Person", password_hash=hash_password(password)
        )
        db.session.add(user)
        db.session.commit()
        return user.id


def add_project(app, owner_email: str, name: str, *, at) -> int:
    with app.app_context():
        owner = db.session.scalar(select(User).where(User.email == owner_email))
        project = Project(
            tenant_id=owner.tenant_id, owner_id=owner.id, name=name, created_at=at, updated_at=at
        )
        db.session.add(project)
        db.session.commit()
        return project.id


def project_names(app, owner_email: str) -> list[str]:
    with app.app_context():
        owner_id = db.session.scalar(select(User.id).where(User.email == owner_email))
        return list(
            db.session.scalars(select(Project.name).where(Project.owner_id == owner_id).order_by(Project.id))
        )


def notifications(app) -> list[tuple[str, str, int | None]]:
    """(kind, status, impersonation id) of every notification, in order."""
    with app.app_context():
        rows = db.session.scalars(select(Notification).order_by(Notification.id))
        return [(n.kind, n.status, n.impersonation_id) for n in rows]


def analytics_events(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AnalyticsEvent.name).order_by(AnalyticsEvent.id)))


def account_row(app, email_or_id) -> User:
    with app.app_context():
        if isinstance(email_or_id, int):
            row = db.session.get(User, email_or_id)
        else:
            row = db.session.scalar(select(User).where(User.email == email_or_id))
        db.session.expunge(row)
        return row


def snapshot(app) -> dict:
    """Everything a tenant-app POST could change."""
    with app.app_context():
        counts = {
            model.__tablename__: db.session.scalar(select(func.count()).select_from(model))
            for model in (Project, Notification, AnalyticsEvent)
        }
        projects = [
            (p.id, p.name, p.updated_at) for p in db.session.scalars(select(Project).order_by(Project.id))
        ]
        users = [
            (u.id, u.name, u.email, u.password_hash, u.last_sign_in_at)
            for u in db.session.scalars(select(User).order_by(User.id))
        ]
        return {"counts": counts, "projects": projects, "users": users}


def signed_in(client) -> None:
    assert sign_in_customer(client, ACME, ALICE, PASSWORD).status_code == 303


def create(client, name: str):
    return post_form(client, ACME, "/", "/projects", {"name": name})


def rename(client, project_id: int, name: str):
    return post_form(client, ACME, "/", f"/projects/{project_id}/rename", {"name": name})


def account_post(client, form: str, data: dict):
    return post_form(client, ACME, "/account", f"/account/{form}", data)


def change_email(client, email: str, password: str = PASSWORD):
    return account_post(client, "email", {"email-email": email, "email-current_password": password})


def change_password(client, current: str, new: str, confirm: str | None = None):
    data = {
        "password-current_password": current,
        "password-new_password": new,
        "password-confirm_password": new if confirm is None else confirm,
    }
    return account_post(client, "password", data)


GHOST_SECRET = "the-ghost-sessions-own-secret-set-at-redemption"


def start_ghost(app, client, make_staff, clock, *, mode: str) -> int:
    """A ghost session on Alice's account: an impersonation row, redeemed now and not ended, and the
    tenant session cookie that carries it, signed as the tenant face signs it on acme.localhost."""
    staff = make_staff("support" if mode == "read_only" else "impersonator")
    now = clock.now()
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == ALICE))
        imp = Impersonation(
            staff_id=staff.id,
            user_id=user.id,
            tenant_id=user.tenant_id,
            reason="The customer reports that a project disappeared",
            mode=mode,
            duration_minutes=30,
            access_via="opt_in",
            token_jti=secrets.token_urlsafe(24),
            audience="acme.localhost",
            issued_at=now,
            token_expires_at=now + timedelta(seconds=60),
            redeemed_at=now,
            expires_at=now + timedelta(minutes=30),
            ghost_secret_hash=ghost_sessions.secret_hash(GHOST_SECRET),
        )
        db.session.add(imp)
        db.session.commit()
        impersonation_id = imp.id
    tenant_app = app.extensions["impersonator.tenant_app"]
    with tenant_app.test_request_context("/", base_url=ACME):
        serializer = tenant_app.session_interface.get_signing_serializer(tenant_app)
        value = serializer.dumps({"ghost": {"impersonation_id": impersonation_id, "secret": GHOST_SECRET}})
    client.set_cookie(tenant_app.config["SESSION_COOKIE_NAME"], value, domain="acme.localhost")
    return impersonation_id


# --- the customer's projects -----------------------------------------------------------------------


def test_customer_creates_projects_and_sees_them_newest_first(app, client, tenants, clock):
    signed_in(client)

    first = create(client, "  Website relaunch  ")
    clock.advance(minutes=5)
    second = create(client, "Quarterly budget")

    assert first.status_code == second.status_code == 303
    assert urlsplit(second.headers["Location"]).path == "/"
    home = client.get("/", base_url=ACME)
    assert ("info", "Project “Quarterly budget” created.") in flashes_with_category(home)
    assert home.text.index("Quarterly budget") < home.text.index("Website relaunch")
    assert project_names(app, ALICE) == ["Website relaunch", "Quarterly budget"]  # trimmed


def test_creating_and_renaming_notify_the_customer_and_record_analytics(app, client, tenants, clock):
    signed_in(client)
    create(client, "Atlas")
    [project_id] = [p[0] for p in snapshot(app)["projects"]]

    response = rename(client, project_id, "Atlas v2")

    assert response.status_code == 303
    assert ("info", "Project renamed to “Atlas v2”.") in flashes_with_category(client.get("/", base_url=ACME))
    assert project_names(app, ALICE) == ["Atlas v2"]
    assert notifications(app) == [("project.created", "sent", None), ("project.renamed", "sent", None)]
    assert analytics_events(app) == ["project.created", "project.renamed"]


def test_renaming_to_the_same_name_changes_and_sends_nothing(app, client, tenants, clock):
    signed_in(client)
    project_id = add_project(app, ALICE, "Atlas", at=clock.now())
    before = snapshot(app)

    assert rename(client, project_id, " Atlas ").status_code == 303
    assert snapshot(app) == before


def test_customer_sees_only_their_own_projects(app, client, tenants, clock):
    add_user(app, tenants["acme"], "ann@acme.example")
    add_project(app, ALICE, "Alice's own", at=clock.now())
    add_project(app, "ann@acme.example", "Ann's secret plan", at=clock.now())
    add_project(app, "gina@globex.example", "Globex merger", at=clock.now())
    signed_in(client)

    home = html.unescape(client.get("/", base_url=ACME).text)

    assert "Alice's own" in home
    assert "Ann's secret plan" not in home
    assert "Globex merger" not in home


@pytest.mark.parametrize("owner", ["another user of the tenant", "a user of another tenant", "nobody"])
def test_renaming_a_project_that_is_not_yours_is_not_found(app, client, tenants, clock, owner):
    add_user(app, tenants["acme"], "ann@acme.example")
    project_id = {
        "another user of the tenant": lambda: add_project(
            app, "ann@acme.example", "Ann's plan", at=clock.now()
        ),
        "a user of another tenant": lambda: add_project(app, "gina@globex.example", "Merger", at=clock.now()),
        "nobody": lambda: 987_654,
    }[owner]()
    signed_in(client)
    before = snapshot(app)

    response = rename(client, project_id, "Mine now")
    invalid = rename(client, project_id, "")

    assert response.status_code == invalid.status_code == 404
    assert "There is no such project." in response.text
    assert snapshot(app) == before


BAD_NAMES = {
    "empty": ("", "Project name is required."),
    "only spaces": ("   ", "Project name is required."),
    "too long": ("x" * 201, "Project name must be at most 200 characters."),
    "NUL byte": ("Atlas\x00", "Project name contains a NUL byte; please remove it."),
    "control character": ("Atlas\x07", "Project name contains a control character; please remove it."),
    "bidi override": (
        "Atlas\u202e",
        "Project name contains a text-direction control character; please remove it.",
    ),
    "huge": ("x" * 60_000, "Project name must be at most 200 characters."),
}


@pytest.mark.parametrize("name, message", BAD_NAMES.values(), ids=list(BAD_NAMES))
def test_i11_a_bad_project_name_gets_a_400_with_its_message(app, client, tenants, clock, name, message):
    signed_in(client)
    project_id = add_project(app, ALICE, "Atlas", at=clock.now())
    before = snapshot(app)

    created = create(client, name)
    renamed = rename(client, project_id, name)

    assert created.status_code == renamed.status_code == 400
    assert field_errors(created) == {"name": message}
    assert field_errors(renamed) == {f"rename-{project_id}": message}
    assert "\x00" not in created.text + renamed.text
    assert snapshot(app) == before


def test_a_200_character_name_is_accepted(app, client, tenants):
    signed_in(client)

    assert create(client, "é" * 200).status_code == 303
    assert project_names(app, ALICE) == ["é" * 200]


def test_i11_project_names_are_escaped(app, client, tenants, clock):
    script = "<script>alert(1)</script>"
    signed_in(client)

    create(client, script)
    page = client.get("/", base_url=ACME).text

    assert script not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_the_analytics_script_is_rendered_for_the_customer(app, client, tenants):
    signed_in(client)

    for path in ("/", "/account"):
        page = client.get(path, base_url=ACME).text
        assert ANALYTICS in page
        assert BANNER not in page


# --- the customer's account ------------------------------------------------------------------------


def test_the_account_page_shows_name_and_email_and_is_linked_from_the_nav(app, client, tenants):
    signed_in(client)

    home = client.get("/", base_url=ACME).text
    page = client.get("/account", base_url=ACME)

    assert 'href="/account"' in home
    assert page.status_code == 200
    assert "<dd>Alice</dd>" in page.text
    assert f"<dd>{ALICE}</dd>" in page.text
    for label in ("Name", "New email", "Your password", "Current password", "New password"):
        assert f">{label}</label>" in page.text


def test_customer_changes_their_name(app, client, tenants):
    signed_in(client)

    response = account_post(client, "name", {"name": "  Alice Liddell "})

    assert response.status_code == 303
    assert urlsplit(response.headers["Location"]).path == "/account"
    assert account_row(app, ALICE).name == "Alice Liddell"
    assert "Hello, Alice Liddell" in client.get("/", base_url=ACME).text


@pytest.mark.parametrize(
    "name, message",
    [("", "Name is required."), ("x" * 201, "Name must be at most 200 characters."), ("A\x00", "NUL byte")],
    ids=["empty", "too long", "NUL byte"],
)
def test_i11_a_bad_name_gets_a_400_with_its_message(app, client, tenants, name, message):
    signed_in(client)
    before = snapshot(app)

    response = account_post(client, "name", {"name": name})

    assert response.status_code == 400
    assert message in field_errors(response)["name"]
    assert snapshot(app) == before


def test_customer_changes_their_email_and_signs_in_with_it(app, client, tenants):
    signed_in(client)
    alice_id = user_id(app, ALICE)

    response = change_email(client, "  Alice.Liddell@Example.COM ")

    assert response.status_code == 303
    assert account_row(app, alice_id).email == "alice.liddell@example.com"
    assert notifications(app) == [("account.email_changed", "sent", None)]
    client.post(
        "/sign-out", base_url=ACME, data={"csrf_token": csrf_token(client.get("/", base_url=ACME).text)}
    )
    assert sign_in_customer(client, ACME, ALICE, PASSWORD).status_code == 401
    assert sign_in_customer(client, ACME, "alice.liddell@example.com", PASSWORD).status_code == 303


def test_an_email_used_by_another_account_of_the_tenant_is_refused(app, client, tenants):
    add_user(app, tenants["acme"], "ann@acme.example")
    signed_in(client)
    before = snapshot(app)

    response = change_email(client, "ANN@acme.example")

    assert response.status_code == 400
    assert field_errors(response) == {
        "email-email": "Another account on this site already uses this email address."
    }
    assert snapshot(app) == before


def test_an_email_used_on_another_tenant_is_fine(app, client, tenants):
    signed_in(client)

    assert change_email(client, "gina@globex.example").status_code == 303

    with app.app_context():
        owners = db.session.execute(
            select(User.tenant_id, User.name)
            .where(User.email == "gina@globex.example")
            .order_by(User.tenant_id)
        ).all()
    assert owners == [(tenants["acme"], "Alice"), (tenants["globex"], "Gina")]


@pytest.mark.parametrize(
    "email, password, field, message",
    [
        (
            "new@acme.example",
            "wrong password",
            "email-current_password",
            "Your current password is not correct.",
        ),
        ("not an address", PASSWORD, "email-email", "Enter an email address such as name@example.com."),
        ("", PASSWORD, "email-email", "Email is required."),
        ("new\x00@acme.example", PASSWORD, "email-email", "Email contains a NUL byte; please remove it."),
        ("x" * 300 + "@acme.example", PASSWORD, "email-email", "Email must be at most 254 characters."),
        (ALICE, PASSWORD, "email-email", "This is already your email address."),
        ("new@acme.example", "", "email-current_password", "Password is required."),
    ],
    ids=["wrong password", "not an address", "empty", "NUL byte", "too long", "unchanged", "no password"],
)
def test_i11_a_refused_email_change_gets_a_400_with_a_field_message(
    app, client, tenants, email, password, field, message
):
    signed_in(client)
    before = snapshot(app)

    response = change_email(client, email, password)

    assert response.status_code == 400
    assert field_errors(response) == {field: message}
    assert snapshot(app) == before


def test_customer_changes_their_password(app, client, tenants):
    signed_in(client)

    response = change_password(client, PASSWORD, "a brand new passphrase")

    assert response.status_code == 303
    account_page = client.get("/account", base_url=ACME)
    assert ("info", "Your password was changed.") in flashes_with_category(account_page)
    assert verify_password(account_row(app, ALICE).password_hash, "a brand new passphrase")
    assert notifications(app) == [("account.password_changed", "sent", None)]
    other = app.test_client()
    assert sign_in_customer(other, ACME, ALICE, PASSWORD).status_code == 401
    assert sign_in_customer(other, ACME, ALICE, "a brand new passphrase").status_code == 303


@pytest.mark.parametrize(
    "current, new, confirm, field, message",
    [
        ("wrong password", "a brand new passphrase", None, "password-current_password", "not correct"),
        (PASSWORD, "short", None, "password-new_password", "at least 12 characters"),
        (
            PASSWORD,
            "a brand new passphrase",
            "a brand new passphrasE",
            "password-confirm_password",
            "not the same",
        ),
        (PASSWORD, "x" * 1025, "a brand new passphrase", "password-new_password", "at most 1024 characters"),
        (PASSWORD, "a new\x00passphrase", "a brand new passphrase", "password-new_password", "NUL byte"),
        ("", "a brand new passphrase", None, "password-current_password", "Password is required."),
    ],
    ids=["wrong current", "too short", "confirmation differs", "too long", "NUL byte", "no current"],
)
def test_i11_a_refused_password_change_gets_a_400_with_a_field_message(
    app, client, tenants, current, new, confirm, field, message
):
    signed_in(client)
    before = snapshot(app)

    response = change_password(client, current, new, confirm)

    assert response.status_code == 400
    errors = field_errors(response)
    assert list(errors) == [field]
    assert message in errors[field]
    assert snapshot(app) == before


def test_wrong_current_passwords_lock_the_account_for_a_while(app, client, tenants, clock):
    signed_in(client)
    for _ in range(app.config["LOCKOUT_THRESHOLD"]):
        assert change_password(client, "wrong password", "a brand new passphrase").status_code == 400

    locked = change_password(client, PASSWORD, "a brand new passphrase")

    assert locked.status_code == 429
    assert "Retry-After" in locked.headers
    assert verify_password(account_row(app, ALICE).password_hash, PASSWORD)
    clock.advance(minutes=app.config["LOCKOUT_MINUTES"], seconds=1)
    assert change_password(client, PASSWORD, "a brand new passphrase").status_code == 303


@pytest.mark.parametrize(
    "path, data",
    [
        ("/projects", {"name": "Atlas"}),
        ("/projects/{project_id}/rename", {"name": "Atlas v2"}),
        ("/account/name", {"name": "Mallory"}),
        ("/account/email", {"email-email": "mallory@evil.example", "email-current_password": PASSWORD}),
        (
            "/account/password",
            {
                "password-current_password": PASSWORD,
                "password-new_password": "mallory's password",
                "password-confirm_password": "mallory's password",
            },
        ),
    ],
    ids=["create project", "rename project", "name", "email", "password"],
)
def test_i11_a_tenant_app_post_without_csrf_token_changes_nothing(app, client, tenants, clock, path, data):
    signed_in(client)
    project_id = add_project(app, ALICE, "Atlas", at=clock.now())
    before = snapshot(app)

    response = client.post(path.format(project_id=project_id), base_url=ACME, data=data)

    assert response.status_code == 400
    assert "This form has expired or was not sent from this site" in response.text
    assert snapshot(app) == before


def test_the_tenant_app_pages_need_a_signed_in_customer(app, client, tenants):
    for path in ("/", "/account"):
        response = client.get(path, base_url=ACME)
        assert response.status_code == 302
        assert urlsplit(response.headers["Location"]).path == "/sign-in"


# --- the ghost -------------------------------------------------------------------------------------


def test_i7_a_read_only_ghost_cannot_create_or_rename_a_project_or_change_the_name(
    app, client, tenants, make_staff, clock
):
    project_id = add_project(app, ALICE, "Atlas", at=clock.now())
    start_ghost(app, client, make_staff, clock, mode="read_only")
    before = snapshot(app)

    refused = [
        create(client, "Ghost project"),
        rename(client, project_id, "Renamed by a ghost"),
        account_post(client, "name", {"name": "Renamed by a ghost"}),
    ]

    for response in refused:
        assert response.status_code == 403
        assert READ_ONLY_REFUSAL in response.text
        assert BANNER in response.text
    assert snapshot(app) == before


def test_i7_a_full_mode_ghost_creates_a_project_quietly(app, client, tenants, make_staff, clock):
    impersonation_id = start_ghost(app, client, make_staff, clock, mode="full")

    response = create(client, "Ghost project")
    home = client.get("/", base_url=ACME)

    assert response.status_code == 303
    assert project_names(app, ALICE) == ["Ghost project"]
    assert "Ghost project" in home.text
    assert notifications(app) == [("project.created", "suppressed", impersonation_id)]
    assert analytics_events(app) == []
    with app.app_context():
        trail = db.session.execute(
            select(GhostRequest.method, GhostRequest.path, GhostRequest.status).where(
                GhostRequest.impersonation_id == impersonation_id
            )
        ).all()
    assert ("POST", "/projects", 303) in trail


def test_i7_a_full_mode_ghost_renames_a_project_and_changes_the_name_quietly(
    app, client, tenants, make_staff, clock
):
    project_id = add_project(app, ALICE, "Atlas", at=clock.now())
    impersonation_id = start_ghost(app, client, make_staff, clock, mode="full")

    assert rename(client, project_id, "Atlas v2").status_code == 303
    assert account_post(client, "name", {"name": "Alice A."}).status_code == 303

    assert project_names(app, ALICE) == ["Atlas v2"]
    assert account_row(app, ALICE).name == "Alice A."
    assert notifications(app) == [("project.renamed", "suppressed", impersonation_id)]
    assert analytics_events(app) == []


@pytest.mark.parametrize("mode", ["read_only", "full"])
def test_i7_the_banner_is_on_every_page_and_analytics_never_are(
    app, client, tenants, make_staff, clock, mode
):
    add_project(app, ALICE, "Atlas", at=clock.now())
    start_ghost(app, client, make_staff, clock, mode=mode)

    pages = {
        "home": (client.get("/", base_url=ACME), 200),
        "account": (client.get("/account", base_url=ACME), 200),
        "not found": (client.get("/no-such-page", base_url=ACME), 404),
        "someone else's project": (rename(client, 987_654, "Atlas v2"), 404 if mode == "full" else 403),
        "bad input": (create(client, ""), 400 if mode == "full" else 403),
        "owner only": (change_password(client, PASSWORD, "the ghost's own password"), 403),
    }

    assert "Atlas" in pages["home"][0].text
    for name, (page, status) in pages.items():
        assert page.status_code == status, name
        assert BANNER in page.text, name
        assert ANALYTICS not in page.text, name
        assert "data-analytics-user" not in page.text, name


@pytest.mark.parametrize("mode", ["read_only", "full"])
def test_i7_ghost_cannot_change_password_or_email_in_full_mode(app, client, tenants, make_staff, clock, mode):
    """In full mode too (and in read-only mode, of course): the account's credentials are the owner's."""
    start_ghost(app, client, make_staff, clock, mode=mode)
    before = snapshot(app)
    refusal = OWNER_ONLY_REFUSAL if mode == "full" else READ_ONLY_REFUSAL

    refused = [
        change_password(client, PASSWORD, "the ghost's own password"),
        change_email(client, "ghost@evil.example"),
    ]

    for response in refused:
        assert response.status_code == 403
        assert refusal in response.text
        assert BANNER in response.text
    assert snapshot(app) == before


def test_i7_the_account_page_offers_the_ghost_no_email_or_password_form(
    app, client, tenants, make_staff, clock
):
    start_ghost(app, client, make_staff, clock, mode="full")

    page = client.get("/account", base_url=ACME).text

    assert 'action="/account/name"' in page
    assert 'action="/account/email"' not in page
    assert 'action="/account/password"' not in page
    assert "only its owner can" in page


@pytest.mark.parametrize("mode", ["read_only", "full"])
def test_i7_ghost_requests_leave_the_customers_last_sign_in_untouched(
    app, client, tenants, make_staff, clock, mode
):
    signed_in_at = clock.now() - timedelta(days=3)
    with app.app_context():
        db.session.get(User, user_id(app, ALICE)).last_sign_in_at = signed_in_at
        db.session.commit()
    start_ghost(app, client, make_staff, clock, mode=mode)
    clock.advance(minutes=1)

    client.get("/", base_url=ACME)
    client.get("/account", base_url=ACME)
    create(client, "Ghost project")
    account_post(client, "name", {"name": "Alice A."})

    assert account_row(app, ALICE).last_sign_in_at == signed_in_at


def test_i7_a_customer_acting_during_a_ghost_session_is_not_notified_but_counted(
    app, client, tenants, make_staff, clock
):
    """The rule is per account: while support looks at it, no notification leaves it at all."""
    ghost_browser = app.test_client()
    impersonation_id = start_ghost(app, ghost_browser, make_staff, clock, mode="read_only")
    signed_in(client)

    assert create(client, "Customer's own").status_code == 303

    assert notifications(app) == [("project.created", "suppressed", impersonation_id)]
    assert analytics_events(app) == ["project.created"]


# --- demo data -------------------------------------------------------------------------------------


def test_demo_customers_get_their_projects_once(app, clock):
    with app.app_context():
        demo.seed_demo(now=clock.now(), issuer="Impersonator")
        alice = db.session.scalar(select(User).where(User.email == "alice@acme.example"))
        db.session.add(Project(tenant_id=alice.tenant_id, owner_id=alice.id, name="Alice's own"))
        db.session.commit()
        demo.seed_demo(now=clock.now(), issuer="Impersonator")

        for email, names in demo.DEMO_PROJECTS.items():
            owner = db.session.scalar(select(User).where(User.email == email))
            owned = list(
                db.session.scalars(
                    select(Project.name).where(Project.owner_id == owner.id).order_by(Project.id)
                )
            )
            expected = [*reversed(names)] + (["Alice's own"] if email == "alice@acme.example" else [])
            assert owned == expected, email
            assert 2 <= len(names) <= 3
        customers = db.session.scalar(select(func.count()).select_from(User))
        assert customers == len(demo.DEMO_PROJECTS)
        assert db.session.scalar(select(func.count()).select_from(Tenant)) == 2
