"""The fuzzer's world: seeded rows, a browser per kind of user, the pages and forms they see
(discovered from the URL maps and the HTML, never listed by hand), and a tally of inputs sent.

A browser whose session a fuzzed input ended (sign-out, End, a revoke, a disabled account, an
expired step) is re-established before its next input, so every form keeps getting coverage."""

from __future__ import annotations

import html
import re
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

from flask.testing import FlaskClient
from flask_wtf.csrf import validate_csrf
from sqlalchemy import select, update
from werkzeug.test import TestResponse, run_wsgi_app
from werkzeug.wsgi import get_current_url
from wtforms import ValidationError

from impersonator.extensions import db
from impersonator.models import Impersonation, Staff, Tenant
from impersonator.services import throttle
from impersonator.services.admin.switches import set_global_switch
from impersonator.services.audit import Actor
from impersonator.services.customer.sign_in import failure_key
from impersonator.services.passwords import hash_password
from impersonator.web import CSRF_REFUSAL
from tests.support.customer import CUSTOMER_PASSWORD, sign_in_as, staff_browser
from tests.support.impersonation import (
    BANNER,
    SECOND_PERSON,
    launch,
    minutes,
    opt_in,
    redeem,
    update_tenant,
    update_user,
)
from tests.support.web import ACME, CONSOLE, sign_in_password

ALICE = "alice@acme.example"
# Fuzzed requests come from an address of their own, so the sign-in throttle they trip never
# refuses the helpers that re-establish a browser (from the test client's 127.0.0.1).
FUZZ_ENVIRON = {"REMOTE_ADDR": "203.0.113.7"}
SESSION_COOKIES = ("impersonator_console", "impersonator_tenant")
_ARG = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
PROGRESS_SECONDS = 60.0  # how often a running target adds to the tally and reports


class FuzzClient(FlaskClient):
    """Flask's test client, matching cookies by host and path without reading the query string.

    Werkzeug's client builds the request's whole URL twice per request to match cookies, decoding
    every %XX of the query string: for the fuzzed query strings (up to ~10⁶ escapes) that was two
    thirds of the query target's time, spent outside the app. The app still gets the query string
    exactly as sent."""

    def run_wsgi_app(self, environ: dict, buffered: bool = False):
        """Werkzeug's own, with the URL built from a copy of `environ` without its query string."""
        without_query = {**environ, "QUERY_STRING": ""}
        self._add_cookies_to_wsgi(without_query)
        if "HTTP_COOKIE" in without_query:
            environ["HTTP_COOKIE"] = without_query["HTTP_COOKIE"]
        else:
            environ.pop("HTTP_COOKIE", None)
        answer = run_wsgi_app(self.application, environ, buffered=buffered)
        url = urlsplit(get_current_url(without_query))
        self._update_cookies_from_response(
            url.hostname or "localhost", url.path, answer[2].getlist("Set-Cookie")
        )
        return answer


class _Forms(HTMLParser):
    """The POST forms of a page: action, field names, and the form's CSRF token."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self._open: dict | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and (attrs.get("method") or "").lower() == "post":
            self._open = {"action": attrs.get("action") or "", "fields": [], "csrf": None}
            self.forms.append(self._open)
        elif (
            self._open is not None and tag in {"input", "textarea", "select", "button"} and attrs.get("name")
        ):
            name = attrs["name"]
            if name == "csrf_token":
                self._open["csrf"] = attrs.get("value")
            elif name not in self._open["fields"]:
                self._open["fields"].append(name)

    def handle_endtag(self, tag):
        if tag == "form":
            self._open = None


def post_forms(page_html: str) -> list[dict]:
    parser = _Forms()
    parser.feed(page_html)
    return parser.forms


@dataclass(frozen=True)
class Form:
    persona: str
    base: str
    page: str
    action: str
    fields: tuple[str, ...]


@dataclass
class Persona:
    """One kind of user: its browser, the host it uses, how to tell it is still itself, how to
    make it again."""

    name: str
    base: str
    make: Callable[[], FlaskClient]
    # The page that shows whether the browser is still this persona (None: any browser is one)…
    check_path: str | None = "/"
    # …and whether a page answers as the persona itself (not signed out, not ended).
    answers_as_itself: Callable[[TestResponse], bool] = lambda page: page.status_code == 200
    client: FlaskClient | None = None

    def cookie_header(self) -> str:
        """The browser's cookies for its host, as a Cookie header."""
        host = self.base.split("//", 1)[1]
        found = (self.client.get_cookie(name, domain=host) for name in SESSION_COOKIES)
        return "; ".join(f"{cookie.key}={cookie.value}" for cookie in found if cookie is not None)

    def alive(self) -> bool:
        if self.check_path is None:
            return True
        return self.answers_as_itself(self.client.get(self.check_path, base_url=self.base))

    def ensure(self) -> FlaskClient:
        if self.client is None or not self.alive():
            self.client = self.make()
            STATS.remade[self.name] += 1
        return self.client


