"""The audit page GET /audit/ (issue 5 §2; DESIGN §7, I9, I11): newest first, filters, keyset pages that
stay fast deep into the log, alarming rows highlighted, the chart, and the chain's state."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from impersonator.extensions import db
from impersonator.services.audit import chart as audit_chart
from impersonator.services.audit import log
from impersonator.services.audit.log import Cursor, Filters
from tests.support.audit_log import append_events, link_href, page_seqs
from tests.support.impersonation import user_id
from tests.support.web import CONSOLE, sign_in

DAY = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # three days before the test clock's start


@pytest.fixture
def officer(client, make_staff, clock):
    """A security officer, signed in on the console."""
    member = make_staff("security")
    sign_in(client, member, clock)
    return member


def audit_page(client, **params):
    return client.get("/audit/", base_url=CONSOLE, query_string=params)


def events_on_page(client, **params) -> list[int]:
    response = audit_page(client, **params)
    assert response.status_code == 200, response.text
    return page_seqs(response.text)


# --- roles ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["support", "impersonator"])
@pytest.mark.parametrize("path", ["/audit/", "/audit/?staff=1", "/audit/export?format=jsonl"])
def test_roles_only_the_security_team_reads_the_audit_log(client, make_staff, clock, role, path):
    sign_in(client, make_staff(role), clock)

    response = client.get(path, base_url=CONSOLE)

    assert response.status_code == 403
    assert "You do not have permission to do that." in response.text
    assert 'href="/audit/"' not in response.text  # nor is it in the navigation


@pytest.mark.parametrize("role", ["security", "admin"])
def test_roles_the_security_team_sees_the_audit_log_in_the_navigation(client, make_staff, clock, role):
    sign_in(client, make_staff(role), clock)

    page = client.get("/", base_url=CONSOLE).text

    assert 'href="/audit/">Audit log</a>' in page
    assert 'href="/audit/live">Live sessions</a>' in page


# --- the list ---------------------------------------------------------------------------------------


def test_events_are_listed_newest_first(app, client, officer):
    seqs = append_events(app, [{"at": DAY + timedelta(minutes=n), "action": f"test.n{n}"} for n in range(5)])

    shown = events_on_page(client)

    assert shown[:5] == seqs[::-1]
    assert shown == sorted(shown, reverse=True)


def test_denied_failed_and_alert_events_stand_out(app, client, officer):
    ok, denied, failed, alert = append_events(
        app,
        [
            {"at": DAY, "outcome": "success"},
            {"at": DAY, "action": "impersonation.denied", "outcome": "denied"},
            {"at": DAY, "action": "staff.sign_in_failed", "outcome": "failure"},
            {"at": DAY, "action": "security.alert", "outcome": "denied", "details": {"kind": "token_replay"}},
        ],
    )

    page = audit_page(client).text

    assert f'<tr class="">\n      <td>{ok}</td>' in page
    assert f'<tr class="audit-alarm">\n      <td>{denied}</td>' in page
    assert f'<tr class="audit-alarm">\n      <td>{failed}</td>' in page
    assert f'<tr class="audit-alarm audit-alert">\n      <td>{alert}</td>' in page


def test_hostile_text_in_events_is_escaped(app, client, officer):
    append_events(
        app,
        [
            {
                "at": DAY,
                "actor_type": "anonymous",
                "actor_label": "<script>alert('label')</script>",
                "action": "staff.sign_in_failed",
                "outcome": "failure",
                "details": {"reason": "<img src=x onerror=alert(1)>", "nested": {"x": "</dd><script>"}},
            }
        ],
    )

    page = audit_page(client).text

    assert "<script>alert(" not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(&#39;label&#39;)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "</dd><script>" not in page


# --- filters ----------------------------------------------------------------------------------------


@pytest.fixture
def cast(app, make_staff, tenants):
    """Two support agents, two customers of two tenants, and a handful of events about them."""
    ann, ben = (
        make_staff("support", email="ann@staff.example"),
        make_staff("support", email="ben@staff.example"),
    )
    alice, gina = user_id(app, "alice@acme.example"), user_id(app, "gina@globex.example")
    acme, globex = tenants["acme"], tenants["globex"]
    rows = {
        "ann signs in": {"at": DAY, "actor_id": ann.id, "actor_label": ann.email},
        "ben is denied alice": {
            "at": DAY + timedelta(days=1),
            "actor_id": ben.id,
            "actor_label": ben.email,
            "action": "impersonation.denied",
            "outcome": "denied",
            "target_type": "user",
            "target_id": alice,
            "tenant_id": acme,
        },
        "ann impersonates gina": {
            "at": DAY + timedelta(days=2),
            "actor_id": ann.id,
            "actor_label": ann.email,
            "action": "impersonation.started",
            "target_type": "user",
            "target_id": gina,
            "tenant_id": globex,
        },
        "ann impersonates alice": {
            "at": DAY + timedelta(days=2, hours=1),
            "actor_id": ann.id,
            "actor_label": ann.email,
            "action": "impersonation.started",
            "target_type": "user",
            "target_id": alice,
            "tenant_id": acme,
        },
        "alert": {
            "at": DAY + timedelta(days=2, hours=2),
            "actor_type": "system",
            "actor_label": "ghost-guard",
            "action": "security.alert",
            "outcome": "denied",
            "tenant_id": acme,
        },
    }
    seqs = dict(zip(rows, append_events(app, list(rows.values())), strict=True))
    return {"ann": ann, "ben": ben, "alice": alice, "gina": gina, "acme": acme, "globex": globex, **seqs}


def expect(cast, *names: str) -> list[int]:
    return sorted((cast[name] for name in names), reverse=True)


FILTERS = {
    "staff by id": (
        lambda c: {"staff": c["ann"].id},
        ("ann signs in", "ann impersonates gina", "ann impersonates alice"),
    ),
    "staff by email": (
        lambda c: {"staff": "ANN@staff.example"},
        ("ann signs in", "ann impersonates gina", "ann impersonates alice"),
    ),
    "tenant by id": (
        lambda c: {"tenant": c["acme"]},
        ("ben is denied alice", "ann impersonates alice", "alert"),
    ),
    "tenant by slug": (lambda c: {"tenant": "globex"}, ("ann impersonates gina",)),
    "customer by id": (lambda c: {"user": c["alice"]}, ("ben is denied alice", "ann impersonates alice")),
    "customer by email": (lambda c: {"user": "gina@globex.example"}, ("ann impersonates gina",)),
    "action": (
        lambda c: {"action": "impersonation.started"},
        ("ann impersonates gina", "ann impersonates alice"),
    ),
    "outcome": (lambda c: {"outcome": "denied"}, ("ben is denied alice", "alert")),
    "one day": (lambda c: {"from": "2026-11-21", "to": "2026-11-21"}, ("ben is denied alice",)),
    "from a day on": (
        lambda c: {"from": "2026-11-22"},
        ("ann impersonates gina", "ann impersonates alice", "alert"),
    ),
    "up to a day": (lambda c: {"to": "2026-11-20"}, ("ann signs in",)),
    "staff and tenant": (lambda c: {"staff": c["ann"].id, "tenant": c["acme"]}, ("ann impersonates alice",)),
    "staff and action": (lambda c: {"staff": c["ben"].id, "action": "impersonation.started"}, ()),
}


@pytest.mark.parametrize("name", FILTERS)
def test_filters_narrow_the_log(client, officer, cast, name):
    params, names = FILTERS[name]

    shown = [seq for seq in events_on_page(client, **params(cast)) if seq >= cast["ann signs in"]]

    assert shown == expect(cast, *names)


def test_filters_show_what_was_chosen_and_carry_into_the_links(client, officer, cast):
    page = audit_page(client, staff=cast["ann"].id, outcome="success").text

    assert f'<option value="{cast["ann"].id}" selected>Support Person (ann@staff.example)</option>' in page
    assert '<option value="success" selected>succeeded</option>' in page
    assert f"/audit/export?format=csv&amp;staff={cast['ann'].id}&amp;outcome=success" in page


def test_a_staff_member_added_a_moment_ago_can_be_chosen_at_once(client, officer, make_staff):
    audit_page(client)  # the filter choices are kept a minute from here
    newcomer = make_staff("support", email="newcomer@staff.example")

    page = audit_page(client, staff=newcomer.id).text

    assert f'<option value="{newcomer.id}" selected>Support Person (newcomer@staff.example)</option>' in page


@pytest.fixture
def many(monkeypatch):
    """More staff members and tenants than the filter form lists (three and two here, against one)."""
    monkeypatch.setattr(log, "LISTED_MAX", 1)


def test_more_staff_and_tenants_than_listed_are_typed_not_picked(client, officer, cast, many):
    page = audit_page(client).text

    assert '<label for="filter-staff">Staff member (id or email)</label>' in page
    assert '<input id="filter-staff" name="staff" value=""' in page
    assert '<label for="filter-tenant">Tenant (id or slug)</label>' in page
    assert '<input id="filter-tenant" name="tenant" value=""' in page
    assert "<option" not in page.split('id="filter-user"')[0].split('id="filter-staff"')[1]
    assert 'select id="filter-staff"' not in page and 'select id="filter-tenant"' not in page


@pytest.mark.parametrize("staff", ["email", "id"])
def test_a_typed_filter_narrows_the_log_and_shows_whom_by_address_and_slug(
    client, officer, cast, many, staff
):
    chosen = "ANN@staff.example" if staff == "email" else cast["ann"].id
    response = audit_page(client, staff=chosen, tenant=cast["globex"])
    shown = [seq for seq in page_seqs(response.text) if seq >= cast["ann signs in"]]

    assert response.status_code == 200
    assert shown == expect(cast, "ann impersonates gina")
    # Links and the export carry ids; the boxes show what a person would type.
    assert '<input id="filter-staff" name="staff" value="ann@staff.example"' in response.text
    assert '<input id="filter-tenant" name="tenant" value="globex"' in response.text
    assert f"format=csv&amp;staff={cast['ann'].id}&amp;tenant={cast['globex']}" in response.text


def test_i11_a_typed_filter_that_names_nobody_is_kept_escaped_with_its_sentence(client, officer, cast, many):
    response = audit_page(client, staff='"><script>alert(1)</script>@x', tenant="<b>")

    assert response.status_code == 400
    assert "There is no tenant with that id or slug." in response.text
    assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;@x"' in response.text
    assert 'value="&lt;b&gt;"' in response.text
    assert "<script>alert(1)</script>" not in response.text


def test_events_name_their_tenants_as_they_are_now(app, client, officer, cast):
    audit_page(client)  # the filter choices are kept a minute from here
    with app.app_context():
        db.session.execute(
            text("UPDATE tenant SET name = 'Globex Worldwide' WHERE id = :id"), {"id": cast["globex"]}
        )
        db.session.commit()

    page = audit_page(client, staff=cast["ann"].id).text

    assert '<span class="muted">Globex Worldwide</span>' in page
    assert '<span class="muted">Acme</span>' in page


def test_a_customer_email_shared_by_two_tenants_needs_a_tenant(app, client, officer, cast, clock):
    with app.app_context():
        db.session.execute(
            text(
                "INSERT INTO tenant_user (tenant_id, email, name, password_hash, active, created_at)"
                " VALUES (:tenant, 'alice@acme.example', 'Other Alice', 'x', :yes, :now)"
            ),
            {"tenant": cast["globex"], "yes": True, "now": clock.now().replace(tzinfo=None)},
        )
        db.session.commit()

    ambiguous = audit_page(client, user="alice@acme.example")
    narrowed = events_on_page(client, user="alice@acme.example", tenant=cast["acme"])

    assert ambiguous.status_code == 400
    assert "Customers of several tenants have that email address: choose a tenant too." in ambiguous.text
    assert narrowed == expect(cast, "ben is denied alice", "ann impersonates alice")


def test_a_time_range_is_exact_even_where_seq_and_time_disagree(app, client, officer):
    """`at` is read before the chain head is locked, so a later event may carry an earlier time: the
    range is decided by `at`, the `seq` window only narrows where to look."""
    after_midnight, before_midnight = append_events(
        app,
        [
            {"at": datetime(2026, 11, 24, 0, 0, 30, tzinfo=UTC), "action": "test.after_midnight"},
            {"at": datetime(2026, 11, 23, 23, 59, 50, tzinfo=UTC), "action": "test.before_midnight"},
        ],
    )

    up_to_the_23rd = events_on_page(client, to="2026-11-23")
    from_the_24th = events_on_page(client, **{"from": "2026-11-24"})

    assert before_midnight in up_to_the_23rd and after_midnight not in up_to_the_23rd
    assert from_the_24th == [after_midnight]


BAD_FILTERS = {
    "a date that does not exist": ({"from": "2026-02-30"}, "“From” must be a date such as 2026-11-23."),
    "a date in another shape": ({"to": "23.11.2026"}, "“To” must be a date such as 2026-11-23."),
    "from after to": ({"from": "2026-11-23", "to": "2026-11-01"}, "The “from” date is after the “to” date."),
    "an unknown staff id": ({"staff": "999999"}, "There is no staff member with that id or email address."),
    "an unknown staff email": ({"staff": "nobody@staff.example"}, "There is no staff member with that id"),
    "a staff name": ({"staff": "Ann"}, "Staff member must be a number or an email address."),
    "an unknown tenant": ({"tenant": "no-such-tenant"}, "There is no tenant with that id or slug."),
    "an unknown customer": ({"user": "999999"}, "There is no customer with that id."),
    "an unknown customer email": (
        {"user": "x@nowhere.example"},
        "There is no customer with that email address.",
    ),
    "hostile text as customer": (
        {"user": "<script>alert(1)</script>"},
        "Customer must be a number or an email",
    ),
    "an action in another shape": ({"action": "DROP TABLE"}, "An action looks like impersonation.started."),
    "a very long action": ({"action": "a." + "b" * 500}, "An action looks like impersonation.started."),
    "an unknown outcome": ({"outcome": "maybe"}, "The outcome is one of success, failure, denied."),
    "a negative cursor": ({"before": "-5"}, "“before” must be an event number such as 1234."),
    "a huge cursor": ({"before": "9" * 30}, "“before” must be an event number such as 1234."),
    "a word as cursor": ({"after": "last"}, "“after” must be an event number such as 1234."),
    "two cursors": ({"before": "5", "after": "2"}, "A page starts before or after an event, not both."),
    "a NUL byte": ({"staff": "1\x00"}, "Staff member must be a number or an email address."),
    "a NUL byte in a date": ({"from": "2026-11-2\x00"}, "“From” must be a date such as 2026-11-23."),
}


@pytest.mark.parametrize("name", BAD_FILTERS)
def test_i11_bad_filters_are_a_400_with_a_sentence_never_a_500(client, officer, tenants, name):
    params, message = BAD_FILTERS[name]

    response = audit_page(client, **params)

    assert response.status_code == 400
    assert message in response.text
    assert "<h1>Audit log</h1>" in response.text
    assert "<script>alert(1)</script>" not in response.text
    assert "Traceback" not in response.text


# --- keyset pages -----------------------------------------------------------------------------------


def test_keyset_pages_walk_a_filtered_log_to_its_end_and_back(app, client, officer, make_staff):
    ann, ben = make_staff("support"), make_staff("support")
    start = DAY - timedelta(days=10)
    seqs = append_events(
        app,
        [
            {
                "at": start + timedelta(minutes=n),
                "actor_id": (ann if n % 3 == 0 else ben).id,
                "actor_label": (ann if n % 3 == 0 else ben).email,
            }
            for n in range(3000)
        ],
    )
    anns = [seq for n, seq in enumerate(seqs) if n % 3 == 0][::-1]

    pages, address = [], f"/audit/?staff={ann.id}"
    while address:
        response = client.get(address, base_url=CONSOLE)
        assert response.status_code == 200
        pages.append(page_seqs(response.text))
        assert (link_href(response.text, "prev") is None) == (len(pages) == 1)
        address, last = link_href(response.text, "next"), response

    assert [seq for page in pages for seq in page] == anns
    assert [len(page) for page in pages] == [50] * 20
    back, address = [], link_href(last.text, "prev")
    while address:
        response = client.get(address, base_url=CONSOLE)
        back.append(page_seqs(response.text))
        address = link_href(response.text, "prev")
    assert back == pages[-2::-1]


def test_a_cursor_deep_in_the_log_starts_the_page_there(app, client, officer):
    seqs = append_events(app, [{"at": DAY + timedelta(seconds=n)} for n in range(400)])

    shown = events_on_page(client, before=seqs[200])

    assert shown == seqs[150:200][::-1]


def test_a_cursor_past_the_end_shows_an_empty_page_with_a_way_back(app, client, officer):
    append_events(app, [{"at": DAY}])

    response = audit_page(client, before=1)

    assert page_seqs(response.text) == []
    assert "No events match on this page." in response.text
    assert ">Newest</a>" in response.text


# 20,000 events over 100 tenants, 50 staff, 1,000 users, 20 actions; 2 % denied.
_SPREAD_OF_EVENTS = """
INSERT INTO audit_event (seq, at, actor_type, actor_id, actor_label, action, outcome, target_type,
                         target_id, tenant_id, impersonation_id, ip, details, prev_hash, hash)
