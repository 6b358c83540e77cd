"""The web benchmark's constants and targets, and the settings of what it serves: the same for the app
built in this process (seeding, cookies, in-process counts) and for the gunicorn subprocesses."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from flask import Flask

from config import RATE_LIMIT_SETTINGS, ProductionConfig

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "RESULTS.md"
MIGRATIONS = str(ROOT / "migrations")
GUNICORN_CONF = ROOT / "gunicorn.conf.py"

# Made for the run, 58 characters each: production refuses published keys and keys under 32.
SECRET_KEY = "web-bench-only-secret-key-" + secrets.token_hex(16)
AUDIT_HMAC_KEY = "web-bench-only-audit-key-" + secrets.token_hex(16)
CONSOLE_HOST = "console.localhost"
TENANT_HOST = "acme.localhost"
# What the pretend TLS proxy (one trusted hop) adds to every request, the bench's and wrk's alike.
PROXY_HEADERS = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"}
CUSTOMER_EMAIL = "alice@acme.example"
SEARCH_QUERY = "alice"
SEARCH_PATH = f"/search?q={SEARCH_QUERY}"
GHOST_MARK = b"/impersonation/end"  # the ghost banner's End button posts here; customers never see it
TOKEN_TTL_SECONDS = 120  # the longest the configuration allows: no token expires during a run
# Besides the demo data: enough users that "alice" fills a whole result page (50 rows).
EXTRA_USERS = 2_000
EXTRA_ALICES = 200
WORKERS = 2
WRK_THREADS = 2
CONNECTIONS = 16
# A response slower than this is a socket error for wrk (its default, 2 s, trips on a loaded machine).
WRK_TIMEOUT_SECONDS = 10
SOCKET_ERRORS = ("connect", "read", "write", "timeout")
PROFILE_REQUESTS = 200  # in-process requests per scenario for the ms and SQL counts
FLOOR_PATH = "/user/postgresql"
FLOOR = "floor: + user by primary key, PostgreSQL (TCP)"
# MEASURED.md's ladder on bench/bare_app.py, each adding one layer; the last is the one-read floor.
RUNGS = (
    ("/cookie", "rung: + signed session cookie read"),
    ("/template", "rung: + cached Jinja template"),
)
# The targets (issue 12).
SEARCH_X_FLOOR = 0.5
GHOST_X_CUSTOMER = 0.95
REDEEM_X_FLOOR = 0.35
WORKER_RSS_MIB = 150
RSS_SAMPLE_SECONDS = 1.0


# ---------------------------------------------------------------------------------------------------
# Configuration: the same settings for the app built here (seeding, cookies) and for gunicorn.

# Inherited variables that would change what is measured; the bench sets the ones it needs itself.
NOT_INHERITED = (
    "DATABASE_URL",
    "SESSION_COOKIE_SECURE",
    "SECURITY_HSTS",
    "PUBLIC_SCHEME",
    "PUBLIC_PORT",
    "TRUSTED_PROXY_COUNT",
    "WEB_CONCURRENCY",
    "GUNICORN_BIND",
    "GUNICORN_MAX_REQUESTS",
    "LOG_LEVEL",
    *RATE_LIMIT_SETTINGS,
)


def inherited_environment() -> dict[str, str]:
    return {
        name: value
        for name, value in os.environ.items()
        if name not in NOT_INHERITED and not name.startswith("BARE_")
    }


def app_environment(database_url: str) -> dict[str, str]:
    """The gunicorn subprocess's environment: production behind one TLS proxy, rate limits off."""
    env = inherited_environment()
    env.update(
        IMPERSONATOR_ENV="production",
        SECRET_KEY=SECRET_KEY,
        AUDIT_HMAC_KEY=AUDIT_HMAC_KEY,
        DATABASE_URL=database_url,
        CONSOLE_HOST=CONSOLE_HOST,
        TRUSTED_PROXY_COUNT="1",
        TOKEN_TTL_SECONDS=str(TOKEN_TTL_SECONDS),
        WEB_CONCURRENCY=str(WORKERS),
        **dict.fromkeys(RATE_LIMIT_SETTINGS, "off"),
    )
    return env


def bare_environment(database_url: str, user_id: int) -> dict[str, str]:
    """The bare app's environment (bench/bare_app.py): its cookie key, the bed's database and the
    user its floor reads."""
    env = inherited_environment()
    env.update(
        BARE_SECRET_KEY=SECRET_KEY,
        BARE_POSTGRESQL_URL=database_url,
        BARE_POSTGRESQL_USER_ID=str(user_id),
        WEB_CONCURRENCY=str(WORKERS),
    )
    return env


def in_process_config(database_url: str) -> type[ProductionConfig]:
    """The configuration `app_environment` gives gunicorn, as a class for this process's own app."""
    return type(
        "WebBenchConfig",
        (ProductionConfig,),
        {
            "SECRET_KEY": SECRET_KEY,
            "AUDIT_HMAC_KEY": AUDIT_HMAC_KEY,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "CONSOLE_HOST": CONSOLE_HOST,
            "PUBLIC_SCHEME": "https",
            "PUBLIC_PORT": 0,
            "TRUSTED_PROXY_COUNT": 1,
            "SESSION_COOKIE_SECURE": True,
            "SECURITY_HSTS": True,
            "TOKEN_TTL_SECONDS": TOKEN_TTL_SECONDS,
            **dict.fromkeys(RATE_LIMIT_SETTINGS, "off"),
        },
    )


def tenant_face(app: Flask) -> Flask:
    return app.extensions["impersonator.tenant_app"]
