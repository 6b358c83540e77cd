"""The test bed: the app on SQLite and on a throwaway PostgreSQL, a movable clock, factories.

Every test that takes `app` runs twice, once per database (ids `[sqlite]` and `[postgresql]`), except
one marked `@postgresql_only`; the schema comes from the Alembic migrations, exactly as `flask db
upgrade` builds it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from flask_migrate import upgrade
from sqlalchemy import text

from config import TestingConfig
from impersonator import ROOT, create_app
from impersonator.extensions import db
from impersonator.models import Tenant, TenantDomain, User
from impersonator.services import secret_box
from impersonator.services.audit import Actor
from impersonator.services.passwords import hash_password
from impersonator.services.staff import totp
from impersonator.services.staff.accounts import create_staff
from tests.support.postgres import PostgresServer, PostgresUnavailable

# Chromium for tests/browser and tests/shipped: one browser per session, shared.
pytest_plugins = ["tests.support.browser"]

IN_CI = os.environ.get("CI", "").lower() == "true"
MIGRATIONS = str(ROOT / "migrations")


def missing_real_part(reason: str):
    """Under CI a missing real part (PostgreSQL, Chromium) is a failure, never a skip."""
    if IN_CI:
        pytest.fail(f"CI needs this and it is missing: {reason}", pytrace=False)
    pytest.skip(reason)


def config_for(url: str, **overrides) -> type[TestingConfig]:
    return type("TestConfig", (TestingConfig,), {"SQLALCHEMY_DATABASE_URI": url, **overrides})


@pytest.fixture(scope="session")
def postgres_server():
    try:
        server = PostgresServer.start()
    except PostgresUnavailable as problem:
        missing_real_part(str(problem))
    yield server
    server.stop()


def migrate_to_head(url: str) -> None:
    app = create_app(config_for(url))
    with app.app_context():
        upgrade(directory=MIGRATIONS)
        db.engine.dispose()


def flask_db(app, *args: str) -> None:
    """Run `flask db <args>` (Flask-Migrate's commands) against the app's database; it must succeed."""
    result = app.test_cli_runner().invoke(args=["db", *args])
    assert result.exit_code == 0, result.output + repr(result.exception)


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_app(request, tmp_path):
    """An app on a brand-new, empty database of its own (no migration run yet), for the tests of the
    migrations themselves: they run `flask_db(fresh_app, "upgrade", ...)` as far as they need."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_server").create_database("fresh_migrations")
    app = create_app(config_for(url))
    yield app
    _dispose(app)


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    migrate_to_head(url)
    return url


@pytest.fixture(scope="session")
def postgres_url(postgres_server) -> str:
    url = postgres_server.create_database("impersonator_test")
    migrate_to_head(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request) -> str:
    """The test's database: both, one test per database, unless the test is `@postgresql_only`."""
    return request.getfixturevalue({"sqlite": "sqlite_url", "postgresql": "postgres_url"}[request.param])


# For a test that only means something on PostgreSQL (its round trips, its indexes): it runs there
# alone (id `[postgresql]`), with no SQLite copy generated only to be skipped.
postgresql_only = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


def _empty_tables(app) -> None:
    with app.app_context():
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        if db.engine.dialect.name == "postgresql":
            db.session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                db.session.execute(text(f"DELETE FROM {table}"))
        db.session.commit()


def _dispose(app) -> None:
    for face in (app, app.extensions["impersonator.tenant_app"]):
        with face.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def make_app(database_url):
    """Build an app on this test's database with config overrides; tables are emptied after."""
    built = []

    def build(**overrides):
        app = create_app(config_for(database_url, **overrides))
        built.append(app)
        return app

    yield build
    if built:
        _empty_tables(built[0])
    for app in built:
        _dispose(app)


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def tenant_app(app):
    return app.extensions["impersonator.tenant_app"]


class Clock:
    """The test's clock: starts at a fixed instant, moves only when told (time-machine)."""

    START = datetime(2026, 11, 23, 12, 0, 5, tzinfo=UTC)

    def __init__(self, traveller) -> None:
        self.traveller = traveller

    def now(self) -> datetime:
        return datetime.now(UTC)

    def advance(self, **delta) -> None:
        self.traveller.shift(timedelta(**delta))

    def next_totp_step(self) -> timedelta:
        """Move to 5 s into the next 30 s TOTP step; returns how far the clock moved."""
        seconds = int(self.now().timestamp())
        moved = timedelta(seconds=(totp.STEP_SECONDS - seconds % totp.STEP_SECONDS) + 5)
        self.traveller.shift(moved)
        return moved


@pytest.fixture
def clock():
    with time_machine.travel(Clock.START, tick=False) as traveller:
        yield Clock(traveller)


@dataclass
class StaffAccount:
    id: int
    email: str
    password: str
    role: str
    secret: str | None

    def code(self, moment: datetime | None = None) -> str:
        return totp.code_at(self.secret, moment or datetime.now(UTC))


@pytest.fixture
def make_staff(app, clock):
    """Create a staff member (enrolled in TOTP unless told otherwise) and return its sign-in."""
    counter = iter(range(1, 10_000))

    def make(
        role: str = "support",
        *,
        email: str | None = None,
        enrolled: bool = True,
        password: str = "a long staff password",
    ) -> StaffAccount:
        email = email or f"{role}{next(counter)}@staff.example"
        with app.app_context():
            staff, _ = create_staff(
                email=email,
                name=f"{role.title()} Person",
                role=role,
                actor=Actor.system("test"),
                now=clock.now(),
                password=password,
            )
            secret = None
            if enrolled:
                secret = totp.new_secret()
                staff.totp_secret_encrypted = secret_box.encrypt(secret)
                staff.totp_enrolled_at = clock.now()
                db.session.commit()
            return StaffAccount(staff.id, email, password, role, secret)

    return make


@pytest.fixture
def tenants(app, clock):
    """Acme (acme.localhost) and Globex (globex.localhost), with one customer each."""
    with app.app_context():
        made = {}
        for slug, name, domain, email in (
            ("acme", "Acme", "acme.localhost", "alice@acme.example"),
            ("globex", "Globex", "globex.localhost", "gina@globex.example"),
        ):
            tenant = Tenant(slug=slug, name=name, created_at=clock.now())
            tenant.domains.append(TenantDomain(domain=domain))
            db.session.add(tenant)
            db.session.flush()
            db.session.add(
                User(
                    tenant_id=tenant.id,
                    email=email,
                    name=email.split("@")[0].title(),
                    password_hash=hash_password("customer password"),
                    created_at=clock.now(),
                )
            )
            made[slug] = tenant.id
        db.session.commit()
    return made
