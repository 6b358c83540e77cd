"""Production refuses insecure settings (issue 12, I12), each with a reason on one line: published or
short keys, SQLite, cookies that may travel in clear, links between faces over plain HTTP."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from config import (
    DEVELOPMENT_AUDIT_KEY,
    DEVELOPMENT_SECRET_KEY,
    TESTING_AUDIT_KEY,
    TESTING_SECRET_KEY,
    ConfigError,
    TestingConfig,
)
from impersonator import ROOT
from tests.test_config import production

SECURE_ENVIRONMENT = {
    "IMPERSONATOR_ENV": "production",
    "SECRET_KEY": "k" * 32,
    "AUDIT_HMAC_KEY": "a" * 32,
    "DATABASE_URL": "postgresql+psycopg://impersonator@db.invalid/impersonator",
}


def refusal(**overrides) -> str:
    with pytest.raises(ConfigError) as refused:
        production(**overrides).check()
    message = str(refused.value)
    assert "\n" not in message
    return message


def test_the_development_and_test_keys_are_the_published_ones():
    """Refusing by value only works while development's and the tests' keys are these constants."""
    source = (ROOT / "config.py").read_text(encoding="utf-8")
    assert 'env_str("SECRET_KEY", DEVELOPMENT_SECRET_KEY)' in source
    assert 'env_str("AUDIT_HMAC_KEY", DEVELOPMENT_AUDIT_KEY)' in source
    assert (TestingConfig.SECRET_KEY, TestingConfig.AUDIT_HMAC_KEY) == (TESTING_SECRET_KEY, TESTING_AUDIT_KEY)


@pytest.mark.parametrize("key", [DEVELOPMENT_SECRET_KEY, TESTING_SECRET_KEY])
def test_a_published_secret_key_is_refused(key):
    assert "SECRET_KEY is a published development or test key" in refusal(SECRET_KEY=key)


@pytest.mark.parametrize("key", [DEVELOPMENT_AUDIT_KEY, TESTING_AUDIT_KEY])
def test_a_published_audit_key_is_refused(key):
    assert "AUDIT_HMAC_KEY is a published development or test key" in refusal(AUDIT_HMAC_KEY=key)


@pytest.mark.parametrize("name", ["SECRET_KEY", "AUDIT_HMAC_KEY"])
def test_a_short_key_is_refused(name):
    assert f"{name} is shorter than 32 characters" in refusal(**{name: "…"})  # the README's placeholder


@pytest.mark.parametrize(
    "url", ["sqlite:///instance/impersonator.sqlite3", "sqlite://", "SQLite+pysqlite:///x.db"]
)
def test_sqlite_is_refused(url):
    assert "DATABASE_URL is SQLite, not PostgreSQL" in refusal(SQLALCHEMY_DATABASE_URI=url)


def test_another_database_is_refused_too():
    assert "DATABASE_URL is mysql, not PostgreSQL" in refusal(SQLALCHEMY_DATABASE_URI="mysql://x@h/db")


@pytest.mark.parametrize("name", ["SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE"])
def test_cookies_without_secure_are_refused(name):
    assert f"{name} is off" in refusal(**{name: False})


def test_links_between_faces_over_http_are_refused():
    assert "PUBLIC_SCHEME is http" in refusal(PUBLIC_SCHEME="http")


def test_every_reason_is_named_on_the_one_line():
    message = refusal(
        SECRET_KEY=DEVELOPMENT_SECRET_KEY, SQLALCHEMY_DATABASE_URI="sqlite://", SESSION_COOKIE_SECURE=False
    )
    assert message.startswith("Production refuses insecure settings: ")
    for reason in ("SECRET_KEY", "SQLite", "SESSION_COOKIE_SECURE"):
        assert reason in message
    assert "AUDIT_HMAC_KEY" not in message


def test_negative_readiness_thresholds_are_refused():
    with pytest.raises(ConfigError, match="READY_MAX_OUTBOX_BACKLOG"):
        production(READY_MAX_OUTBOX_BACKLOG=-1).check()


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("SECRET_KEY", DEVELOPMENT_SECRET_KEY, "SECRET_KEY is a published"),
        ("AUDIT_HMAC_KEY", DEVELOPMENT_AUDIT_KEY, "AUDIT_HMAC_KEY is a published"),
        ("DATABASE_URL", "sqlite:///impersonator.sqlite3", "DATABASE_URL is SQLite"),
        ("SESSION_COOKIE_SECURE", "false", "SESSION_COOKIE_SECURE is off"),
        ("PUBLIC_SCHEME", "http", "PUBLIC_SCHEME is http"),
    ],
)
def test_the_app_exits_with_one_line_naming_the_insecure_setting(setting, value, named):
    """As gunicorn, `flask` and `make serve` see it: `import app` in a fresh interpreter."""
    clean = {k: v for k, v in os.environ.items() if k not in SECURE_ENVIRONMENT and k != "PUBLIC_SCHEME"}
    clean.pop("SESSION_COOKIE_SECURE", None)
    result = subprocess.run(
        [sys.executable, "-c", "import app"],
        cwd=ROOT,
        env={**clean, **SECURE_ENVIRONMENT, setting: value},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert named in lines[0]


def test_a_secure_environment_starts():
    clean = {k: v for k, v in os.environ.items() if k not in ("PUBLIC_SCHEME", "SESSION_COOKIE_SECURE")}
    result = subprocess.run(
        [sys.executable, "-c", "import app"],
        cwd=ROOT,
        env={**clean, **SECURE_ENVIRONMENT},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
