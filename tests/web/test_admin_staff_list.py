"""The staff list in pages (issue 19: a console with a thousand members rendered them all on one
page): pages of 50 in the list's order, a page past the end shows the last one, a page that is not
a number is refused with a message, and an action on a member returns to the page that shows them.
*Find a member* narrows the list to names and emails that contain what was typed, and actions
return to the narrowed list."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from impersonator.extensions import db
from impersonator.models import Staff
from impersonator.services.staff import directory
from impersonator.services.staff.directory import STAFF_PER_PAGE
from tests.support.staff_admin import STAFF_PAGE, admin_post
from tests.support.web import CONSOLE, flashes

_ROW = re.compile(r'<tr id="staff-(\d+)">')


def add_members(app, names: list[str], *, active: bool = True) -> list[int]:
    """Staff rows straight into the table (a password hash costs ~140 ms; the list never reads it)."""
    with app.app_context():
        rows = [
            Staff(
                email=f"member{i}.{name.lower()}@staff.example",
                name=name,
                role="support",
                password_hash="not used",
                active=active,
            )
            for i, name in enumerate(names)
        ]
        db.session.add_all(rows)
        db.session.commit()
        return [row.id for row in rows]


def listed_ids(page_html: str) -> list[int]:
    return [int(found) for found in _ROW.findall(page_html)]


def every_member_in_order(app) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(select(Staff.id).order_by(Staff.active.desc(), Staff.name, Staff.id)))


@pytest.fixture
def crowd(app, admin_account):
    """120 more members: three pages with the admin. Names repeat, so the id settles their order."""
    names = [f"Member {n % 40:02d}" for n in range(110)]
    return add_members(app, names) + add_members(app, [f"Gone {n}" for n in range(10)], active=False)


def test_the_list_comes_in_pages_of_50_that_together_show_each_member_once(app, admin, crowd):
    first = admin.get(STAFF_PAGE, base_url=CONSOLE)
    assert first.status_code == 200
    assert "121 members, active first, by name;" in first.text
    assert "page 1 of 3." in first.text
    assert 'rel="next" href="/admin/staff/?page=2"' in first.text
    assert 'rel="prev"' not in first.text

    pages = [listed_ids(first.text)]
    for number in (2, 3):
        page = admin.get(f"{STAFF_PAGE}?page={number}", base_url=CONSOLE)
        assert page.status_code == 200 and f"page {number} of 3." in page.text
        pages.append(listed_ids(page.text))

    assert [len(ids) for ids in pages] == [STAFF_PER_PAGE, STAFF_PER_PAGE, 21]
    assert [member for ids in pages for member in ids] == every_member_in_order(app)
    last = admin.get(f"{STAFF_PAGE}?page=3", base_url=CONSOLE).text
    assert 'rel="prev" href="/admin/staff/?page=2"' in last and 'rel="next"' not in last


def test_a_page_past_the_end_shows_the_last_one(app, admin, crowd):
    page = admin.get(f"{STAFF_PAGE}?page=999999999", base_url=CONSOLE)
    assert page.status_code == 200
    assert "page 3 of 3." in page.text
    assert listed_ids(page.text) == every_member_in_order(app)[100:]


@pytest.mark.parametrize(
    "value",
    [
        "0",
        "-1",
        "two",
        "1.5",
        "1e3",
        "\uff11",  # a full-width one: isdigit() says yes
        "9" * 10,
    ],
)
def test_a_page_that_is_not_a_page_number_is_refused_with_a_message(admin, crowd, value):
    page = admin.get(STAFF_PAGE, query_string={"page": value}, base_url=CONSOLE)
    assert page.status_code == 400
    assert flashes(page) == ["“page” must be a page number such as 2."]
    assert len(listed_ids(page.text)) == STAFF_PER_PAGE  # the first page, still usable


def test_one_page_needs_no_page_links(admin):
    page = admin.get(STAFF_PAGE, base_url=CONSOLE).text
    assert 'aria-label="Staff pages"' not in page
    assert "page 1 of" not in page


def test_an_action_returns_to_the_page_that_shows_the_member_now(app, admin, crowd):
    member = every_member_in_order(app)[60]  # page 2, active

    disabled = admin_post(admin, f"/admin/staff/{member}/disable")

    assert disabled.status_code == 303
    # Disabled members come after the active ones: the member is on the last page now.
    address = urlsplit(disabled.headers["Location"])
    assert (address.path, address.query) == (STAFF_PAGE, "page=3")
    shown = admin.get(f"{STAFF_PAGE}?{address.query}", base_url=CONSOLE)
    assert member in listed_ids(shown.text)
    assert "is disabled, signed out everywhere" in flashes(shown)[0]


def test_a_member_on_the_first_page_returns_to_the_plain_address(app, admin, make_staff):
    member = make_staff("impersonator")

    allowed = admin_post(admin, f"/admin/staff/{member.id}/may-approve", {"allowed": "yes"})

    assert urlsplit(allowed.headers["Location"]).path == STAFF_PAGE
    assert not urlsplit(allowed.headers["Location"]).query


def test_page_of_agrees_with_the_pages_for_every_member(app, crowd):
    with app.app_context():
        pages = directory.staff_page(1).pages
        for number in range(1, pages + 1):
            for member in directory.staff_page(number).members:
                assert directory.page_of(member) == number, member.id


def test_a_member_s_enrolment_link_is_shown_on_their_page(app, admin, crowd):
    created = admin_post(
        admin, STAFF_PAGE, {"name": "Zed Last", "email": "zed@staff.example", "role": "support"}
    )
    assert created.status_code == 303

    page = admin.get(f"{STAFF_PAGE}?page=3", base_url=CONSOLE).text

    row = page[page.index("zed@staff.example") :]
    row = row[: row.index("</tr>")]
    assert "open until" in row
    assert page.count("open until") == 1  # the other members of the page have none


# --- Find a member --------------------------------------------------------------------------------


def test_find_a_member_lists_the_names_and_emails_that_contain_it_ignoring_case(app, admin, crowd):
    found = add_members(app, ["Dana Obrecht", "Obadiah Stone"]) + add_members(app, ["Bob Gone"], active=False)
    page = admin.get(STAFF_PAGE, query_string={"q": "  OB "}, base_url=CONSOLE)

    assert page.status_code == 200
    # "Obrecht" and "Obadiah" by name, "Bob Gone" by name and email; the disabled member last.
    assert listed_ids(page.text) == [found[0], found[1], found[2]]
    assert "3 members whose name or email contains “OB”, active first, by name." in page.text
    assert 'value="OB"' in page.text and "Show everyone" in page.text
    assert listed_ids(admin.get(STAFF_PAGE, query_string={"q": "MEMBER17."}, base_url=CONSOLE).text) == [
        crowd[17]
    ]


def test_percent_and_underscore_are_plain_characters_in_the_filter(app, admin, crowd):
    [underscored] = add_members(app, ["Under_Score"])

    assert listed_ids(admin.get(STAFF_PAGE, query_string={"q": "_"}, base_url=CONSOLE).text) == [underscored]
    page = admin.get(STAFF_PAGE, query_string={"q": "%"}, base_url=CONSOLE)
    assert listed_ids(page.text) == []
    assert "No staff member's name or email contains “%”." in page.text


def test_a_narrowed_list_comes_in_pages_that_keep_the_filter(app, admin, crowd):
    first = admin.get(STAFF_PAGE, query_string={"q": "member"}, base_url=CONSOLE)  # all but the admin

    assert "120 members whose name or email contains “member”" in first.text
    assert "page 1 of 3." in first.text
    assert 'rel="next" href="/admin/staff/?q=member&amp;page=2"' in first.text
    last = admin.get(STAFF_PAGE, query_string={"q": "member", "page": "3"}, base_url=CONSOLE)
    assert listed_ids(last.text) == every_member_in_order(app)[101:]  # the admin comes first
    assert 'rel="prev" href="/admin/staff/?q=member&amp;page=2"' in last.text


@pytest.mark.parametrize("value", ["a\x00b", "x" * 101, "\u202eadmin"])
def test_a_filter_that_cannot_be_read_is_refused_with_a_message_and_the_whole_list(admin, crowd, value):
    page = admin.get(STAFF_PAGE, query_string={"q": value}, base_url=CONSOLE)

    assert page.status_code == 400
    [message] = flashes(page)
    assert "“Find a member”" in message
    assert len(listed_ids(page.text)) == STAFF_PER_PAGE


def test_an_action_on_a_found_member_returns_to_the_narrowed_list(app, admin, crowd):
    [zoe] = add_members(app, ["Zoe Filtered"])
    page = admin.get(STAFF_PAGE, query_string={"q": "zoe"}, base_url=CONSOLE).text
    assert '<input type="hidden" name="q" value="zoe">' in page

    disabled = admin_post(admin, f"/admin/staff/{zoe}/disable", {"q": "zoe"})

    address = urlsplit(disabled.headers["Location"])
    assert (address.path, address.query) == (STAFF_PAGE, "q=zoe")
    shown = admin.get(f"{STAFF_PAGE}?{address.query}", base_url=CONSOLE)
    assert listed_ids(shown.text) == [zoe] and "disabled" in shown.text
    assert "is disabled, signed out everywhere" in flashes(shown)[0]


def test_an_unreadable_filter_sent_back_by_an_action_returns_to_the_whole_list(app, admin, crowd):
    member = every_member_in_order(app)[60]

    disabled = admin_post(admin, f"/admin/staff/{member}/disable", {"q": "a\x00b"})

    assert disabled.status_code == 303
    assert urlsplit(disabled.headers["Location"]).query == "page=3"


def test_page_of_agrees_with_the_narrowed_pages(app, crowd):
    with app.app_context():
        listed = directory.staff_page(1, matching="member 1", per_page=7)
        assert listed.total == 30  # "Member 10" to "Member 19", three of each
        for number in range(1, listed.pages + 1):
            for member in directory.staff_page(number, matching="member 1", per_page=7).members:
                assert directory.page_of(member, matching="member 1", per_page=7) == number, member.id
