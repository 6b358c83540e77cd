"""Configuration classes. The environment is read here and nowhere else.

Pick a class with ``IMPERSONATOR_ENV`` (``development``, ``testing``, ``production``). Without it, a
checkout where `make run` ran is development (``instance/environment``); anything else is production,
so a forgotten variable fails closed: production refuses to start without a secret key and a
database URL.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
# The development database, its mail and the `make run` mark live here (`make run`: instance/).
INSTANCE_DIR = Path(os.environ.get("IMPERSONATOR_INSTANCE") or BASE_DIR / "instance")


class ConfigError(RuntimeError):
    """The environment does not describe a runnable configuration."""


# The published keys of development and the tests: production refuses them by value (below).
DEVELOPMENT_SECRET_KEY = "development-only-secret-key-never-use-in-production"  # noqa: S105
DEVELOPMENT_AUDIT_KEY = "development-only-audit-key-never-use-in-production"
TESTING_SECRET_KEY = "testing-secret-key"  # noqa: S105  (tests only)
TESTING_AUDIT_KEY = "testing-audit-key"
PUBLISHED_KEYS = frozenset(
    {DEVELOPMENT_SECRET_KEY, DEVELOPMENT_AUDIT_KEY, TESTING_SECRET_KEY, TESTING_AUDIT_KEY}
)
# A production key shorter than this is guessable offline from one signed cookie or audit row.
MIN_PRODUCTION_KEY_CHARS = 32


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None or value.strip() == "" else value.strip()


def env_int(name: str, default: int) -> int:
    raw = env_str(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from exc


def env_bool(name: str, default: bool) -> bool:
    """Parse a boolean explicitly: a non-empty string such as "false" is truthy in Python."""
    raw = env_str(name)
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def env_list(name: str, default: list[str]) -> list[str]:
    raw = env_str(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


# Request rate settings (services/rate_limits.py): "<count>/<period>", the period a second, minute,
# hour or day with an optional number ("30/10minutes"); several joined by ";"; "off" for none.
RATE_LIMIT_SETTINGS = (
    "SEARCH_RATE_LIMIT",
    "IMPERSONATION_RATE_LIMIT",
    "REDEEM_RATE_LIMIT",
    "SIGN_IN_RATE_LIMIT",
    "API_RATE_LIMIT",
    "REVEAL_RATE_LIMIT",
)
_RATE_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"([0-9]+)\s*(?:/|per)\s*([0-9]*)\s*(second|minute|hour|day)s?")


def rate_limit_tiers(name: str, text: str | None) -> tuple[tuple[int, int], ...]:
    """A rate setting as (requests, window seconds) tiers, e.g. "60/minute;600/hour" gives
    ((60, 60), (600, 3600)); "off" gives none. A malformed one is a ConfigError naming `name`."""
    if text is None or text.strip().lower() == "off":
        return ()
    tiers = []
    for part in text.split(";"):
        match = _RATE.fullmatch(part.strip().lower())
        if match is None or int(match[1]) < 1 or int(match[2] or 1) < 1:
            raise ConfigError(
                f'{name} must look like "60/minute", "60/minute;600/hour" or "off", not {text!r}'
            )
        tiers.append((int(match[1]), int(match[2] or 1) * _RATE_PERIODS[match[3]]))
    if len({seconds for _, seconds in tiers}) != len(tiers):
        raise ConfigError(f"{name} names the same period twice: {text!r}")
    return tuple(tiers)


class Config:
    """Settings shared by every environment; each one is documented in the README."""

    ENV_NAME = "base"
    SECRET_KEY = env_str("SECRET_KEY")
    SQLALCHEMY_DATABASE_URI = env_str("DATABASE_URL")
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": False}

    # Faces: the console answers on one host; tenants on the domains of the tenant registry.
    CONSOLE_HOST = env_str("CONSOLE_HOST", "console.localhost")
    # Scheme and port used to build links between faces (never taken from the request, DESIGN I8).
    PUBLIC_SCHEME = env_str("PUBLIC_SCHEME", "https")
    PUBLIC_PORT = env_int("PUBLIC_PORT", 0)
    # Hosts answered with a redirect to the console instead of 404 (development: what a newcomer types).
    REDIRECT_TO_CONSOLE_HOSTS: tuple[str, ...] = ()
    # Number of reverse proxies in front of the app whose X-Forwarded-* headers (and X-Request-Id) are
    # trusted.
    TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)

    # Cookies (DESIGN I8): HttpOnly, SameSite, Secure outside development, no remember-me.
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    # There is no remember-me; should Flask-Login ever set its cookie, it never travels in clear.
    REMEMBER_COOKIE_SECURE = True
    REMEMBER_COOKIE_HTTPONLY = True
    SECURITY_HSTS = env_bool("SECURITY_HSTS", True)

    # Request bodies are capped (DESIGN I11).
    MAX_CONTENT_LENGTH = env_int("MAX_CONTENT_LENGTH", 64 * 1024)
    MAX_FORM_MEMORY_SIZE = env_int("MAX_CONTENT_LENGTH", 64 * 1024)

    # Staff sign-in (DESIGN I4, I6).
    PASSWORD_HASH_METHOD = env_str("PASSWORD_HASH_METHOD", "scrypt")
    CONSOLE_IDLE_MINUTES = env_int("CONSOLE_IDLE_MINUTES", 30)
    CONSOLE_ABSOLUTE_HOURS = env_int("CONSOLE_ABSOLUTE_HOURS", 12)
    SIGN_IN_STEP_SECONDS = env_int("SIGN_IN_STEP_SECONDS", 300)
    LOCKOUT_THRESHOLD = env_int("LOCKOUT_THRESHOLD", 5)
    LOCKOUT_WINDOW_MINUTES = env_int("LOCKOUT_WINDOW_MINUTES", 15)
    LOCKOUT_MINUTES = env_int("LOCKOUT_MINUTES", 15)
    # Failed sign-ins from one address before it is refused with 429 for LOCKOUT_MINUTES.
    IP_FAILURE_LIMIT = env_int("IP_FAILURE_LIMIT", 50)
    # LOCKOUT_THRESHOLD throttles one account from one address; the account itself locks (from
    # everywhere) only on this many failures within the window from this many distinct addresses,
    # so knowing an email is not enough to lock its owner out.
    ACCOUNT_LOCK_FAILURES = env_int("ACCOUNT_LOCK_FAILURES", 20)
    ACCOUNT_LOCK_ADDRESSES = env_int("ACCOUNT_LOCK_ADDRESSES", 3)
    # Who a staff member should tell when a lock was not them (an address or a URL), named in the
    # lock email; none: "your security team".
    SECURITY_CONTACT = env_str("SECURITY_CONTACT")
    TOTP_ISSUER = env_str("TOTP_ISSUER", "Impersonator")
    # Fernet keys for TOTP secrets at rest, newest first; empty means "derive one from SECRET_KEY".
    TOTP_ENCRYPTION_KEYS = env_list("TOTP_ENCRYPTION_KEYS", [])

    # Customer sign-in on tenant domains.
    TENANT_SESSION_HOURS = env_int("TENANT_SESSION_HOURS", 12)

    # Impersonation (DESIGN I3 to I6, §9).
    TOKEN_TTL_SECONDS = env_int("TOKEN_TTL_SECONDS", 60)
    # How far in the future a token's timestamp may be (the console's and a tenant's clocks drift).
    TOKEN_CLOCK_SKEW_SECONDS = env_int("TOKEN_CLOCK_SKEW_SECONDS", 5)
    # Keys that sign redirect tokens, newest first; empty means "derive one from SECRET_KEY".
    TOKEN_SIGNING_KEYS = env_list("TOKEN_SIGNING_KEYS", [])
    SESSION_MAX_MINUTES = env_int("SESSION_MAX_MINUTES", 60)
    JUSTIFICATION_MIN_CHARS = env_int("JUSTIFICATION_MIN_CHARS", 20)
    JUSTIFICATION_MAX_CHARS = 2000
    ACCESS_CODE_TTL_MINUTES = env_int("ACCESS_CODE_TTL_MINUTES", 60)
    ACCESS_CODE_MAX_FAILURES = env_int("ACCESS_CODE_MAX_FAILURES", 5)
    ACCESS_CODE_LOCK_MINUTES = env_int("ACCESS_CODE_LOCK_MINUTES", 60)
    OPT_IN_MAX_DAYS = env_int("OPT_IN_MAX_DAYS", 30)
    # Approvals (DESIGN §11): how long a request waits for its decisions before it expires, and how
    # long an approved request may wait for the requester to start it (with a fresh TOTP code).
    APPROVAL_ANSWER_HOURS = env_int("APPROVAL_ANSWER_HOURS", 24)
    APPROVAL_START_MINUTES = env_int("APPROVAL_START_MINUTES", 30)

    # `act` tokens for the product's own back-ends (DESIGN §12), minted during ghost sessions and
    # signed with keys the console publishes at /.well-known/jwks.json: their lifetime (never past
    # the session's end), and the back-ends (`aud`) they may be minted for; none: nothing is minted.
    ACT_TOKEN_TTL_SECONDS = env_int("ACT_TOKEN_TTL_SECONDS", 300)
    ACT_TOKEN_AUDIENCES = env_list("ACT_TOKEN_AUDIENCES", [])

    # How long a new staff member's enrolment link stays valid.
    STAFF_INVITE_HOURS = env_int("STAFF_INVITE_HOURS", 72)

    # The audit chain's own key (DESIGN I9): never SECRET_KEY, so one leak does not forge the other.
    AUDIT_HMAC_KEY = env_str("AUDIT_HMAC_KEY")
    # More impersonations started by one staff member within an hour than this raises an alert.
    ALERT_IMPERSONATIONS_PER_HOUR = env_int("ALERT_IMPERSONATIONS_PER_HOUR", 10)

    # Request rates (the format: RATE_LIMIT_SETTINGS above), counted in the database so they hold
    # across processes and machines. Far above what a person does: a refusal should only meet a script.
    # Searches and customer-user pages opened, per staff member (enumeration).
    SEARCH_RATE_LIMIT = env_str("SEARCH_RATE_LIMIT", "60/minute;600/hour")
    # Impersonation requests (the user page's form, TOTP and access code included), per staff member.
    IMPERSONATION_RATE_LIMIT = env_str("IMPERSONATION_RATE_LIMIT", "10/minute;60/hour")
    # Token redemptions on tenant domains, per client address (agents behind one office NAT share it).
    REDEEM_RATE_LIMIT = env_str("REDEEM_RATE_LIMIT", "60/minute")
    # Sign-in POSTs, successes included, per client address: the console's password, code and
    # enrolment steps together; a tenant's customer sign-in per tenant.
    SIGN_IN_RATE_LIMIT = env_str("SIGN_IN_RATE_LIMIT", "60/minute")
    # Calls of the JSON API (/api/v1/), per API key; callers without a valid key, per client address.
    API_RATE_LIMIT = env_str("API_RATE_LIMIT", "120/minute;3000/hour")
    # Masked values revealed in ghost sessions, per staff member: support reveals one value or two to
    # help; a run of reveals is someone reading out an account.
    REVEAL_RATE_LIMIT = env_str("REVEAL_RATE_LIMIT", "10/minute;60/hour")

    # The outbox (DESIGN I10): retries with exponential backoff and jitter, then `failed`.
    OUTBOX_RETRY_BASE_SECONDS = env_int("OUTBOX_RETRY_BASE_SECONDS", 30)
    OUTBOX_RETRY_MAX_SECONDS = env_int("OUTBOX_RETRY_MAX_SECONDS", 3600)
    OUTBOX_GIVE_UP_HOURS = env_int("OUTBOX_GIVE_UP_HOURS", 24)
    OUTBOX_POLL_SECONDS = env_int("OUTBOX_POLL_SECONDS", 2)
    # How often each outbox worker sweeps: sessions past their end and lapsed tokens end on record.
    SWEEP_SECONDS = env_int("SWEEP_SECONDS", 30)
    DELIVERY_TIMEOUT_SECONDS = env_int("DELIVERY_TIMEOUT_SECONDS", 10)
    # /readyz fails ("outbox") when more messages than this are due and unsent, or the longest-overdue
    # one has waited longer than this: the workers are stopped or cannot keep up. 0 turns a check off.
    READY_MAX_OUTBOX_BACKLOG = env_int("READY_MAX_OUTBOX_BACKLOG", 1000)
    READY_MAX_OUTBOX_AGE_SECONDS = env_int("READY_MAX_OUTBOX_AGE_SECONDS", 300)

    # Mail: `smtp` in production; `file` writes each message to MAIL_DIR and logs one line.
    MAIL_BACKEND = env_str("MAIL_BACKEND", "smtp")
    MAIL_SERVER = env_str("MAIL_SERVER", "localhost")
    MAIL_PORT = env_int("MAIL_PORT", 587)
    MAIL_USE_TLS = env_bool("MAIL_USE_TLS", True)  # STARTTLS
    MAIL_USE_SSL = env_bool("MAIL_USE_SSL", False)  # TLS from the first byte (port 465)
    MAIL_USERNAME = env_str("MAIL_USERNAME")
    MAIL_PASSWORD = env_str("MAIL_PASSWORD")
    MAIL_SENDER = env_str("MAIL_SENDER", "Impersonator <no-reply@impersonator.example>")
    MAIL_DIR = env_str("MAIL_DIR", str(INSTANCE_DIR / "mail"))

    # Slack: an incoming-webhook URL; empty means no Slack messages.
    SLACK_WEBHOOK_URL = env_str("SLACK_WEBHOOK_URL")
    # Webhook URLs on loopback, link-local or private ranges are refused unless this is on (SSRF).
    WEBHOOK_ALLOW_PRIVATE_URLS = env_bool("WEBHOOK_ALLOW_PRIVATE_URLS", False)

    WTF_CSRF_TIME_LIMIT = env_int("WTF_CSRF_TIME_LIMIT", 3600)
    LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()

    @classmethod
    def check(cls) -> None:
        """Refuse configurations that would run insecurely."""
        if cls.CONSOLE_IDLE_MINUTES <= 0 or cls.CONSOLE_ABSOLUTE_HOURS <= 0:
            raise ConfigError("CONSOLE_IDLE_MINUTES and CONSOLE_ABSOLUTE_HOURS must be positive")
        if cls.PUBLIC_SCHEME not in {"http", "https"}:
            raise ConfigError("PUBLIC_SCHEME must be http or https")
        if not 1 <= cls.TOKEN_TTL_SECONDS <= 120:
            raise ConfigError("TOKEN_TTL_SECONDS must be between 1 and 120")
        if not 0 <= cls.TOKEN_CLOCK_SKEW_SECONDS <= 30:
            raise ConfigError("TOKEN_CLOCK_SKEW_SECONDS must be between 0 and 30")
        if not 1 <= cls.ACT_TOKEN_TTL_SECONDS <= 3600:
            raise ConfigError("ACT_TOKEN_TTL_SECONDS must be between 1 and 3600")
        if not 1 <= cls.SESSION_MAX_MINUTES <= 60:
            raise ConfigError("SESSION_MAX_MINUTES must be between 1 and 60")
        if not 1 <= cls.OPT_IN_MAX_DAYS <= 30:
            raise ConfigError("OPT_IN_MAX_DAYS must be between 1 and 30")
        if not 1 <= cls.APPROVAL_ANSWER_HOURS <= 7 * 24 or not 1 <= cls.APPROVAL_START_MINUTES <= 24 * 60:
            raise ConfigError("APPROVAL_ANSWER_HOURS must be 1 to 168 and APPROVAL_START_MINUTES 1 to 1440")
        if cls.MAIL_BACKEND not in {"smtp", "file"}:
            raise ConfigError("MAIL_BACKEND must be smtp or file")
        if cls.MAIL_USE_TLS and cls.MAIL_USE_SSL:
            raise ConfigError("MAIL_USE_TLS (STARTTLS) and MAIL_USE_SSL exclude each other; choose one")
        if not 2 <= cls.ACCOUNT_LOCK_ADDRESSES <= cls.ACCOUNT_LOCK_FAILURES:
            # One address must never lock an account from everywhere: that is the denial of service.
            raise ConfigError("ACCOUNT_LOCK_ADDRESSES must be at least 2 and at most ACCOUNT_LOCK_FAILURES")
        if cls.SECURITY_CONTACT and (
            len(cls.SECURITY_CONTACT) > 200
            or any(ord(ch) < 32 or ord(ch) == 127 for ch in cls.SECURITY_CONTACT)
        ):
            raise ConfigError("SECURITY_CONTACT must be one line of at most 200 characters")
        if cls.AUDIT_HMAC_KEY and cls.AUDIT_HMAC_KEY == cls.SECRET_KEY:
            raise ConfigError("AUDIT_HMAC_KEY must differ from SECRET_KEY")
        for name in RATE_LIMIT_SETTINGS:
            rate_limit_tiers(name, getattr(cls, name))
        if cls.READY_MAX_OUTBOX_BACKLOG < 0 or cls.READY_MAX_OUTBOX_AGE_SECONDS < 0:
            raise ConfigError(
                "READY_MAX_OUTBOX_BACKLOG and READY_MAX_OUTBOX_AGE_SECONDS must be 0 (off) or more"
            )


class DevelopmentConfig(Config):
    """`make run`: SQLite in instance/, plain HTTP on 127.0.0.1:5000, a fixed development key."""

    ENV_NAME = "development"
    SECRET_KEY = env_str("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
    SQLALCHEMY_DATABASE_URI = env_str("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'impersonator.sqlite3'}")
    PUBLIC_SCHEME = env_str("PUBLIC_SCHEME", "http")
    PUBLIC_PORT = env_int("PUBLIC_PORT", 5000)
    # The dev server prints "Running on http://127.0.0.1:5000": that address leads to the console.
    REDIRECT_TO_CONSOLE_HOSTS = ("127.0.0.1", "localhost")
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
    SECURITY_HSTS = env_bool("SECURITY_HSTS", False)
    AUDIT_HMAC_KEY = env_str("AUDIT_HMAC_KEY", DEVELOPMENT_AUDIT_KEY)
    MAIL_BACKEND = env_str("MAIL_BACKEND", "file")
    WEBHOOK_ALLOW_PRIVATE_URLS = env_bool("WEBHOOK_ALLOW_PRIVATE_URLS", True)
    # The demo tenant app's own back-end (its home page shows the token it would send).
    ACT_TOKEN_AUDIENCES = env_list("ACT_TOKEN_AUDIENCES", ["projects-api"])


class TestingConfig(DevelopmentConfig):
    """The test suite: the tests set the database URL; password hashing is cheap to keep it fast."""

    ENV_NAME = "testing"
    TESTING = True
    SECRET_KEY = TESTING_SECRET_KEY
    SQLALCHEMY_DATABASE_URI = env_str("TEST_DATABASE_URL", "sqlite://")
    PASSWORD_HASH_METHOD = "pbkdf2:sha256:1000"  # noqa: S105  (a method name, tests only)
    PUBLIC_PORT = 0
    REDIRECT_TO_CONSOLE_HOSTS = ()  # tests that want the redirect turn it on
    AUDIT_HMAC_KEY = TESTING_AUDIT_KEY
    MAIL_BACKEND = "file"
    MAIL_DIR = env_str("TEST_MAIL_DIR", str(INSTANCE_DIR / "test-mail"))
    # The tests' webhook receivers listen on 127.0.0.1; the SSRF tests turn this off.
    WEBHOOK_ALLOW_PRIVATE_URLS = True
    # Frozen test clocks put a whole test in one window: tests/web/test_rate_limits.py turns them on.
    SEARCH_RATE_LIMIT = IMPERSONATION_RATE_LIMIT = REDEEM_RATE_LIMIT = SIGN_IN_RATE_LIMIT = "off"
    API_RATE_LIMIT = REVEAL_RATE_LIMIT = "off"


class ProductionConfig(Config):
    """Production: every secret comes from the environment."""

    ENV_NAME = "production"

    @classmethod
    def check(cls) -> None:
        super().check()
        required = (
            ("SECRET_KEY", cls.SECRET_KEY),
            ("DATABASE_URL", cls.SQLALCHEMY_DATABASE_URI),
            ("AUDIT_HMAC_KEY", cls.AUDIT_HMAC_KEY),
        )
        missing = [name for name, value in required if not value]
        if missing:
            raise ConfigError(
                f"Production needs {' and '.join(missing)} in the environment; refusing to start."
            )
        insecure = cls.insecure_settings()
        if insecure:
            # One line, every reason: the operator fixes them all in one go.
            raise ConfigError(f"Production refuses insecure settings: {'; '.join(insecure)}.")

    @classmethod
    def insecure_settings(cls) -> list[str]:
        """Why this configuration would run insecurely, one short reason each (empty: it would not)."""
        reasons = []
        for name, key in (("SECRET_KEY", cls.SECRET_KEY), ("AUDIT_HMAC_KEY", cls.AUDIT_HMAC_KEY)):
            if key in PUBLISHED_KEYS:
                reasons.append(f"{name} is a published development or test key")
            elif len(key) < MIN_PRODUCTION_KEY_CHARS:
                reasons.append(f"{name} is shorter than {MIN_PRODUCTION_KEY_CHARS} characters")
        backend = cls.SQLALCHEMY_DATABASE_URI.split(":", 1)[0].split("+", 1)[0].strip().lower()
        if backend != "postgresql":
            # SQLite is one machine's file: several web and worker processes need PostgreSQL (DESIGN §8).
            reasons.append(
                f"DATABASE_URL is {'SQLite' if backend == 'sqlite' else backend or 'not a URL'}, "
                "not PostgreSQL (postgresql+psycopg://…)"
            )
        for name in ("SESSION_COOKIE_SECURE", "REMEMBER_COOKIE_SECURE"):
            if not getattr(cls, name):
                reasons.append(f"{name} is off (cookies would travel in clear)")
        if cls.PUBLIC_SCHEME != "https":
            # The console's handoff posts one-time tokens to the tenant domain over this scheme.
            reasons.append("PUBLIC_SCHEME is http (tokens would travel in clear)")
        return reasons


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


# `make run` writes "development" here, so `flask …` commands typed in that checkout (the ones the
# pages print) run in development without an environment variable to guess.
CHECKOUT_ENV_FILE = INSTANCE_DIR / "environment"


def checkout_environment() -> str | None:
    """`development` in a `make run` checkout, else None. Nothing else is honoured from the file,
    so it can never weaken production below what the environment asks for."""
    try:
        marked = CHECKOUT_ENV_FILE.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return "development" if marked == "development" else None


def config_from_environment() -> type[Config]:
    """The configuration class named by IMPERSONATOR_ENV; else development in a `make run` checkout;
    else production, which refuses to start without its secrets."""
    name = (env_str("IMPERSONATOR_ENV") or checkout_environment() or "production").lower()
    try:
        return CONFIGS[name]
    except KeyError as exc:
        raise ConfigError(f"IMPERSONATOR_ENV must be one of {', '.join(CONFIGS)}, not {name!r}") from exc
