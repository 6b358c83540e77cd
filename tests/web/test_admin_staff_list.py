"""The staff list in pages (issue 19: a console with a thousand members rendered them all on one
page): pages of 50 in the list's order, a page past the end shows the last one, a page that is not
a number is refused with a message, and an action on a member returns to the page that shows them."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from impersonator.extensions import db
from impersonator.models import Staff
from impersonator.services.staff import accounts
from impersonator.services.staff.accounts import STAFF_PER_PAGE
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
        pages = accounts.staff_page(1).pages
        for number in range(1, pages + 1):
            for member in accounts.staff_page(number).members:
                assert accounts.page_of(member) == number, member.id


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