@dataclass
class Stats:
    """Inputs sent and seconds spent, per (target, database)."""

    inputs: dict = field(default_factory=lambda: defaultdict(int))
    seconds: dict = field(default_factory=lambda: defaultdict(float))
    remade: dict = field(default_factory=lambda: defaultdict(int))  # browsers made (again)


STATS = Stats()


class World:
    """Seeded rows and a browser per kind of user, on one app (one database)."""

    def __init__(
        self,
        app,
        make_staff,
        clock,
        tenants,
        alice_id: int,
        progress: Callable[[str, int, float], None] = lambda target, inputs, seconds: None,
    ) -> None:
        app.test_client_class = FuzzClient  # every browser the world makes
        self.app = app
        self.tenant_app = app.extensions["impersonator.tenant_app"]
        self.database = "postgresql" if db_url(app).startswith("postgresql") else "sqlite"
        self.make_staff = make_staff
        self.clock = clock
        self.tenants = tenants
        self.alice_id = alice_id
        self.progress = progress  # told (target, inputs, seconds) of each minute of a run
        self.impersonation_id = 0
        self.spent_token = ""
        self.personas = {
            p.name: p
            for p in (
                Persona("anonymous-console", CONSOLE, app.test_client, None, _any),
                Persona("anonymous-acme", ACME, app.test_client, None, _any),
                Persona("pending", CONSOLE, self._pending, "/sign-in/code"),
                Persona("enrolling", CONSOLE, self._enrolling, "/sign-in/enrol"),
                Persona("admin", CONSOLE, lambda: self._staff("admin")),
                Persona("agent", CONSOLE, lambda: self._staff("support")),
                Persona("alice", ACME, self._alice, "/", _alice_page),
                Persona("ghost", ACME, self._ghost, "/", _ghost_page),
            )
        }
        for persona in self.personas.values():
            persona.ensure()
        self._tokens: dict[Form, tuple[FlaskClient, str | None]] = {}
        self._seed_project()
        self.pages = self._pages()
        self.forms = self._discover()

    # --- making each kind of user -------------------------------------------------------------

    def _restore(self) -> None:
        """Undo what fuzzed inputs may have switched off, so a ghost can be made again."""
        with self.app.app_context():
            set_global_switch(True, actor=Actor.system("fuzz"), ip=None, now=self.clock.now())
            db.session.commit()
        # The admin's fuzzed forms may have changed Acme's approval rules or the officer who approves
        # full-mode requests for `launch` (role, active): a full-mode ghost needs both as seeded.
        update_tenant(
            self.app,
            self.tenants["acme"],
            impersonation_enabled=True,
            access_policy="opt_in_or_code",
            two_person="full",
            users_choose_approval=False,
            ticket_pattern=None,
            reason_codes=None,
        )
        with self.app.app_context():
            password = hash_password(CUSTOMER_PASSWORD)
            officer = update(Staff).where(Staff.email == SECOND_PERSON).values(role="security", active=True)
            db.session.execute(officer)
            db.session.commit()
        update_user(
            self.app,
            self.alice_id,
            email=ALICE,
            active=True,
            password_hash=password,
            approve_each_request=False,
        )
        opt_in(self.app, self.alice_id, self.clock.now() + minutes(8 * 60))
        with self.app.app_context():  # fuzzed sign-ins with Alice's email and a wrong password lock her
            throttle.clear(failure_key(db.session.get(Tenant, self.tenants["acme"]), ALICE))
            db.session.commit()

    def _staff(self, role: str) -> FlaskClient:
        return staff_browser(self.app, self.make_staff(role), self.clock)

    def _pending(self) -> FlaskClient:
        client = self.app.test_client()
        self.clock.next_totp_step()
        sign_in_password(client, (member := self.make_staff("support")).email, member.password)
        return client

    def _enrolling(self) -> FlaskClient:
        client = self.app.test_client()
        member = self.make_staff("support", enrolled=False)
        sign_in_password(client, member.email, member.password)
        return client

    def _alice(self) -> FlaskClient:
        self._restore()
        client = self.app.test_client()
        sign_in_as(client, ALICE)
        return client

    def _ghost(self) -> FlaskClient:
        self._restore()
        member = self.make_staff("impersonator")
        client = staff_browser(self.app, member, self.clock)
        _, self.spent_token = launch(client, member, self.clock, self.alice_id, mode="full")
        assert redeem(client, self.spent_token, ACME).status_code == 303
        with self.app.app_context():
            self.impersonation_id = db.session.scalar(
                select(Impersonation.id).order_by(Impersonation.id.desc())
            )
        return client

    def _seed_project(self) -> None:
        """Alice makes a project through her home page's form, so its rename form exists too."""
        client = self.personas["alice"].client
        for form in post_forms(client.get("/", base_url=ACME).text):
            if form["action"] == "/projects":
                data = {name: "Seeded project" for name in form["fields"]}
                client.post("/projects", base_url=ACME, data={"csrf_token": form["csrf"], **data})

    # --- what there is to fuzz ----------------------------------------------------------------

    def ids(self) -> dict[str, int]:
        """Real ids for the `<int:…>` arguments of the URL maps (1 for the rest)."""
        return defaultdict(
            lambda: 1,
            user_id=self.alice_id,
            impersonation_id=self.impersonation_id,
            tenant_id=self.tenants["acme"],
        )

    def rules(self, base: str):
        face = self.app if base == CONSOLE else self.tenant_app
        return [rule for rule in face.url_map.iter_rules() if rule.endpoint != "static"]

    def _pages(self) -> list[tuple[str, str]]:
        """(base, path) of every GET page of both faces, ids filled with seeded rows."""
        ids = self.ids()
        pages = []
        for base in (CONSOLE, ACME):
            for rule in self.rules(base):
                if "GET" in rule.methods:
                    pages.append(
                        (base, fill(rule.rule, lambda arg: str(ids[arg]) if "id" in arg else "no-such"))
                    )
        return pages

    def _discover(self) -> list[Form]:
        """Every POST form each kind of user sees on every GET page of its face."""
        found: dict[tuple, Form] = {}
        for persona in self.personas.values():
            for base, page in self.pages:
                if base != persona.base:
                    continue
                response = persona.ensure().get(page, base_url=base)
                for form in post_forms(response.text) if response.status_code == 200 else ():
                    action = html.unescape(form["action"]) or page
                    key = (persona.name, action)
                    found.setdefault(key, Form(persona.name, base, page, action, tuple(form["fields"])))
        return list(found.values())

    def fresh_form(self, form: Form) -> tuple[FlaskClient, str | None]:
        """The persona's browser and the form's CSRF token, read from the page when the last
        submission may have changed things (a redirect, a token the session no longer takes), else
        remembered."""
        persona = self.personas[form.persona]
        remembered = self._tokens.get(form)
        if remembered and remembered[0] is persona.client:
            return remembered
        # The page itself says whether the persona is still itself: only when it does not is the
        # persona checked (a request more) and made again. A request less per input, most of the time.
        client = persona.client or persona.ensure()
        page = client.get(form.page, base_url=form.base)
        if not persona.answers_as_itself(page):
            client = persona.ensure()
            page = client.get(form.page, base_url=form.base)
        forms = post_forms(page.text)
        # The form itself, else (its row gone: a disabled account, an ended session) any form of
        # the page: a CSRF token is the session's, whichever form carries it.
        same = [f for f in forms if (html.unescape(f["action"]) or form.page) == form.action]
        token = next((f["csrf"] for f in same + forms if f["csrf"]), None)
        self._tokens[form] = (client, token)
        return client, token

    def submitted(self, form: Form, response, sent_token: bool) -> None:
        """Forget the page's token when the submission may have ended or changed the session."""
        ended = 300 <= response.status_code < 400 or response.status_code in (401, 403)
        refused = sent_token and CSRF_REFUSAL in response.text
        if ended or (refused and not self._takes_token(form)):
            self._tokens.pop(form, None)

    def _takes_token(self, form: Form) -> bool:
        """Whether the persona's session still takes the remembered token. Most refusals are the
        input's own doing (a body the form parser refuses, a second `csrf_token` part): asking the
        session directly costs far less than reading the page again, which was half the target's time."""
        _client, token = self._tokens.get(form, (None, None))
        face = self.app if form.base == CONSOLE else self.tenant_app
        cookies = {"Cookie": self.personas[form.persona].cookie_header()}
        with face.test_request_context(form.page, base_url=form.base, headers=cookies):
            try:
                validate_csrf(token)
            except ValidationError:
                return False
        return True

    def record(self, target: str, seconds: float, count: int) -> None:
        STATS.inputs[(target, self.database)] += count
        STATS.seconds[(target, self.database)] += seconds


