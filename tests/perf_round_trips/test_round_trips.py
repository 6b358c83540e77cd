"""Round trips on the hot paths (issue 3, Benchmarks; MEASURED.md: each one costs ~0.27 ms on
PostgreSQL): what each page reads in one statement, so that a change that splits it again fails here,
on both databases."""

from __future__ import annotations

import gc
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from impersonator.extensions import db
from impersonator.services.staff import sessions
from tests.support.impersonation import BANNER, launch, launch_and_redeem, minutes, opt_in, redeem, user_id
from tests.support.web import ACME, CONSOLE, sign_in


@contextmanager
def statements(app):
    """The SQL statements both faces send while the block runs (BEGIN and friends left out)."""
    seen: list[str] = []

    def record(conn, cursor, statement, *args):
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")):
            seen.append(" ".join(statement.split()))

    engines = []
    for face in (app, app.extensions["impersonator.tenant_app"]):
        with face.app_context():
            engines.append(db.engine)
    for engine in set(engines):
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in set(engines):
            event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def alice(app, tenants, clock) -> int:
    uid = user_id(app, "alice@acme.example")
    opt_in(app, uid, clock.now() + minutes(8 * 60))
    return uid


@pytest.fixture
def staff(client, make_staff, clock):
    member = make_staff("impersonator")
    sign_in(client, member, clock)
    return member


def test_a_ghost_request_reads_tenant_and_impersonation_in_one_statement(app, client, staff, clock, alice):
    assert launch_and_redeem(client, staff, clock, alice).redeemed.status_code == 303

    with statements(app) as seen:
        page = client.get("/", base_url=ACME)

    assert page.status_code == 200 and BANNER in page.text
    lookups = [s for s in seen if "tenant_domain" in s]
    assert len(lookups) == 1
    assert "impersonation" in lookups[0] and "setting" in lookups[0]  # the guard's whole check
    assert not [s for s in seen if s.startswith("SELECT") and "FROM impersonation" in s]


def test_a_ghost_request_on_an_unknown_host_is_still_404(app, client, staff, clock, alice):
    launch_and_redeem(client, staff, clock, alice)
    cookie = client.get_cookie("impersonator_tenant", domain="acme.localhost")
    other = app.test_client()
    other.set_cookie("impersonator_tenant", cookie.value, domain="nowhere.localhost")

    assert other.get("/", base_url="http://nowhere.localhost").status_code == 404


def test_redemption_reads_the_tenants_domains_with_the_impersonation(app, client, staff, clock, alice):
    _url, token = launch(client, staff, clock, alice)
    tenant_client = app.test_client()

    with statements(app) as seen:
        response = redeem(tenant_client, token)

    assert response.status_code == 303
    # The host's tenant, then the row with its staff member, user, tenant and domains: no lazy load
    # of the domains for the audience check or the access notice's links.
    loads = [s for s in seen if s.startswith("SELECT impersonation.id")]
    assert len(loads) == 1 and "tenant_domain" in loads[0]
    assert not [s for s in seen if s.startswith("SELECT tenant_domain.")]


def test_a_console_page_reads_its_session_and_staff_member_in_one_statement(
    app, client, make_staff, clock, monkeypatch
):
    """Every console request resolves its sign-in session; the staff member comes in the same row,
    and using them afterwards (the top bar names them) reads nothing more, even after a garbage
    collection has run between the two (the identity map holds its objects weakly)."""
    member = make_staff("support")
    sign_in(client, member, clock)
    resolve = sessions.resolve

    def resolve_then_collect(*args, **kwargs):
        row = resolve(*args, **kwargs)
        gc.collect()
        return row

    monkeypatch.setattr(sessions, "resolve", resolve_then_collect)

    with statements(app) as seen:
        page = client.get("/", base_url=CONSOLE)

    assert page.status_code == 200 and "Support Person · support" in page.text
    reads = [s for s in seen if "FROM staff_session" in s and "token_hash =" in s]
    assert len(reads) == 1 and "JOIN staff ON" in reads[0]
    assert not [s for s in seen if "FROM staff WHERE" in s]


def test_search_page_reads_results_and_the_switch_in_one_statement(app, client, make_staff, clock, tenants):
    sign_in(client, make_staff("support"), clock)

    with statements(app) as seen:
        page = client.get("/search?q=alice", base_url=CONSOLE)

    assert page.status_code == 200 and "alice@acme.example" in page.text
    # The global switch comes inside the results' statement, not in one of its own.
    switch_reads = [s for s in seen if "FROM setting" in s]
    assert len(switch_reads) == 1
    assert "AS switch_value FROM tenant_user" in switch_reads[0]


def test_search_pages_of_any_length_send_postgresql_one_results_statement(
    app, client, make_staff, clock, tenants
):
    """On PostgreSQL the ids come as one array: the statement's text (what psycopg keeps prepared) is
    the same for a page of one user and a page of many, with no parameter per id."""
    sign_in(client, make_staff("support"), clock)

    with statements(app) as seen:
        one = client.get("/search?q=alice@acme.example", base_url=CONSOLE)
        many = client.get("/search?q=example", base_url=CONSOLE)

    assert one.status_code == many.status_code == 200
    assert one.text.count('id="result-') == 1 and many.text.count('id="result-') > 1
    results = [s for s in seen if "AS switch_value FROM tenant_user" in s]
    assert len(results) == 2
    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
    if postgres:
        assert results[0] == results[1]
        assert "= ANY (" in results[0]


def test_redemption_counts_the_rate_with_the_load_and_moves_the_head_with_the_event(
    app, client, staff, clock, alice
):
    _url, token = launch(client, staff, clock, alice)
    tenant_client = app.test_client()

    with statements(app) as seen:
        response = redeem(tenant_client, token)

    assert response.status_code == 303
    # The rate alert's count of the staff member's last hour rides on the row's load.
    assert not [s for s in seen if s.startswith("SELECT count(*)")]
    [load] = [s for s in seen if s.startswith("SELECT impersonation.id")]
    assert "count(*)" in load
    # On PostgreSQL the chain head moves in the statement that appends the event.
    appends = [s for s in seen if "INSERT INTO audit_event" in s]
    head_moves = [s for s in seen if s.startswith("UPDATE audit_head")]
    assert len(appends) == 1
    with app.app_context():
        dialect = db.engine.dialect.name
    if dialect == "postgresql":
        assert "UPDATE audit_head" in appends[0] and not head_moves
    else:
        assert len(head_moves) == 1
