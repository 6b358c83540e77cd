"""The ghost as support staff and customers meet it (issue 13, "The ghost" and the request log):
read-only forms drawn disabled with the reason while the server still refuses them, a banner whose
icon is drawn and whose countdown is no live region, and a request log (and the customer's counts)
without static files or the browser's favicon request, which both faces now answer."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from sqlalchemy import func, insert, select

from impersonator.extensions import db
from impersonator.models import GhostRequest, Project, User
from tests.support.customer import HISTORY, ghost_in, sign_in_as
from tests.support.impersonation import (
    BANNER,
    END_PATH,
    READ_ONLY_MESSAGE,
    ghost_requests,
    minutes,
    opt_in,
    the_impersonation,
    user_id,
)
from tests.support.masking import REVEAL_PATH
from tests.support.web import ACME, CONSOLE, csrf_token

ALICE = "alice@acme.example"
CHANGES_OFF = "Read-only impersonation: changes are off."
# Emoji and pictographs (the old banner's 👻 was U+1F47B), dingbats and the emoji variation selector.
EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\ufe0f]")
CONTROLS = ("input", "button", "select", "textarea")


@pytest.fixture
def alice(app, tenants, clock) -> int:
    """Alice, opted in for the day, with one project (so the rename form is on her home page)."""
    uid = user_id(app, ALICE)
    opt_in(app, uid, clock.now() + minutes(24 * 60))
    with app.app_context():
        owner = db.session.get(User, uid)
        now = clock.now()
        db.session.add(
            Project(tenant_id=owner.tenant_id, owner_id=uid, name="Atlas", created_at=now, updated_at=now)
        )
        db.session.commit()
    return uid


@pytest.fixture
def read_only_ghost(app, make_staff, clock, alice):
    return ghost_in(app, make_staff("support"), clock, alice, mode="read_only")


@pytest.fixture
def full_ghost(app, make_staff, clock, alice):
    return ghost_in(app, make_staff("impersonator"), clock, alice, mode="full")


@pytest.fixture
def customer(app, alice):
    client = app.test_client()
    sign_in_as(client, ALICE)
    return client


# --- reading forms as a browser sees them ------------------------------------------------------------


class Forms(HTMLParser):
    """Every POST form of a page: its action, and each control a person uses (not hidden inputs)
    with its attributes; plus every element's text by id (for aria-describedby)."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.forms: list[tuple[str, list[tuple[str, dict]]]] = []
        self.text_by_id: dict[str, str] = {}
        self._open_ids: list[tuple[str, str]] = []  # (tag, id) of elements whose text is collected
        self._form: list | None = None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form" and attributes.get("method", "").lower() == "post":
            self._form = []
            self.forms.append((attributes.get("action", ""), self._form))
        elif self._form is not None and tag in CONTROLS and attributes.get("type") != "hidden":
            self._form.append((tag, attributes))
        if "id" in attributes and tag not in ("input", "br", "img"):
            self._open_ids.append((tag, attributes["id"]))
            self.text_by_id.setdefault(attributes["id"], "")

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        if self._open_ids and self._open_ids[-1][0] == tag:
            self._open_ids.pop()

    def handle_data(self, data):
        for _, element_id in self._open_ids:
            self.text_by_id[element_id] += data

    def changing_forms(self) -> list[tuple[str, list[tuple[str, dict]]]]:
        """The forms that would change the account: all but the banner's End and the Reveal of a
        masked value (allowed to a read-only ghost: it changes nothing in the account)."""
        allowed = (END_PATH, REVEAL_PATH)
        return [(action, controls) for action, controls in self.forms if action not in allowed]


def assert_drawn_disabled_with_the_reason(page: str) -> None:
    forms = Forms(page)
    assert forms.changing_forms(), "no form that changes the account on this page"
    for action, controls in forms.changing_forms():
        assert any(tag == "button" for tag, _ in controls), action
        for tag, attributes in controls:
            assert "disabled" in attributes, f"{tag} of {action} is not disabled"
            hint = attributes.get("aria-describedby")
            assert hint and forms.text_by_id.get(hint, "").strip() == CHANGES_OFF, (action, tag)


