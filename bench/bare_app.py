"""The baseline of the web benchmarks: a bare Flask endpoint returning a short string, and the rungs
of MEASURED.md's ladder ("The physical limit"), each adding one layer a real page pays for:

- GET /                  the bare endpoint (the baseline, 1.00);
- GET /cookie            + a signed session cookie read (one key from `session`);
- GET /template          + a cached Jinja template (~1 KB of HTML, a few variables);
- GET /user/sqlite       + one user by primary key through Flask-SQLAlchemy's session, SQLite (WAL);
- GET /user/postgresql   the same on PostgreSQL over TCP.

A user rung is the floor of any page that reads the database once: BEGIN, the SELECT by id, and the
ROLLBACK when the session is removed at teardown, as the ORM does in the product. It reads the
product's `tenant_user` table in the databases bench/web_bench.py creates and seeds.

Served like the product (`gunicorn bench.bare_app:app` with the same gunicorn.conf.py, workers and wrk
settings, without max_requests recycling), so every product figure in `bench/web_bench.py` is a ratio
against what this machine can do at all. web_bench uses the PostgreSQL rung only (production refuses
SQLite); the SQLite one stays for trying the ladder by hand.
`python -m bench.bare_app --in-process N PATH…` prints, as JSON, each path's in-process ms per request
(N test-client requests after 3 warm ones), with the same environment.
Environment, set by web_bench: BARE_SECRET_KEY (signs the session cookie; `session_cookie` mints
the one the bench sends), and per database BARE_SQLITE_URL / BARE_POSTGRESQL_URL with
BARE_SQLITE_USER_ID / BARE_POSTGRESQL_USER_ID (an existing user). A database without a URL is not
configured and its rung answers 404; without any, Flask-SQLAlchemy is not set up at all.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time

from flask import Flask, abort, render_template, session
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

SESSION = {"who": "web_bench"}  # what the bench's cookie holds; the rungs read "who"
DATABASES = ("sqlite", "postgresql")

app = Flask(__name__)
app.secret_key = os.environ.get("BARE_SECRET_KEY", "bare-app-bench-only-fallback")

# Created once: `render_template_string` would compile its source again on every request.
PAGE = app.jinja_env.from_string(
    """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{{ title }} · Support console</title>
  <link rel="stylesheet" href="/static/app.css">
</head>
<body>
  <header class="topbar">
    <a class="brand" href="/">Support console</a>
    <nav>{% for label, href in links %}<a href="{{ href }}">{{ label }}</a> {% endfor %}</nav>
    <span class="who">Signed in as {{ who }}</span>
  </header>
  <main>
    <h1>{{ title }}</h1>
    <section class="card">
      <dl>
        <dt>Name</dt><dd>{{ name }}</dd>
        <dt>Email</dt><dd>{{ email }}</dd>
      </dl>
      <p class="hint">Every visit to this page is written to the audit log. Ask the customer before
        you change anything in their account, and end the session as soon as you are done.</p>
    </section>
  </main>
  <footer><small>Bench page, rendered from a template compiled once per process.</small></footer>
</body>
</html>
"""
)
LINKS = (("Search", "/search"), ("Impersonations", "/impersonations"), ("Audit", "/audit"))


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class UserColumns:
    """The columns the rung reads of the product's customers (impersonator.models.User)."""

    __tablename__ = "tenant_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str]
    name: Mapped[str]


class SqliteUser(UserColumns, db.Model):
    __bind_key__ = "sqlite"


class PostgresqlUser(UserColumns, db.Model):
    __bind_key__ = "postgresql"


USERS = {"sqlite": SqliteUser, "postgresql": PostgresqlUser}
BINDS = {name: url for name in DATABASES if (url := os.environ.get(f"BARE_{name.upper()}_URL"))}
USER_IDS = {name: int(os.environ.get(f"BARE_{name.upper()}_USER_ID", "1")) for name in BINDS}


def _sqlite_connect(dbapi_connection, _record) -> None:
    """WAL and a busy timeout (MEASURED.md); BEGIN is emitted below, so the driver must not."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA busy_timeout = 10000")
        dbapi_connection.execute("PRAGMA journal_mode = WAL")


def _sqlite_begin(connection) -> None:
    """A real BEGIN, as psycopg sends on PostgreSQL: pysqlite would skip it before a SELECT."""
    connection.exec_driver_sql("BEGIN")


if BINDS:
    app.config["SQLALCHEMY_BINDS"] = BINDS
    db.init_app(app)  # its teardown removes the session: ROLLBACK, connection back to the pool
    if "sqlite" in BINDS:
        with app.app_context():
            event.listen(db.engines["sqlite"], "connect", _sqlite_connect)
            event.listen(db.engines["sqlite"], "begin", _sqlite_begin)


def session_cookie(secret_key: str) -> str:
    """The Cookie header of a session holding SESSION, signed as this app signs with secret_key."""
    signer = Flask(__name__)
    signer.secret_key = secret_key
    value = signer.session_interface.get_signing_serializer(signer).dumps(SESSION)
    return f"{signer.config['SESSION_COOKIE_NAME']}={value}"


@app.get("/")
def index() -> str:
    return "ok"


@app.get("/cookie")
def cookie() -> str:
    return f"ok {session.get('who', 'anonymous')}"


@app.get("/template")
def template() -> str:
    who = session.get("who", "anonymous")
    return render_template(PAGE, title="Customer", links=LINKS, who=who, name="Bench", email="-")


@app.get("/user/<any(sqlite, postgresql):database>")
def user(database: str) -> str:
    who = session.get("who", "anonymous")
    if database not in BINDS:
        abort(404)
    account = db.session.get(USERS[database], USER_IDS[database])
    if account is None:
        abort(404)
    return render_template(
        PAGE, title="Customer", links=LINKS, who=who, name=account.name, email=account.email
    )


def in_process_ms(paths: list[str], requests: int) -> dict[str, float]:
    """Each path's wall time per request through the test client (no HTTP server), in ms."""
    client = app.test_client(use_cookies=False)
    headers = {"Cookie": session_cookie(app.secret_key)}
    measured = {}
    for path in paths:
        for _ in range(3):
            client.get(path, headers=headers)
        started = time.perf_counter()
        for _ in range(requests):
            response = client.get(path, headers=headers)
            if response.status_code != 200:
                raise SystemExit(f"GET {path}: {response.status_code}")
        measured[path] = (time.perf_counter() - started) * 1000 / requests
    return measured


if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[1] != "--in-process":
        raise SystemExit("usage: python -m bench.bare_app --in-process N PATH...")
    print(json.dumps(in_process_ms(sys.argv[3:], int(sys.argv[2]))))