SELECT n, now(), 'staff', n % 50, 'staff', 'action.' || (n % 20),
       CASE WHEN n % 50 = 0 THEN 'denied' ELSE 'success' END, 'user', n % 1000, n % 100, NULL, NULL,
       '{}', repeat('0', 64), repeat('0', 64)
FROM generate_series(100000, 119999) AS n
"""


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        (Filters(staff_id=1), "ix_audit_event_actor_seq"),
        (Filters(tenant_id=1), "ix_audit_event_tenant_seq"),
        (Filters(user_id=1), "ix_audit_event_target_seq"),
        (Filters(action="impersonation.started"), "ix_audit_event_action_seq"),
        (Filters(outcome="denied"), "ix_audit_event_outcome_seq"),
    ],
)
def test_each_filtered_page_is_one_range_of_its_composite_index(app, filters, index):
    """col = ? AND seq < ? ORDER BY seq DESC LIMIT 51: the plan reads the (col…, seq) index backwards,
    with no sort step, so page 1,000 costs what page 1 costs. The cursor sits mid-way through the
    spread of events below."""
    with app.app_context():
        query = (
            db.select(log.AuditEvent)
            .where(*log.conditions(filters), log.AuditEvent.seq < 110_000)
            .order_by(log.AuditEvent.seq.desc())
            .limit(51)
        )
        compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
        if db.engine.dialect.name == "sqlite":
            plan = " ".join(row[-1] for row in db.session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
            assert f"USING INDEX {index}" in plan
            assert "seq<?" in plan
            assert "TEMP B-TREE" not in plan  # no sort
        else:
            # On a nearly empty table the planner's costs tie and it may read the seq index with a
            # filter. Give it a production-like spread (in this transaction only, rolled back below).
            db.session.execute(text(_SPREAD_OF_EVENTS))
            db.session.execute(text("ANALYZE audit_event"))
            db.session.execute(text("SET LOCAL enable_seqscan = off"))
            db.session.execute(text("SET LOCAL enable_bitmapscan = off"))
            plan = " ".join(row[0] for row in db.session.execute(text(f"EXPLAIN {compiled}")))
            assert f"Index Scan Backward using {index}" in plan or f"Index Scan using {index}" in plan
            assert "Sort" not in plan
        db.session.rollback()


def test_the_service_pages_without_offset(app, officer):
    seqs = append_events(app, [{"at": DAY + timedelta(seconds=n)} for n in range(120)])
    with app.app_context():
        first = log.page(Filters())
        second = log.page(Filters(), Cursor(before=first.older))
        back = log.page(Filters(), Cursor(after=second.newer))

    assert [e.event.seq for e in first.entries][:50] == sorted(seqs, reverse=True)[:50]
    assert second.entries[0].event.seq == first.older - 1
    assert [e.event.seq for e in back.entries] == [e.event.seq for e in first.entries]
    assert first.newer is None and back.newer is None


# --- chart and chain state ------------------------------------------------------------------------


def test_chart_counts_impersonations_per_day_by_outcome(app, client, officer, clock):
    today = clock.now()
    rows = (
        [{"at": today - timedelta(days=40), "action": "impersonation.started"}]  # too old
        + [{"at": today - timedelta(days=1), "action": "impersonation.denied", "outcome": "denied"}] * 2
        + [{"at": today + timedelta(minutes=1), "action": "impersonation.started"}] * 3
        + [{"at": today + timedelta(minutes=2), "action": "impersonation.redeem_failed", "outcome": "denied"}]
        + [{"at": today + timedelta(minutes=3), "action": "impersonation.requested"}]  # not one of the three
    )
    append_events(app, rows)
    with app.app_context():
        chart = audit_chart.impersonations_per_day(today)

    assert len(chart.days) == 30 and chart.days[-1] == today.date()
    assert chart.counts["started"][-1] == 3 and chart.counts["denied"][-2] == 2
    assert chart.totals == {"started": 3, "denied": 2, "redeem_failed": 1}
    page = audit_page(client).text
    assert '<svg class="chart"' in page
    assert "<title>2026-11-23: 3 started</title>" in page
    assert "<title>2026-11-22: 2 denied</title>" in page
    assert "<title>2026-11-23: 1 redemption failed</title>" in page
    # Compact (issue 13): each day's total above its bar, the totals in the caption, and a table of the
    # days that had any (the drawing itself is hidden from screen readers: the table says it all).
    assert '<text class="chart-value"' in page and ">4</text>" in page and ">2</text>" in page
    assert "Started 3" in page and "Denied 2" in page and "Redemption failed 1" in page
    assert [day for day, _ in chart.active_days] == [today.date(), today.date() - timedelta(days=1)]
    assert '<th scope="row">2026-11-23</th><td>3</td><td>0</td><td>1</td>' in page
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/static/js/local-times.js" defer>']


def test_chart_is_kept_a_minute_then_drawn_afresh(app, client, officer, clock):
    append_events(app, [{"at": clock.now(), "action": "impersonation.started"}])
    assert "Started 1<" in audit_page(client).text

    append_events(app, [{"at": clock.now(), "action": "impersonation.started"}] * 2)
    kept = audit_page(client).text
    clock.advance(seconds=61)
    fresh = audit_page(client).text

    assert "Started 1<" in kept  # the events below it are live, though
    assert "Started 3<" in fresh


def test_chart_bars_stack_within_the_drawing(app, clock):
    today = clock.now()
    append_events(
        app,
        [{"at": today, "action": "impersonation.started"}] * 7
        + [{"at": today, "action": "impersonation.denied"}] * 5,
    )
    with app.app_context():
        chart = audit_chart.impersonations_per_day(today)

    started, denied = chart.bars
    assert started.y + started.height == pytest.approx(chart.plot_bottom)
    assert denied.y + denied.height == pytest.approx(started.y)
    assert started.height / denied.height == pytest.approx(7 / 5, rel=1e-3)  # rounded to 0.01 units
    assert chart.ticks[-1].value >= 12 and chart.ticks[-1].y >= 0


def test_the_chain_state_is_shown_from_the_latest_verifier_run(app, client, officer):
    append_events(app, [{"at": DAY + timedelta(seconds=n)} for n in range(10)])
    assert "never been verified" in audit_page(client).text
    runner = app.test_cli_runner()

    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
    verified = audit_page(client).text
    with app.app_context():
        db.session.execute(text("UPDATE audit_event SET outcome = 'denied' WHERE seq = 4"))
        db.session.commit()
    assert runner.invoke(args=["audit", "verify"]).exit_code == 1
    broken = audit_page(client).text

    assert "Audit chain verified up to <strong>#" in verified
    assert 'role="alert">The audit chain is <strong>broken at #4</strong>' in broken
    assert "its content does not match its hash (edited)" in broken