def assert_enabled(page: str) -> None:
    forms = Forms(page)
    assert forms.changing_forms(), "no form that changes the account on this page"
    for action, controls in forms.changing_forms():
        for tag, attributes in controls:
            assert "disabled" not in attributes, f"{tag} of {action} is disabled"
    assert CHANGES_OFF not in page


def tenant_get_pages(tenant_app) -> list[str]:
    """Every tenant GET page a browser can open without knowing an id (files left out)."""
    return sorted(
        rule.rule
        for rule in tenant_app.url_map.iter_rules()
        if "GET" in rule.methods and not rule.arguments and rule.endpoint != "static"
    )


# --- I7: read-only forms are drawn disabled, with the reason -------------------------------------


@pytest.mark.parametrize("path", ["/", "/account"])
def test_i7_a_read_only_ghost_sees_the_forms_disabled_with_the_reason(read_only_ghost, path):
    page = read_only_ghost.get(path, base_url=ACME)

    assert page.status_code == 200
    assert BANNER in page.text
    assert CHANGES_OFF in page.text
    assert_drawn_disabled_with_the_reason(page.text)


def test_i7_every_form_a_read_only_ghost_can_see_is_disabled_but_end(read_only_ghost, tenant_app):
    """Completeness: a form a new page forgets to disable is caught here, not by a support agent."""
    seen = 0
    for path in tenant_get_pages(tenant_app):
        page = read_only_ghost.get(path, base_url=ACME)
        if page.status_code != 200:
            continue  # refused to the ghost (the owner's pages) or not a page
        forms = Forms(page.text)
        assert [action for action, _ in forms.forms if action == END_PATH] == [END_PATH], path
        if forms.changing_forms():
            assert_drawn_disabled_with_the_reason(page.text)
            seen += 1
    assert seen >= 2  # the home page and the account page at least


def test_i7_the_end_button_stays_enabled_in_read_only_mode(read_only_ghost):
    forms = Forms(read_only_ghost.get("/", base_url=ACME).text)

    [(_, controls)] = [form for form in forms.forms if form[0] == END_PATH]
    assert [(tag, "disabled" in attributes) for tag, attributes in controls] == [("button", False)]


@pytest.mark.parametrize("path", ["/", "/account"])
def test_i7_a_full_mode_ghost_and_the_customer_see_the_forms_enabled(full_ghost, customer, path):
    for client in (full_ghost, customer):
        page = client.get(path, base_url=ACME)
        assert page.status_code == 200
        assert_enabled(page.text)


@pytest.mark.parametrize(
    ("page", "action", "data"),
    [
        ("/", "/projects", {"name": "Ghost was here"}),
        ("/", "/projects/{project}/rename", {"name": "Renamed by the ghost"}),
        ("/account", "/account/name", {"name": "Renamed by the ghost"}),
    ],
)
def test_i7_the_server_still_refuses_a_read_only_ghosts_post(app, read_only_ghost, page, action, data):
    """Disabled is a courtesy: a POST sent anyway (developer tools, a script) is refused as before."""
    with app.app_context():
        project_id = db.session.scalar(select(Project.id))
        before = (db.session.scalar(select(func.count(Project.id))), db.session.get(Project, project_id).name)
    token = csrf_token(read_only_ghost.get(page, base_url=ACME).text)

    response = read_only_ghost.post(
        action.format(project=project_id), base_url=ACME, data={"csrf_token": token, **data}
    )

    assert response.status_code == 403
    assert READ_ONLY_MESSAGE in response.text
    with app.app_context():
        after = (db.session.scalar(select(func.count(Project.id))), db.session.get(Project, project_id).name)
        names = list(db.session.scalars(select(User.name).where(User.email == ALICE)))
    assert after == before
    assert names == ["Alice"]


# --- the banner -----------------------------------------------------------------------------------


def banner_of(page: str) -> str:
    match = re.search(r'<div class="ghost-banner"[^>]*>.*?\n  </div>', page, re.S)
    assert match, "no ghost banner"
    return match.group(0)


def test_i7_the_banner_icon_is_a_drawn_svg_with_a_name_and_no_emoji(read_only_ghost):
    banner = banner_of(read_only_ghost.get("/", base_url=ACME).text)

    svg = re.search(r"<svg\b([^>]*)>", banner)
    assert svg, "no inline SVG icon in the banner"
    assert 'role="img"' in svg.group(1)
    assert re.search(r'aria-label="[^"]+"', svg.group(1))
    assert not EMOJI.search(banner), "an emoji in the banner"