def fill(rule: str, value: Callable[[str], str]) -> str:
    return _ARG.sub(lambda m: value(m.group(1)), rule)


def db_url(app) -> str:
    return app.config["SQLALCHEMY_DATABASE_URI"]


def _any(_page: TestResponse) -> bool:
    return True


def _alice_page(page: TestResponse) -> bool:
    return page.status_code == 200 and BANNER not in page.text


def _ghost_page(page: TestResponse) -> bool:
    return BANNER in page.text


class Counter:
    """Counts the inputs of one Hypothesis run and times it. The tally grows a minute at a time as
    the run goes, and each minute `world.progress` is told (`make fuzz` saves the tally and logs the
    minute's rate): a long run can be read while it runs, and what it counted outlives a crash."""

    def __init__(self, world: World, target: str) -> None:
        self.world, self.target, self.count = world, target, 0
        self._recorded = 0

    def __enter__(self):
        self._since = time.perf_counter()
        return self

    def add(self) -> None:
        """One more input sent."""
        self.count += 1
        if time.perf_counter() - self._since >= PROGRESS_SECONDS:
            inputs, seconds = self._record()
            self.world.progress(self.target, inputs, seconds)

    def _record(self) -> tuple[int, float]:
        """Add what was sent since the last record to the tally: (inputs, seconds)."""
        now = time.perf_counter()
        inputs, seconds = self.count - self._recorded, now - self._since
        self.world.record(self.target, seconds, inputs)
        self._recorded, self._since = self.count, now
        return inputs, seconds

    def __exit__(self, *exc):
        self._record()
        return False
