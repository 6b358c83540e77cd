"""Search in the top bar of every console page, and results that show each user's access state as a
badge with a direct "Impersonate" action for roles that may (issue 13)."""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from impersonator import ROOT
from impersonator.extensions import db
from impersonator.models import User
from impersonator.services import wording
from impersonator.services.passwords import hash_password
from tests.support.impersonation import minutes, opt_in, update_tenant, update_user, user_id
from tests.support.web import CONSOLE, sign_in

TOPBAR = re.compile(r'<header class="topbar">.*?</header>', re.S)


def topbar_search(html: str) -> str | None:
    header = TOPBAR.search(html)
    assert header, "no top bar"
    form = re.search(
        r'<form method="get" action="/search" role="search"[^>]*>.*?</form>', header.group(0), re.S
    )
    return form.group(0) if form else None


def rows(html: str) -> dict[str, str]:
    """Each result row's HTML, by the user's email."""
    body = re.search(r"<tbody>(.*?)</tbody>", html, re.S)
    assert body, "no results table"
    return {
        re.search(r"<td>([^<]+@[^<]+)</td>", row).group(1): row
        for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
    }


def badge(row: str) -> str:
    return re.search(r'<span class="access-badge access-\w+"[^>]*>([^<]+)</span>', row).group(1)


@contextmanager
def statements(app):
    seen: list[str] = []

    def record(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def add_users(app, tenant_id: int, count: int, clock) -> None:
    with app.app_context():
        for n in range(count):
            db.session.add(
                User(
                    tenant_id=tenant_id,
                    email=f"extra{n:02}@acme.example",
                    name=f"Extra {n:02}",
                    password_hash=hash_password("customer password"),
                    created_at=clock.now(),
                )
            )
        db.session.commit()


@pytest.mark.parametrize(
    "path", ["/", "/search", "/search?q=alice", "/impersonations/mine", "/users/{alice}"]
)
def test_every_console_page_has_the_search_in_its_top_bar(app, client, agent, alice, path):
    page = client.get(path.format(alice=alice), base_url=CONSOLE)

    assert page.status_code == 200
    form = topbar_search(page.text)
    assert form is not None
    assert '<label for="topbar-q" class="visually-hidden">Find a user</label>' in form
    assert 'id="topbar-q" name="q"' in form
    assert page.text.count('id="topbar-q"') == 1


def test_every_role_searches_from_the_top_bar_and_the_signed_out_page_has_none(
    app, client, make_staff, clock
):
    assert topbar_search(client.get("/sign-in", base_url=CONSOLE).text) is None
    sign_in(client, make_staff("security"), clock)
    assert topbar_search(client.get("/audit/", base_url=CONSOLE).text) is not None


def test_the_top_bar_search_lands_on_the_results(app, client, agent, alice, clock):
    results = client.get("/search", query_string={"q": "alice@"}, base_url=CONSOLE)

    assert results.status_code == 200
    assert "alice@acme.example" in rows(results.text)


def test_results_show_each_access_state_as_a_badge(app, client, agent, tenants, clock):
    alice = user_id(app, "alice@acme.example")
    gina = user_id(app, "gina@globex.example")
    add_users(app, tenants["acme"], 2, clock)
    opt_in(app, alice, clock.now() + minutes(60))
    update_user(app, user_id(app, "extra01@acme.example"), active=False)
    update_tenant(app, tenants["globex"], impersonation_enabled=False)

    # By tenant (a tenant's name lists its users): each row's state comes from that row's tenant.
    found = {
        **rows(client.get("/search?q=acme", base_url=CONSOLE).text),
        **rows(client.get("/search?q=globex", base_url=CONSOLE).text),
    }

    assert badge(found["alice@acme.example"]) == "opted in"
    assert badge(found["extra00@acme.example"]) == "code needed"
    assert badge(found["extra01@acme.example"]) == "inactive"
    assert badge(found["gina@globex.example"]) == "not allowed"
    # The full state on hover, the direct action where impersonation is possible.
    assert 'title="opted in until' in found["alice@acme.example"]
    assert f'href="/users/{alice}#impersonate"' in found["alice@acme.example"]
    assert "Impersonate" in found["extra00@acme.example"]
    assert "Impersonate" not in found["extra01@acme.example"]
    assert f'href="/users/{gina}#impersonate"' not in found["gina@globex.example"]


def test_the_impersonate_action_leads_to_the_form(app, client, agent, alice):
    page = client.get(f"/users/{alice}", base_url=CONSOLE)

    assert '<section class="card" id="impersonate"' in page.text
    assert 'id="impersonate-title">Impersonate Alice</h2>' in page.text


@pytest.mark.parametrize("role", ["security", "admin"])
def test_roles_that_cannot_impersonate_see_no_action(app, client, make_staff, clock, tenants, alice, role):
    sign_in(client, make_staff(role), clock)

    found = rows(client.get("/search?q=alice", base_url=CONSOLE).text)

    assert badge(found["alice@acme.example"]) == "opted in"
    assert "Impersonate" not in found["alice@acme.example"]


def test_badges_and_actions_cost_no_statement_per_row(app, client, agent, tenants, clock):
    add_users(app, tenants["acme"], 30, clock)

    with statements(app) as one:
        assert len(rows(client.get("/search?q=globex", base_url=CONSOLE).text)) == 1
    with statements(app) as many:
        assert len(rows(client.get("/search?q=acme", base_url=CONSOLE).text)) == 31

    assert len(many) == len(one)


def test_every_access_state_the_policy_gives_has_badge_words():
    """A new state in policy.access_state is worded in services/wording.py before it reaches a badge."""
    source = (ROOT / "impersonator" / "services" / "impersonation" / "policy.py").read_text(encoding="utf-8")
    codes = set(re.findall(r'AccessState\(\s*"(\w+)"', source))

    assert codes >= {"opted_in", "code_needed", "tenant_off", "switched_off", "inactive"}
    assert codes <= set(wording.ACCESS_STATES)