def test_the_countdown_is_not_a_live_region(read_only_ghost):
    """A live region around the ticking minutes would be read out every time they change."""
    banner = banner_of(read_only_ghost.get("/", base_url=ACME).text)

    opening = re.match(r"<div[^>]*>", banner).group(0)
    assert 'role="status"' not in opening and "aria-live" not in opening and 'role="alert"' not in opening
    assert 'role="region"' in opening and 'aria-label="Impersonation in progress"' in opening
    minutes_left = re.search(r'<span id="ghost-minutes"[^>]*>', banner).group(0)
    assert "aria-live" not in minutes_left and "role=" not in minutes_left
    # The only live region: empty, visually hidden, filled by the script at 5 and 1 minutes left.
    assert re.findall(r'role="status"|aria-live', banner) == ['role="status"']
    assert '<span class="visually-hidden" role="status" id="ghost-announce"></span>' in banner


# --- the request log and the customer's counts leave out files ---------------------------------------


FILES = ["/favicon.ico", "/static/css/app.css", "/static/js/ghost-countdown.js", "/static/no-such-file.png"]


def test_i7_files_and_the_favicon_leave_no_request_row(app, read_only_ghost):
    for path in FILES:
        read_only_ghost.get(path, base_url=ACME)
    read_only_ghost.get("/robots.txt", base_url=ACME)
    assert read_only_ghost.get("/", base_url=ACME).status_code == 200

    assert ghost_requests(app, the_impersonation(app).id) == [("GET", "/", 200)]


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_customers_counts_show_no_refused_attempt_for_the_favicon(app, read_only_ghost, customer):
    read_only_ghost.get("/", base_url=ACME)
    for path in FILES:
        read_only_ghost.get(path, base_url=ACME)
    read_only_ghost.get("/account", base_url=ACME)

    words = text_of(customer.get(HISTORY, base_url=ACME).text)

    assert "2 pages viewed , 0 changes made , 0 refused attempts" in words
    assert "Every request (2)" in words
    assert "favicon" not in words and "/static/" not in words


def test_the_counts_leave_out_file_requests_logged_before_the_log_left_them_out(
    app, read_only_ghost, customer, clock
):
    """Rows an older version recorded (the favicon's 404 read as a refused attempt) are not counted."""
    impersonation_id = the_impersonation(app).id
    read_only_ghost.get("/", base_url=ACME)
    with app.app_context():
        for path, status in (("/favicon.ico", 404), ("/static/css/app.css", 200), ("/robots.txt", 404)):
            db.session.execute(
                insert(GhostRequest),
                {
                    "impersonation_id": impersonation_id,
                    "at": clock.now() + timedelta(seconds=1),
                    "method": "GET",
                    "path": path,
                    "status": status,
                },
            )
        db.session.commit()

    words = text_of(customer.get(HISTORY, base_url=ACME).text)

    assert "1 page viewed , 0 changes made , 0 refused attempts" in words
    assert "Every request (1)" in words


# --- a favicon on both faces ----------------------------------------------------------------------


@pytest.mark.parametrize("host", [CONSOLE, ACME])
def test_favicon_ico_answers_with_the_icon_on_both_faces(client, tenants, host):
    response = client.get("/favicon.ico", base_url=host)
    if response.status_code in (301, 302, 303, 307, 308):
        response = client.get(response.headers["Location"], base_url=host)

    assert response.status_code == 200
    assert response.content_type.startswith("image/")
    assert response.data[:4] == b"\x00\x00\x01\x00"  # an ICO file's header


@pytest.mark.parametrize("host", [CONSOLE, ACME])
def test_the_svg_icon_is_served_on_both_faces(client, tenants, host):
    response = client.get("/static/favicon.svg", base_url=host)

    assert response.status_code == 200
    assert response.content_type.startswith("image/svg+xml")


def test_tenant_pages_and_error_pages_link_the_icon(client, tenants, read_only_ghost):
    link = '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">'
    assert link in client.get("/sign-in", base_url=ACME).text
    assert link in read_only_ghost.get("/", base_url=ACME).text
    assert link in client.get("/no-such-page", base_url=CONSOLE).text  # the shared error page
