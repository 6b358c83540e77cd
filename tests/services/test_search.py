"""The user search (issue 3, item 1): every kind of match, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import event, select, text

from impersonator.extensions import db
from impersonator.models import Setting, Tenant, TenantDomain, User
from impersonator.services.errors import InvalidInput
from impersonator.services.search import users as search_module
from impersonator.services.search.sql import (
    ID_BUCKET,
    POSTGRES_SUBSTRING_BUCKETS,
    POSTGRES_SUBSTRING_INDEX,
)
from impersonator.services.search.users import (
    MAX_PAGE,
    SearchPage,
    UserResult,
    after_prefix,
    escape_like,
    search_users,
)
from tests.conftest import postgresql_only

PASSWORD_HASH = "scrypt:32768:8:1$not-a-real-salt$0123456789abcdef-password-hash"


def add_tenant(clock, slug: str, name: str, domain: str | None = None, **fields) -> int:
    tenant = Tenant(slug=slug, name=name, created_at=clock.now(), **fields)
    if domain:
        tenant.domains.append(TenantDomain(domain=domain))
    db.session.add(tenant)
    db.session.commit()
    return tenant.id


def add_user(clock, tenant_id: int, email: str, name: str = "Some One", **fields) -> int:
    user = User(
        tenant_id=tenant_id,
        email=email,
        name=name,
        password_hash=PASSWORD_HASH,
        created_at=clock.now(),
        **fields,
    )
    db.session.add(user)
    db.session.commit()
    return user.id


def emails(page: SearchPage) -> list[str]:
    return [result.email for result in page.results]


def search(query: str, **kwargs) -> SearchPage:
    page = search_users(query, **kwargs)
    db.session.rollback()  # as a request would end: the next search sees fresh data
    return page


@pytest.fixture
def ctx(app, tenants):
    """An app context on a database holding Acme (alice) and Globex (gina)."""
    with app.app_context():
        yield


@pytest.fixture
def acme(ctx, tenants) -> int:
    return tenants["acme"]


@pytest.fixture
def globex(ctx, tenants) -> int:
    return tenants["globex"]


# -- what can be searched ------------------------------------------------------------------------


def test_exact_email_finds_the_user_whatever_the_case(acme, clock):
    add_user(clock, acme, "alice.other@acme.example")

    assert emails(search("alice@acme.example")) == ["alice@acme.example"]
    assert emails(search("  ALICE@Acme.Example ")) == ["alice@acme.example"]


def test_exact_email_comes_before_longer_addresses_that_start_with_it(acme, globex, clock):
    add_user(clock, acme, "ann@acme.example.org")
    add_user(clock, acme, "ann@acme.example.net")
    add_user(clock, globex, "ann@acme.example")

    assert emails(search("ann@acme.example")) == [
        "ann@acme.example",
        "ann@acme.example.net",
        "ann@acme.example.org",
    ]


def test_email_prefix_matches_the_beginning_only(acme, globex, clock):
    add_user(clock, acme, "bob@acme.example")
    add_user(clock, globex, "bobby@globex.example")
    add_user(clock, acme, "jimbob@acme.example")  # "bob" inside, not at the start

    found = search("bo")

    assert emails(found) == ["bob@acme.example", "bobby@globex.example"]
    assert found.scope == "short"


def test_name_substring_ignores_case_and_finds_the_middle_of_a_name(acme, globex, clock):
    add_user(clock, acme, "x1@acme.example", "Alice Anderson")
    add_user(clock, globex, "x2@globex.example", "Sven SANDERS")
    add_user(clock, acme, "x3@acme.example", "Andy Ersson")  # "and", "ers", but not "nders"

    assert emails(search("nders")) == ["x1@acme.example", "x2@globex.example"]
    assert emails(search("NdErS")) == ["x1@acme.example", "x2@globex.example"]


def test_email_substring_finds_the_middle_of_an_address(acme, clock):
    add_user(clock, acme, "first.last@example.org")
    add_user(clock, acme, "someone@lastname.example")

    assert emails(search("t.las")) == ["first.last@example.org"]
    assert set(emails(search("last"))) == {"first.last@example.org", "someone@lastname.example"}


def test_a_user_id_finds_that_user_first(acme, clock):
    wanted = add_user(clock, acme, "numbered@acme.example", "Number Holder")
    for n in range(3):
        add_user(clock, acme, f"agent{wanted}x{n}@acme.example")  # contains the id as a substring

    found = search(str(wanted))

    assert found.results[0].id == wanted
    assert found.results[0].email == "numbered@acme.example"


def test_a_huge_number_is_not_an_id_and_is_no_error(acme):
    assert search("9" * 30).results == ()


def test_tenant_name_slug_and_domain_list_the_tenants_users(acme, globex, clock):
    add_user(clock, globex, "hank@globex.example", "Hank Hill")
    globex_users = ["gina@globex.example", "hank@globex.example"]

    assert emails(search("Globex")) == globex_users  # name (and slug), any case
    assert emails(search("globex.localhost")) == globex_users  # domain
    assert emails(search("glo")) == globex_users  # a prefix of the name


def test_tenant_prefix_works_with_short_queries(acme, globex, clock):
    add_user(clock, acme, "zed@acme.example")

    assert emails(search("ac")) == ["alice@acme.example", "zed@acme.example"]


def test_a_tenant_lists_its_users_after_email_matches(acme, globex, clock):
    add_user(clock, globex, "acme.fan@globex.example", "Fan Of Acme")  # email prefix "acme"

    found = search("acme")

    assert emails(found) == ["acme.fan@globex.example", "alice@acme.example"]


def test_ranks_exact_prefix_tenant_substring(ctx, clock):
    tenant = add_tenant(clock, "kestrel", "Kestrel", "kestrel.example")
    other = add_tenant(clock, "other", "Other", "other.example")
    substring = add_user(clock, other, "a.kestrel@other.example")
    in_tenant = add_user(clock, tenant, "zz@kestrel.example")
    prefix = add_user(clock, other, "kestrel.b@other.example")
    exact = add_user(clock, other, "kestrel")

    assert [r.id for r in search("kestrel").results] == [exact, prefix, in_tenant, substring]


def test_a_complete_address_is_looked_up_not_searched_inside_other_addresses(acme, clock):
    add_user(clock, acme, "ann@acme.example.org")  # starts with it: a prefix match
    add_user(clock, acme, "joann@acme.example")  # holds it inside: not listed

    found = search("ann@acme.example")

    assert found.scope == "address"
    assert emails(found) == ["ann@acme.example.org"]
    assert emails(search("nn@acme")) == ["ann@acme.example.org", "joann@acme.example"]
    assert search("nn@acme").scope == "all"


@pytest.mark.parametrize("needle", ["abcdefghijkl", "ABCDEFGHIJKL", "cdefghijk"])
def test_long_needles_match_only_where_the_whole_needle_is(acme, clock, needle):
    # Rows that hold every trigram of the needle, but never the needle itself, more of them than one
    # batch of candidates: the SQLite path checks each candidate against the whole needle.
    for n in range(300):
        add_user(clock, acme, f"decoy{n}@acme.example", "Abc Def Ghi Jkl Bcd Efg Hij Cde Fgh Ijk")
    inside_name = add_user(clock, acme, "inside@acme.example", "Xx AbCdEfGhIjKl Yy")
    inside_email = add_user(clock, acme, "zz.abcdefghijkl.zz@acme.example", "Plain Name")

    found = search(needle)

    assert [r.id for r in found.results] == [inside_name, inside_email]


def in_bucket(bucket: int, n: int) -> dict:
    """An explicit id, the `n`th of the bucket `bucket` of ids (bucket 0: the next id in sequence)."""
    return {"id": bucket * ID_BUCKET + n} if bucket else {}


# The substring rank's paths on PostgreSQL (_substring_postgres): past the head and the probe (the
# rest of the head's bucket), the constants that send it one way or the other.
SUBSTRING_PATHS = {
    "head": dict(HEAD_ROWS=1000),  # the head holds every user
    "buckets": dict(HEAD_ROWS=10, BUCKET_MARGIN=10.0, BUCKET_COST=0),  # enough buckets, one by one
    "buckets, then index": dict(HEAD_ROWS=10, BUCKET_MARGIN=0.01, BUCKET_COST=0),  # one falls short
    "index": dict(HEAD_ROWS=10, BUCKET_COST=10**9),  # the index at once
}
# (read buckets beyond the probe, asked the index) on each path.
SUBSTRING_PATH_READS = {
    "head": (False, False),
    "buckets": (True, False),
    "buckets, then index": (True, True),
    "index": (False, True),
}


def substring_path(sent: list[tuple[str, dict]]) -> tuple[bool, bool]:
    """(read buckets beyond the probe, asked the index) of the statements sent."""
    buckets = [params for statement, params in sent if "generate_series" in statement]
    index_alone = any(
        "MATERIALIZED" in statement and "generate_series" not in statement for statement, _ in sent
    )
    return bool(buckets), index_alone or any(params["ask_index"] for params in buckets)


@pytest.mark.parametrize("path", SUBSTRING_PATHS)
def test_pages_crossing_buckets_are_in_id_order_and_complete_on_every_path(acme, clock, monkeypatch, path):
    # PostgreSQL reads rank 4 in id order one bucket of ids after another, or asks the trigram index
    # for every match: pages must be the same, in id order, whichever part finds their rows.
    for name, value in SUBSTRING_PATHS[path].items():
        monkeypatch.setattr(search_module, name, value)
    wanted = []
    for bucket in (0, 1, 2, 4):  # bucket 3 holds nobody; pages end inside buckets
        for n in range(1, 25 if bucket == 0 else 12):
            add_user(clock, acme, f"filler{bucket}-{n}@acme.example", "Filler", **in_bucket(bucket, 2 * n))
            if n % 3 == 0:
                email, name = f"q{bucket}-{n}@acme.example", f"Mid Qwzx {bucket}-{n}"
                wanted.append(add_user(clock, acme, email, name, **in_bucket(bucket, 2 * n + 1)))
    assert len(wanted) == 17

    pages = []
    sent = _executions_of(lambda: pages.extend(search("qwzx", page=n, per_page=7) for n in (1, 2, 3)))

    assert [r.id for p in pages for r in p.results] == sorted(wanted) == wanted
    assert [p.has_next for p in pages] == [True, True, False]
    if db.engine.dialect.name == "postgresql":  # SQLite has one path: the FTS5 index
        assert substring_path(sent) == SUBSTRING_PATH_READS[path]


@pytest.mark.parametrize("path", SUBSTRING_PATHS)
def test_substring_leaves_out_users_of_earlier_ranks_on_every_path(ctx, clock, monkeypatch, path):
    # The substring rank must not list again an exact, prefix or tenant match, whichever part of it
    # (head, probe, buckets, index) meets that user.
    for name, value in SUBSTRING_PATHS[path].items():
        monkeypatch.setattr(search_module, name, value)
    zorb = add_tenant(clock, "zorbco", "Zorbco", "zorbco.example")
    other = add_tenant(clock, "other", "Other", "other.example")
    inside = []
    for bucket in range(4):
        for n in range(1, 9):
            add_user(clock, other, f"filler{bucket}-{n}@other.example", "Filler", **in_bucket(bucket, 4 * n))
            if n % 4 == 0:  # rank 4
                email, name = f"x{bucket}-{n}@other.example", f"Mr Zorb{bucket}-{n}"
                inside.append(add_user(clock, other, email, name, **in_bucket(bucket, 4 * n + 1)))
    plain = add_user(clock, zorb, "a@zorbco.example", "Plain Person")  # rank 3, in bucket 0
    prefix = add_user(clock, other, "zorb.one@other.example", "Zorb Prefix", **in_bucket(1, 2))  # rank 2
    in_tenant = add_user(clock, zorb, "b.zorb@zorbco.example", "Zorb In Tenant", **in_bucket(2, 2))  # 3

    found = [r.id for r in search("zorb", per_page=100).results]

    assert found == [prefix, plain, in_tenant, *inside]


# -- short queries -------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["de", "e"])
def test_short_queries_match_beginnings_only(acme, clock, query):
    add_user(clock, acme, "someone@acme.example", "Dexter Anderson")  # "de" inside the name
    add_user(clock, acme, "dexter@acme.example", "Dexter")

    found = search(query)

    assert found.scope == "short"
    assert emails(found) == (["dexter@acme.example"] if query == "de" else [])


def test_three_characters_reach_inside_names(acme, clock):
    add_user(clock, acme, "someone@acme.example", "Dexter Anderson")

    found = search("der")

    assert found.scope == "all"
    assert emails(found) == ["someone@acme.example"]


# -- wildcards are literal -----------------------------------------------------------------------


@pytest.fixture
def wildcard_people(acme, clock):
    add_user(clock, acme, "%percent@acme.example", "Per Cent")
    add_user(clock, acme, "_under@acme.example", "Under Score")
    add_user(clock, acme, "100%_sure@acme.example", "Quite Sure")
    add_user(clock, acme, "1000sure@acme.example", "Rather Sure")
    add_user(clock, acme, "slash@acme.example", "Back\\Slash")
    add_user(clock, acme, "noslash@acme.example", "BackSlash")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("%", ["%percent@acme.example"]),
        ("_", ["_under@acme.example"]),
        ("0%_s", ["100%_sure@acme.example"]),
        ("%_s", ["100%_sure@acme.example"]),
        ("k\\s", ["slash@acme.example"]),
        ("\\", []),
    ],
)
def test_wildcards_in_the_query_are_plain_characters(wildcard_people, query, expected):
    assert emails(search(query)) == expected


def test_a_double_quote_is_a_plain_character(acme, clock):
    add_user(clock, acme, "quote@acme.example", 'The "Boss" Person')
    add_user(clock, acme, "plain@acme.example", "The Boss Person")

    assert emails(search('"boss"')) == ["quote@acme.example"]


def test_escape_like_and_after_prefix():
    assert escape_like("a%b_c\\d") == "a\\%b\\_c\\\\d"
    assert after_prefix("abc") == "abd"
    assert after_prefix("a\U0010ffff") == "b"
    assert after_prefix("\U0010ffff") is None
    assert after_prefix("a\ud7ff") == "a\ue000"


# -- pagination ----------------------------------------------------------------------------------


def test_pages_of_fifty(ctx, clock):
    bulk = add_tenant(clock, "bulk", "Bulk Buyers", "bulk.example")
    for n in range(120):
        add_user(clock, bulk, f"member{n:03}@bulk.example", f"Member {n}")

    pages = [search("member", page=n) for n in (1, 2, 3, 4)]

    assert [len(p.results) for p in pages] == [50, 50, 20, 0]
    assert [p.has_next for p in pages] == [True, True, False, False]
    assert [p.has_prev for p in pages] == [False, True, True, True]
    listed = [email for p in pages for email in emails(p)]
    assert listed == [f"member{n:03}@bulk.example" for n in range(120)]


def test_pages_across_ranks_list_everyone_once_in_order(ctx, clock):
    owl = add_tenant(clock, "owl", "Owl", "owl.example")
    elsewhere = add_tenant(clock, "else", "Elsewhere", "else.example")
    add_user(clock, elsewhere, "owl")  # exact
    for n in range(5):
        add_user(clock, elsewhere, f"owl{n}@else.example")  # prefix
        add_user(clock, owl, f"u{n}@owl.example")  # tenant
        add_user(clock, elsewhere, f"x{n}@else.example", f"Barn Owl {n}")  # substring (name)
    everyone = emails(search("owl", per_page=100))
    assert len(everyone) == 16

    paged = []
    for n in range(1, 5):
        page = search("owl", page=n, per_page=5)
        paged += emails(page)
        assert page.has_next == (n < 4)

    assert paged == everyone
    assert everyone[0] == "owl"


def test_page_outside_the_range_is_refused(acme):
    with pytest.raises(InvalidInput):
        search_users("alice", page=0)
    with pytest.raises(InvalidInput):
        search_users("alice", page=MAX_PAGE + 1)


# -- what a result holds -------------------------------------------------------------------------


def test_results_hold_no_password_hash_or_secret(acme, clock):
    found = search("alice")

    fields = {field.name for field in dataclasses.fields(UserResult)}
    assert fields == {
        "id",
        "name",
        "email",
        "tenant_name",
        "tenant_domain",
        "active",
        "last_sign_in_at",
        "access",
    }
    assert found.results
    assert "hash" not in repr(found)
    assert all(not isinstance(value, User) for value in dataclasses.asdict(found.results[0]).values())


def test_the_password_hash_is_not_even_read(acme, app, clock):
    add_user(clock, acme, "hashcheck@acme.example")
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert emails(search("hashcheck@acme.example")) == ["hashcheck@acme.example"]
    finally:
        event.remove(db.engine, "before_cursor_execute", record)

    assert statements
    assert not [s for s in statements if "password_hash" in s]


def test_a_result_carries_tenant_and_access_state(acme, clock):
    opted_in = add_user(
        clock,
        acme,
        "optin@acme.example",
        "Opted In",
        support_access_opt_in_until=clock.now() + timedelta(hours=8),
        last_sign_in_at=clock.now() - timedelta(days=1),
    )
    add_user(clock, acme, "gone@acme.example", "Gone Away", active=False)

    found = {r.email: r for r in search("acme", now=clock.now()).results}

    first = found["optin@acme.example"]
    assert first.id == opted_in
    assert (first.tenant_name, first.tenant_domain) == ("Acme", "acme.localhost")
    assert first.last_sign_in_at == clock.now() - timedelta(days=1)
    assert first.access.code == "opted_in"
    assert first.access.label.startswith("opted in until ")
    assert found["alice@acme.example"].access.label == "code needed"
    assert found["gone@acme.example"].access.label == "inactive"
    assert found["gone@acme.example"].active is False


def test_access_state_follows_the_tenant_and_the_global_switch(ctx, tenants, clock):
    db.session.get(Tenant, tenants["globex"]).impersonation_enabled = False
    db.session.commit()

    assert search("gina@globex.example").results[0].access.label == "impersonation off for this tenant"

    db.session.add(Setting(key="impersonation_enabled", value="off", updated_at=clock.now()))
    db.session.commit()
    assert search("alice@acme.example").results[0].access.code == "switched_off"


# -- the index follows the data ------------------------------------------------------------------


def test_renamed_and_deleted_users_are_found_by_their_current_name_only(acme, clock):
    user_id = add_user(clock, acme, "renamed@acme.example", "Original Name")
    assert emails(search("original")) == ["renamed@acme.example"]

    user = db.session.get(User, user_id)
    user.name = "Different Name"
    user.email = "moved@acme.example"
    db.session.commit()
    assert emails(search("original")) == []
    assert emails(search("renamed")) == []
    assert emails(search("different")) == ["moved@acme.example"]
    assert emails(search("oved@acm")) == ["moved@acme.example"]

    user.last_sign_in_at = clock.now()  # a column the index does not hold
    db.session.commit()
    assert emails(search("different")) == ["moved@acme.example"]

    db.session.delete(db.session.get(User, user_id))
    db.session.commit()
    assert emails(search("different")) == []
    assert db.session.scalar(select(User.id).where(User.id == user_id)) is None


# -- refused and empty queries -------------------------------------------------------------------


@pytest.mark.parametrize("query", ["", "   ", None, "\t "])
def test_an_empty_query_searches_nothing(ctx, app, query):
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        found = search_users(query)
    finally:
        event.remove(db.engine, "before_cursor_execute", record)

    assert not found.searched
    assert found.results == ()
    assert statements == []


@pytest.mark.parametrize(
    "query",
    [
        "a" * 201,
        "alice\x00",
        "al\x07ice",
        "ali\u202ece",  # right-to-left override
        "ali\ud800ce",  # a lone surrogate
        "ali\ufffd",
    ],
)
def test_unreadable_or_huge_queries_are_refused(ctx, query):
    with pytest.raises(InvalidInput):
        search_users(query)


def test_two_hundred_characters_are_fine(acme):
    assert search("a" * 200).results == ()


def test_unicode_text_is_searchable(acme, clock):
    add_user(clock, acme, "jose@acme.example", "José Müller-Lüdenscheidt")

    assert emails(search("müller")) == ["jose@acme.example"]
    assert emails(search("jos")) == ["jose@acme.example"]


# -- PostgreSQL: round trips and the trigram index (these run on PostgreSQL only) -----------------


def _executions_of(call) -> list[tuple[str, dict]]:
    """The statements `call` sends, with their parameters."""
    executions: list[tuple[str, dict]] = []

    def record(conn, cursor, statement, parameters, *args):
        executions.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        call()
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
    return executions


def _statements_of(call) -> list[str]:
    return [statement for statement, _ in _executions_of(call)]


@postgresql_only
def test_postgres_a_page_of_prefix_matches_is_one_round_trip(acme, clock):
    # Ranks 1 and 2 and the tenant lookup of rank 3 share one statement (MEASURED.md: a round trip
    # costs more than most of these queries).
    for n in range(55):
        add_user(clock, acme, f"rtt{n:02}@acme.example", f"Round Trip {n}")

    statements = _statements_of(lambda: search_module.match_users("rtt"))

    assert len(statements) == 1


@postgresql_only
def test_postgres_a_rare_substring_takes_three_round_trips(acme, clock, monkeypatch):
    monkeypatch.setattr(search_module, "HEAD_ROWS", 5)
    for n in range(20):
        add_user(clock, acme, f"plain{n}@acme.example", f"Plain {n}")
    wanted = add_user(clock, acme, "someone@acme.example", "Ann Quuxley", **in_bucket(3, 1))

    statements = _statements_of(lambda: search_module.match_users("quux"))

    assert search_module.match_users("quux").ids == [wanted]
    # Ranks 1-2 and tenants; the head and the probe, which find nothing; the index beyond them.
    assert len(statements) == 3
    assert "generate_series" not in statements[2]


@postgresql_only
def test_postgres_users_within_one_bucket_take_two_round_trips(acme, clock, monkeypatch):
    monkeypatch.setattr(search_module, "HEAD_ROWS", 5)
    for n in range(20):
        add_user(clock, acme, f"plain{n}@acme.example", f"Plain {n}")
    wanted = add_user(clock, acme, "someone@acme.example", "Ann Quuxley")

    statements = _statements_of(lambda: search_module.match_users("quux"))

    assert search_module.match_users("quux").ids == [wanted]
    assert len(statements) == 2  # ranks 1-2 and tenants; the head and the probe, which read everyone


@postgresql_only
def test_postgres_the_bucket_index_serves_the_substring_statements(acme):
    # The statements must build the very expressions migration 0006 indexed (its bucket of ids
    # included: ID_BUCKET), or PostgreSQL reads the whole table for every bucket and every rare needle.
    # Enough users, spread over buckets, that the planner weighs its choices as on a real table.
    db.session.execute(
        text(
            "INSERT INTO tenant_user (id, tenant_id, email, name, password_hash, active, created_at) "
            "SELECT n * 37, :tenant, 'user' || n || '@acme.example', 'User ' || n, 'x', true, now() "
            "FROM generate_series(1, 5000) AS n"
        ),
        {"tenant": acme},
    )
    db.session.execute(text("ANALYZE tenant_user"))
    db.session.execute(text("SET LOCAL enable_seqscan = off"))
    params = {"pattern": "%quux%", "needle": "quux", "upper": "quuy", "user_id": 0, "tenant_ids": []}
    params |= {"first_bucket": 1, "last_bucket": 2, "ask_index": True, "beyond": 3 * ID_BUCKET, "limit": 51}
    raw = db.session.connection().connection.dbapi_connection
    plans = []
    for statement in (POSTGRES_SUBSTRING_BUCKETS, POSTGRES_SUBSTRING_INDEX):
        compiled = str(statement.compile(dialect=db.engine.dialect))
        plans.append("\n".join(row[0] for row in raw.execute("EXPLAIN " + compiled, params)))
    db.session.rollback()

    buckets, index = plans
    assert buckets.count("Bitmap Index Scan on ix_search_user_bucket_trgm") == 2  # a bucket, then beyond
    assert f"(id / {ID_BUCKET}) = b.n" in buckets
    assert "Bitmap Index Scan on ix_search_user_bucket_trgm" in index


@postgresql_only
def test_postgres_a_small_table_is_read_whole_by_the_head(acme, clock):
    # Fewer users than the head reads: no probe, no second statement.
    wanted = add_user(clock, acme, "someone@acme.example", "Ann Quuxley")

    statements = _statements_of(lambda: search_module.match_users("quux"))

    assert search_module.match_users("quux").ids == [wanted]
    assert len(statements) == 2
