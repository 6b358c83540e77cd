"""The console's search page: GET /search?q=…&page=N (issue 3, item 1; DESIGN §7, I11)."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from impersonator.extensions import db
from impersonator.models import ROLES, User
from impersonator.services.passwords import hash_password
from tests.support.web import CONSOLE, sign_in

SCRIPT = "<script>alert(1)</script>"
ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"
_USER_LINK = re.compile(r'<a href="/users/(\d+)">([^<]*)</a>')
_PAGE_LINK = re.compile(r'<a [^>]*rel="(prev|next)" href="([^"]+)"')


def add_users(app, tenant_id: int, clock, *people: tuple[str, str]) -> list[int]:
    with app.app_context():
        users = [
            User(
                tenant_id=tenant_id,
                email=email,
                name=name,
                password_hash=hash_password("customer password"),
                created_at=clock.now(),
            )
            for email, name in people
        ]
        db.session.add_all(users)
        db.session.commit()
        return [user.id for user in users]


def user_links(html: str) -> list[tuple[int, str]]:
    return [(int(user_id), unescape(name)) for user_id, name in _USER_LINK.findall(html)]


@pytest.fixture
def staff(client, make_staff, clock, tenants):
    """A signed-in support agent, with Acme (alice) and Globex (gina) in the database."""
    member = make_staff("support")
    sign_in(client, member, clock)
    return member


def test_signed_out_the_search_leads_to_sign_in(client, tenants):
    response = client.get("/search?q=alice", base_url=CONSOLE)

    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert location.path == "/sign-in"
    assert parse_qs(location.query)["next"] == ["/search?q=alice"]


@pytest.mark.parametrize("role", ROLES)
def test_every_staff_role_may_search(client, make_staff, clock, tenants, role):
    sign_in(client, make_staff(role), clock)

    response = client.get("/search?q=alice%40acme.example", base_url=CONSOLE)

    assert response.status_code == 200
    assert [name for _, name in user_links(response.text)] == ["Alice"]
    home = client.get("/", base_url=CONSOLE).text
    assert 'href="/search">Search</a>' in home  # in the navigation
    assert '<label for="search-q">Search users</label>' in home  # the box on the home page


def test_the_empty_page_explains_what_can_be_searched(client, staff):
    response = client.get("/search", base_url=CONSOLE)

    assert response.status_code == 200
    assert '<label for="search-q">Search users</label>' in response.text
    assert 'name="q"' in response.text and "autofocus" in response.text
    assert "One box searches every tenant" in response.text
    assert user_links(response.text) == []
    assert "No users match" not in response.text
    assert client.get("/search?q=+++", base_url=CONSOLE).text.count("One box searches every tenant") == 1


def test_results_show_the_user_and_link_to_the_user_page(app, client, staff, tenants, clock):
    [user_id] = add_users(app, tenants["acme"], clock, ("zoe@acme.example", "Zoe Zimmer"))

    response = client.get("/search?q=zimm", base_url=CONSOLE)

    assert response.status_code == 200
    assert user_links(response.text) == [(user_id, "Zoe Zimmer")]
    row = response.text.split(f'href="/users/{user_id}"', 1)[1].split("</tr>", 1)[0]
    assert "zoe@acme.example" in row
    assert "Acme" in row and "acme.localhost" in row
    assert "code needed" in row
    assert "never" in row  # last sign-in
    assert "hash" not in response.text.lower()
    assert client.get(f"/users/{user_id}", base_url=CONSOLE).status_code == 200


def test_the_query_stays_in_the_box(client, staff):
    response = client.get("/search?q=gina", base_url=CONSOLE)

    assert 'value="gina"' in response.text
    assert [name for _, name in user_links(response.text)] == ["Gina"]


def test_nothing_found_says_so(client, staff):
    response = client.get("/search?q=nobody-by-that-name", base_url=CONSOLE)

    assert response.status_code == 200
    assert "No users match “nobody-by-that-name”" in response.text
    assert user_links(response.text) == []


def test_a_short_query_says_it_matches_beginnings_only(client, staff):
    response = client.get("/search?q=gi", base_url=CONSOLE)

    assert "Searches shorter than 3 characters match only the beginning" in response.text
    assert [name for _, name in user_links(response.text)] == ["Gina"]
    assert "Searches shorter than" not in client.get("/search?q=gin", base_url=CONSOLE).text


def test_a_complete_address_says_it_is_looked_up_not_searched_inside(client, staff):
    response = client.get("/search?q=gina%40globex.example", base_url=CONSOLE)

    assert "A complete email address is looked up as it is" in response.text
    assert [name for _, name in user_links(response.text)] == ["Gina"]
    assert "looked up as it is" not in client.get("/search?q=gina", base_url=CONSOLE).text


def test_i11_a_user_name_with_markup_is_escaped(app, client, staff, tenants, clock):
    add_users(app, tenants["acme"], clock, ("mallory@acme.example", f"Mallory {SCRIPT}"))

    response = client.get("/search?q=mallory", base_url=CONSOLE)

    assert SCRIPT not in response.text
    assert f"Mallory {ESCAPED_SCRIPT}" in response.text


def test_i11_the_query_is_escaped_in_the_box_and_the_messages(client, staff):
    response = client.get(f"/search?q={quote(SCRIPT)}", base_url=CONSOLE)

    assert response.status_code == 200
    assert SCRIPT not in response.text
    assert ESCAPED_SCRIPT in response.text


@pytest.mark.parametrize(
    "query",
    [
        "q=alice%00",
        "q=" + "x" * 10_000,
        "q=" + "x" * 201,
        "q=ali%E2%80%AEce",  # right-to-left override
        "q=a%07b",
        "q=alice&page=0",
        "q=alice&page=-3",
        "q=alice&page=99999999999999999999",
    ],
    ids=["nul", "10k", "201", "bidi", "bell", "page0", "negative", "huge-page"],
)
def test_i11_bad_input_gets_a_clear_400(client, staff, query):
    response = client.get(f"/search?{query}", base_url=CONSOLE)

    assert response.status_code == 400
    assert 'class="field-error"' in response.text
    assert "Nothing was searched" in response.text
    assert "\x00" not in response.text
    assert "x" * 201 not in response.text
    assert user_links(response.text) == []


@pytest.mark.parametrize("raw", ["ali%ED%A0%80ce", "%FF%FE", "ali%C3"], ids=["surrogate", "not-utf8", "cut"])
def test_i11_bytes_that_are_not_utf8_are_searched_as_the_text_werkzeug_keeps(client, staff, raw):
    # Werkzeug keeps an undecodable %XX sequence as those three characters: plain text, no error.
    response = client.get(f"/search?q={raw}", base_url=CONSOLE)

    assert response.status_code == 200
    assert f"No users match “{raw}”" in response.text


def test_a_page_that_is_not_a_number_is_the_first_page(client, staff):
    response = client.get("/search?q=gina&page=abc", base_url=CONSOLE)

    assert response.status_code == 200
    assert [name for _, name in user_links(response.text)] == ["Gina"]


def test_results_come_in_pages_of_fifty_with_previous_and_next(app, client, staff, tenants, clock):
    people = [(f"pager{n:03}@globex.example", f"Pager {n:03}") for n in range(120)]
    add_users(app, tenants["globex"], clock, *people)

    seen, url, pages = [], "/search?q=pager", []
    while url:
        response = client.get(url, base_url=CONSOLE)
        assert response.status_code == 200
        links = dict(_PAGE_LINK.findall(response.text))
        pages.append((len(user_links(response.text)), "prev" in links, "next" in links))
        seen += [name for _, name in user_links(response.text)]
        url = unescape(links["next"]) if "next" in links else None

    assert pages == [(50, False, True), (50, True, True), (20, True, False)]
    assert seen == [name for _, name in people]
    previous = dict(_PAGE_LINK.findall(client.get("/search?q=pager&page=3", base_url=CONSOLE).text))["prev"]
    assert parse_qs(urlsplit(unescape(previous)).query) == {"q": ["pager"], "page": ["2"]}


def test_search_is_a_plain_get_without_csrf(client, staff):
    # A GET changes nothing, so it needs no token; a POST is not a search.
    assert client.get("/search?q=alice", base_url=CONSOLE).status_code == 200
    assert client.post("/search", base_url=CONSOLE, data={"q": "alice"}).status_code in {400, 405}
