"""Configuration: production fails closed, booleans are parsed explicitly, cookies are Secure (I8, I12)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import config
from config import (
    ConfigError,
    DevelopmentConfig,
    ProductionConfig,
    config_from_environment,
    env_bool,
)
from impersonator import ROOT, create_app

COMPLETE = {
    "SECRET_KEY": "a production secret key, long enough",
    # Never connected to: the factory does no I/O, and the page built below reads no database.
    "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://impersonator@db.invalid/impersonator",
    "AUDIT_HMAC_KEY": "a production audit key, also long enough",
}


def production(**overrides) -> type[ProductionConfig]:
    """ProductionConfig with a secret key and a database URL, then `overrides`."""
    return type("Production", (ProductionConfig,), {**COMPLETE, **overrides})


def test_complete_production_config_passes_its_check():
    production().check()


@pytest.mark.parametrize(
    ("overrides", "named", "not_named"),
    [
        ({"SECRET_KEY": None}, ["SECRET_KEY"], "DATABASE_URL"),
        ({"SQLALCHEMY_DATABASE_URI": None}, ["DATABASE_URL"], "SECRET_KEY"),
        ({"SECRET_KEY": None, "SQLALCHEMY_DATABASE_URI": None}, ["SECRET_KEY", "DATABASE_URL"], None),
        ({"SECRET_KEY": ""}, ["SECRET_KEY"], "DATABASE_URL"),
    ],
    ids=["no_secret_key", "no_database_url", "neither", "empty_secret_key"],
)
def test_i12_production_refuses_to_start_without_its_secrets(overrides, named, not_named):
    with pytest.raises(ConfigError) as refused:
        production(**overrides).check()
    for name in named:
        assert name in str(refused.value)
    if not_named:
        assert not_named not in str(refused.value)


def test_i12_production_app_is_not_built_without_a_secret_key():
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app(production(SECRET_KEY=None))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        (" yes ", True),
        ("1", True),
        ("on", True),
        ("false", False),
        ("False", False),
        ("no", False),
        ("0", False),
        ("off", False),
    ],
)
def test_env_bool_parses_explicitly(monkeypatch, raw, expected):
    monkeypatch.setenv("IMPERSONATOR_TEST_FLAG", raw)
    assert env_bool("IMPERSONATOR_TEST_FLAG", default=not expected) is expected


@pytest.mark.parametrize("default", [True, False])
def test_env_bool_unset_or_blank_gives_the_default(monkeypatch, default):
    monkeypatch.delenv("IMPERSONATOR_TEST_FLAG", raising=False)
    assert env_bool("IMPERSONATOR_TEST_FLAG", default) is default
    monkeypatch.setenv("IMPERSONATOR_TEST_FLAG", "  ")
    assert env_bool("IMPERSONATOR_TEST_FLAG", default) is default


@pytest.mark.parametrize("raw", ["maybe", "2", "truthy", "y e s"])
def test_env_bool_refuses_anything_else(monkeypatch, raw):
    monkeypatch.setenv("IMPERSONATOR_TEST_FLAG", raw)
    with pytest.raises(ConfigError, match="IMPERSONATOR_TEST_FLAG"):
        env_bool("IMPERSONATOR_TEST_FLAG", default=True)


def import_app(**env: str) -> subprocess.CompletedProcess:
    """`python -c "import app"` in a fresh interpreter, with no secret key or database in sight."""
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DATABASE_URL"}}
    return subprocess.run(
        [sys.executable, "-c", "import app"],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_i12_production_without_secret_key_exits_with_one_line():
    result = import_app(IMPERSONATOR_ENV="production")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "SECRET_KEY" in lines[0]


def test_unknown_environment_exits_with_one_line():
    result = import_app(IMPERSONATOR_ENV="staging")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "staging" in lines[0]


def test_unknown_environment_is_refused(monkeypatch):
    monkeypatch.setenv("IMPERSONATOR_ENV", "staging")
    with pytest.raises(ConfigError, match="staging"):
        config_from_environment()


@pytest.mark.parametrize("name", ["", "production", "PRODUCTION"])
def test_environment_defaults_to_production(monkeypatch, tmp_path, name):
    """A forgotten IMPERSONATOR_ENV fails closed (outside a `make run` checkout: see below)."""
    monkeypatch.setattr(config, "CHECKOUT_ENV_FILE", tmp_path / "no-mark-here")
    monkeypatch.setenv("IMPERSONATOR_ENV", name)
    assert config_from_environment() is ProductionConfig


def test_i8_cookies_are_secure_outside_development():
    assert DevelopmentConfig.SESSION_COOKIE_SECURE is False
    assert ProductionConfig.SESSION_COOKIE_SECURE is True


def test_i8_production_session_cookies_are_host_only():
    """__Host- makes the browser keep the cookie on the one host that set it (Secure, Path=/, no Domain)."""
    app = create_app(production())
    tenant = app.extensions["impersonator.tenant_app"]
    assert tenant.config["SESSION_COOKIE_NAME"].startswith("__Host-")
    response = app.test_client().get("/sign-in", base_url="https://console.localhost")
    (cookie,) = response.headers.getlist("Set-Cookie")
    assert cookie.startswith("__Host-impersonator_console=")
    attributes = dict(part.strip().lower().partition("=")[::2] for part in cookie.split(";")[1:])
    assert {"secure", "httponly", "samesite"} <= attributes.keys()
    assert attributes.get("path") == "/"
    assert "domain" not in attributes


# --- a `make run` checkout ----------------------------------------------------------------------


@pytest.fixture
def checkout_file(tmp_path, monkeypatch):
    """Where `make run` marks its checkout, moved to a temp folder; no IMPERSONATOR_ENV set."""
    marker = tmp_path / "environment"
    monkeypatch.setattr(config, "CHECKOUT_ENV_FILE", marker)
    monkeypatch.delenv("IMPERSONATOR_ENV", raising=False)
    return marker


def test_a_make_run_checkout_runs_flask_commands_in_development(checkout_file):
    checkout_file.write_text("development\n")

    assert config_from_environment() is DevelopmentConfig


@pytest.mark.parametrize("content", [None, "", "production", "testing", "Development please", "\x00"])
def test_without_the_make_run_mark_the_default_stays_production(checkout_file, content):
    if content is not None:
        checkout_file.write_text(content)

    assert config_from_environment() is ProductionConfig


def test_the_environment_variable_wins_over_the_checkout_mark(checkout_file, monkeypatch):
    checkout_file.write_text("development\n")
    monkeypatch.setenv("IMPERSONATOR_ENV", "production")

    assert config_from_environment() is ProductionConfig
