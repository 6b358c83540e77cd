"""Times on console pages (issue 13): one style everywhere, written in UTC by the server as
`<time datetime title="… UTC">`, which static/js/local-times.js moves to the viewer's own zone (the
browser side: tests/browser/test_local_times.py). No console template formats a time by itself."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from impersonator import ROOT
from impersonator.console import times
from tests.support.web import CONSOLE, sign_in

TIME = re.compile(r'<time datetime="([^"]+)" title="([^"]+)">([^<]+)</time>')
ONE_STYLE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def assert_one_style(page: str) -> int:
    found = TIME.findall(page)
    for utc, hover, shown in found:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", utc), utc
        assert hover == shown + " UTC", (hover, shown)
        assert ONE_STYLE.fullmatch(shown), shown
    return len(found)


def test_when_writes_utc_in_one_style_with_the_utc_value_on_hover():
    moment = datetime(2026, 11, 23, 13, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    assert str(times.when(moment)) == (
        '<time datetime="2026-11-23T11:04:05Z" title="2026-11-23 11:04:05 UTC">2026-11-23 11:04:05</time>'
    )
    assert str(times.when(None)) == "—"
    assert str(times.when(None, empty="never")) == "never"
    assert str(times.zone_note()) == "<span data-zone-note>Times are in UTC.</span>"


def test_no_console_template_formats_a_time_by_itself():
    templates = sorted((ROOT / "templates" / "console").rglob("*.html"))
    assert templates
    by_hand = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in templates
        for number, line in enumerate(Path(path).read_text().splitlines(), 1)
        if "strftime(" in line
    ]
    assert by_hand == []


def test_every_console_page_loads_the_local_times_script(client, make_staff, clock):
    admin = make_staff("admin")
    sign_in(client, admin, clock)
    for path in ("/", "/admin/staff/", "/admin/outbox/", "/audit/", "/admin/webhooks/"):
        page = client.get(path, base_url=CONSOLE, follow_redirects=True).text
        assert '<script src="/static/js/local-times.js" defer></script>' in page, path


def test_the_staff_list_and_the_sessions_show_times_in_the_one_style(client, make_staff, clock):
    admin = make_staff("admin")
    make_staff("support", email="sam@staff.example")
    sign_in(client, admin, clock)

    staff = client.get("/admin/staff/", base_url=CONSOLE).text
    home = client.get("/", base_url=CONSOLE).text

    assert assert_one_style(staff) >= 1  # the admin's own last sign-in
    assert "never" in staff  # Sam has never signed in
    assert assert_one_style(home) >= 3  # this session: started, last seen, ends
    now = clock.now().astimezone(UTC)
    assert f'title="{now:%Y-%m-%d %H:%M:%S} UTC"' in home
