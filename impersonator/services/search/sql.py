"""The SQL of the user search (services/search/users.py), built once per database.

Every statement takes its values as bound parameters, so it is built and compiled once and only
executed per search (building SQLAlchemy statements per call cost more than running them).
Parameters: `needle` (the lower-cased query), `upper` (the end of the email-prefix range), `user_id`
(0 when the query is not an id), `tenant_ids` (rank 3's tenants, in rank order), `limit`.

SQLite runs the ranks one statement at a time (it has no round trips to save); its FTS5 statement
also takes `expression` and `after` (a rowid).

PostgreSQL, where every statement is a round trip (MEASURED.md), folds them: ranks 1 and 2 come with
rank 3's tenants, every matching tenant's users come in one statement, and rank 4 comes in one or
two, reading in id order, bucket by bucket of ids, or asking the trigram index, as search.py's
`_substring_postgres` decides. Each statement is small on purpose: one statement for a whole page
planned in over a millisecond, and psycopg keeps a statement prepared only while its text stays the
same (and, since extensions.py ends a transaction that only read with COMMIT, across requests).
They also take `prefix_pattern` and `pattern` (LIKE, escaped), `head_rows`, `first_bucket` and
`last_bucket` (buckets of ids), `beyond` (an id) and `ask_index`.

Both read a page's rows by `ids`: a list SQLite expands into one parameter per id, one array for
PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Integer,
    Select,
    and_,
    any_,
    bindparam,
    case,
    column,
    func,
    literal,
    not_,
    or_,
    select,
    table,
    text,
    union_all,
)

from impersonator.models import Setting, Tenant, TenantDomain, User
from impersonator.services.admin.settings import IMPERSONATION_ENABLED

USERS = User.__table__
_FTS = table("search_user_fts", column("rowid"))


@dataclass(frozen=True)
class SqliteStatements:
    """SQLite's statements, one per rank; see the module docstring for their parameters."""

    exact_then_prefix: Select  # rows (marker, email, id): marker 0 exact, 1 prefix
    tenants: Select  # tenant ids whose name, slug or domain equals or starts with the needle
    tenant_users: Select  # ids of one tenant's users, by email, minus exact and prefix matches
    substring: Select  # (id, email, name) FTS5 candidates, in rowid order


# -- Both databases: the rows of a page -----------------------------------------------------------

_TENANTS = Tenant.__table__
_DOMAINS = TenantDomain.__table__
_SETTINGS = Setting.__table__

# The rows of a page's `ids`, with what the console shows of each user and of its tenant, and the
# global switch, read as settings.impersonation_enabled() reads it (on unless its value is "off"), in
# the same round trip. The password hash is never even read.
_RESULT_ROWS = select(
    USERS.c.id,
    USERS.c.name,
    USERS.c.email,
    USERS.c.active,
    USERS.c.last_sign_in_at,
    USERS.c.support_access_opt_in_until,
    USERS.c.approve_each_request,
    _TENANTS.c.name.label("tenant_name"),
    _TENANTS.c.impersonation_enabled,
    _TENANTS.c.access_policy,
    _TENANTS.c.users_choose_approval,
    select(_DOMAINS.c.domain)
    .where(_DOMAINS.c.tenant_id == _TENANTS.c.id)
    .order_by(_DOMAINS.c.id)
    .limit(1)
    .scalar_subquery()
    .label("tenant_domain"),
    select(_SETTINGS.c.value)
    .where(_SETTINGS.c.key == IMPERSONATION_ENABLED)
    .scalar_subquery()
    .label("switch_value"),
).join(_TENANTS, _TENANTS.c.id == USERS.c.tenant_id)
RESULT_ROWS = {
    # SQLite: `IN (?, ?, …)`, one parameter an id.
    "sqlite": _RESULT_ROWS.where(USERS.c.id.in_(bindparam("ids", expanding=True))),
    # PostgreSQL: one array parameter, so the statement's text is the same for any page: SQLAlchemy
    # renders no parameters per id and psycopg keeps it prepared (a page's 50 rendered parameters
    # cost more than the rest of the statement).
    "postgresql": _RESULT_ROWS.where(USERS.c.id == any_(bindparam("ids", type_=ARRAY(Integer)))),
}


# -- SQLite: one statement per rank ----------------------------------------------------------------


def _exact(rows) -> ColumnElement[bool]:
    return or_(rows.email == bindparam("needle"), rows.id == bindparam("user_id"))


def _prefix(rows) -> ColumnElement[bool]:
    # An explicit range rather than LIKE 'abc%': no wildcard to escape, and an index range.
    return and_(rows.email >= bindparam("needle"), rows.email < bindparam("upper"))


def _not_earlier(rows) -> ColumnElement[bool]:
    """Not a user an earlier rank lists: exact, prefix, or in a matching tenant."""
    tenants = rows.tenant_id.in_(bindparam("tenant_ids", expanding=True))
    return not_(or_(_exact(rows), _prefix(rows), tenants))


def _exact_then_prefix() -> Select:
    c = USERS.c
    parts = []
    for marker, condition in ((0, _exact(c)), (1, and_(_prefix(c), not_(_exact(c))))):
        # The BINARY collation: byte order, which is code point order.
        rows = select(c.id, c.email).where(condition).order_by(c.email, c.id).limit(bindparam("limit"))
        rows = rows.subquery()
        parts.append(select(literal(marker).label("marker"), rows.c.email, rows.c.id))
    return union_all(*parts)


def _tenants() -> Select:
    fields = (func.lower(Tenant.name), func.lower(Tenant.slug), func.lower(TenantDomain.domain))
    exact = or_(*(field == bindparam("needle") for field in fields))
    return (
        select(Tenant.id)
        .outerjoin(TenantDomain, TenantDomain.tenant_id == Tenant.id)
        .where(or_(*(field.like(bindparam("pattern"), escape="\\") for field in fields)))
        .group_by(Tenant.id, Tenant.name)
        .order_by(func.min(case((exact, 0), else_=1)), func.lower(Tenant.name), Tenant.id)
    )


def _tenant_users() -> Select:
    c = USERS.c
    return (
        select(c.id)
        .where(c.tenant_id == bindparam("tenant_id"), not_(or_(_exact(c), _prefix(c))))
        .order_by(c.email)  # the (tenant_id, email) index: unique, so email alone is a total order
        .limit(bindparam("limit"))
    )


def _sqlite_substring() -> Select:
    c = USERS.c
    return (
        select(c.id, c.email, c.name)
        .select_from(_FTS.join(USERS, c.id == _FTS.c.rowid))
        .where(text("search_user_fts MATCH :expression"), _FTS.c.rowid > bindparam("after"))
        .where(_not_earlier(c))
        .order_by(_FTS.c.rowid)  # FTS5 yields rowid order itself: no sort, and LIMIT stops it early
        .limit(bindparam("limit"))
    )


SQLITE = SqliteStatements(
    exact_then_prefix=_exact_then_prefix(),
    tenants=_tenants(),
    tenant_users=_tenant_users(),
    substring=_sqlite_substring(),
)


# -- PostgreSQL: few round trips, small statements --------------------------------------------------

# Ranks 1 and 2, exact (kind 0) then prefix (kind 1), each part walking the (email text_pattern_ops,
# id) index in byte order; an explicit range, not LIKE 'abc%': no wildcard to escape, and the planner
# no longer misjudges it into a sequential scan (MEASURED.md).
_EXACT_THEN_PREFIX = """
(SELECT 0 AS kind, u.email, 0 AS position, u.id FROM tenant_user u
 WHERE u.email = :needle OR u.id = :user_id
 ORDER BY u.email USING ~<~, u.id LIMIT :limit)
UNION ALL
(SELECT 1, u.email, 0, u.id FROM tenant_user u
 WHERE u.email ~>=~ :needle AND u.email ~<~ :upper AND NOT (u.email = :needle OR u.id = :user_id)
 ORDER BY u.email USING ~<~, u.id LIMIT :limit)"""
# In the same round trip, when the query can name one, the tenants of rank 3 (kind 2, in rank
# order): name, slug or domain equal to the needle first, then those starting with it.
_TENANT_LOOKUP = r"""
UNION ALL
SELECT 2, '', row_number() OVER (
           ORDER BY min(CASE WHEN lower(t.name) = :needle OR lower(t.slug) = :needle
                             OR lower(d.domain) = :needle THEN 0 ELSE 1 END), lower(t.name), t.id), t.id
FROM tenant t LEFT JOIN tenant_domain d ON d.tenant_id = t.id
WHERE lower(t.name) LIKE :prefix_pattern ESCAPE '\' OR lower(t.slug) LIKE :prefix_pattern ESCAPE '\'
   OR lower(d.domain) LIKE :prefix_pattern ESCAPE '\'
GROUP BY t.id, t.name"""
# Rows (kind, email, position, id), which sort into rank order; by whether tenants are looked up.
POSTGRES_FIRST = {True: text(_EXACT_THEN_PREFIX + _TENANT_LOOKUP), False: text(_EXACT_THEN_PREFIX)}

# Users that ranks 1-2 list (exact or prefix).
_EARLIER = "u.email = :needle OR u.id = :user_id OR (u.email ~>=~ :needle AND u.email ~<~ :upper)"

# Rank 3: the users of the tenants found (`tenant_ids`, in rank order), each tenant's by email (the
# unique (tenant_id, email) index), in one round trip however many tenants matched.
POSTGRES_TENANT_USERS = text(f"""
SELECT u.id FROM unnest(CAST(:tenant_ids AS integer[])) WITH ORDINALITY AS t(id, position)
CROSS JOIN LATERAL (
    SELECT u.id, u.email FROM tenant_user u
    WHERE u.tenant_id = t.id AND NOT ({_EARLIER})
    ORDER BY u.email LIMIT :limit
) u
ORDER BY t.position, u.email LIMIT :limit
""")  # noqa: S608  (fixed text; every value is a bound parameter)

# Rank 4 matches a substring of the lower-cased name or of the email: one string that the GIN
# trigram index of migration 0006 covers (the very same expression). A query holds no control
# character (validation refuses them), so no match spans the newline between the two. Users of the
# ranks before are left out.
_SUBSTRING = (
    r"(lower(u.name) || E'\n' || u.email) LIKE :pattern ESCAPE '\'"
    f" AND NOT ({_EARLIER} OR u.tenant_id = ANY(CAST(:tenant_ids AS integer[])))"
)

# Rank 4 is read in id order, one bucket of `ID_BUCKET` ids after another. A trigram index yields
# every match before ORDER BY ... LIMIT applies, so asked for a page it pays for every match in the
# table; migration 0006's index keys each trigram with the bucket of its row (`id / ID_BUCKET`, through
# btree_gin), so it finds the matches of one bucket on their own, for the price of that bucket's (and
# about 0.1 ms to walk the bucket's key; the index keeps no pending list, which every read, so every
# bucket, would scan whole: migration 0006). No id range goes with the bucket: given one, the planner
# reads the bucket of a long needle row by row through the primary key instead (its estimate of the
# index grows with every trigram). A needle with no trigram at all (punctuation only) cannot be read by
# bucket: its probe scans the table, as asking the index for it does.
ID_BUCKET = 16384  # the literal in migration 0006's index expression: the two must stay equal


def _bucket_matches(bucket: str, after: str | None = None) -> str:
    """SQL: the matches in the bucket `bucket` (an SQL integer), above the id `after` if given, by id."""
    above = f"u.id > {after} AND " if after else ""
    return f"""SELECT u.id FROM tenant_user u
    WHERE (u.id / {ID_BUCKET}) = {bucket} AND {above}{_SUBSTRING}
    ORDER BY u.id"""  # noqa: S608  (fixed text; every value is a bound parameter)


# Rank 4 in one or two statements (search.py's _substring_postgres decides). Each is a UNION ALL of
# parts that read disjoint id ranges in id order; UNION ALL runs its parts in order and the outer
# LIMIT stops it, so a part runs only when the ones before it fell short of the page.
#
# The first: the `head_rows` lowest ids read in id order (a needle found in many names fills the page
# here, cheaper than through the index), then the rest of the bucket of the last of them, through the
# index (the probe). Rows (kind, id): first that last id (kind 0; past every id when there are fewer
# users) and the highest id (kind 1), which place the second statement, then the matches (kind 2).
POSTGRES_SUBSTRING_HEAD = text(f"""
WITH head AS (SELECT (SELECT id FROM tenant_user ORDER BY id OFFSET :head_rows - 1 LIMIT 1) AS last_id)
SELECT 0 AS kind, coalesce(h.last_id, 2147483647) AS id FROM head h
UNION ALL
SELECT 1, coalesce((SELECT max(id) FROM tenant_user), 0)
UNION ALL
(SELECT 2, u.id FROM (SELECT id, tenant_id, email, name FROM tenant_user ORDER BY id LIMIT :head_rows) u
 WHERE {_SUBSTRING} ORDER BY u.id LIMIT :limit)
UNION ALL
(SELECT 2, m.id FROM head h
 CROSS JOIN LATERAL ({_bucket_matches(f"(h.last_id / {ID_BUCKET})", "h.last_id")}) m
 LIMIT :limit)
LIMIT :limit + 2
""")  # noqa: S608

# The second, beyond the probe, when the page needs more. Every match the trigram index finds from
# the id `beyond` on, unless `ask_index` is false (the buckets read before reach the highest id):
# MATERIALIZED keeps the index from being combined with the primary key (a bitmap of every id beyond),
# and keeps the planner from walking the primary key instead and reading the whole table for a rare
# needle.
_INDEX_MATCHES = rf"""(WITH candidates AS MATERIALIZED (
     SELECT u.id, u.tenant_id, u.email FROM tenant_user u
     WHERE (lower(u.name) || E'\n' || u.email) LIKE :pattern ESCAPE '\'
 )
 SELECT u.id FROM candidates u
 WHERE CAST(:ask_index AS boolean) AND u.id >= :beyond
   AND NOT ({_EARLIER} OR u.tenant_id = ANY(CAST(:tenant_ids AS integer[])))
 ORDER BY u.id LIMIT :limit)"""  # noqa: S608
POSTGRES_SUBSTRING_INDEX = text(_INDEX_MATCHES)
# The same after reading the buckets `first_bucket` to `last_bucket`, a nested loop over
# generate_series taking them in order (a LATERAL subquery with an ORDER BY is never flattened into a
# join). A statement of its own: planning the buckets costs a rare needle more than reading none.
POSTGRES_SUBSTRING_BUCKETS = text(f"""
(SELECT m.id
 FROM generate_series(CAST(:first_bucket AS integer), CAST(:last_bucket AS integer)) AS b(n)
 CROSS JOIN LATERAL ({_bucket_matches("b.n")}) m
 LIMIT :limit)
UNION ALL
{_INDEX_MATCHES}
LIMIT :limit
""")  # noqa: S608


def sqlite_statements(dialect: str) -> SqliteStatements:
    """SQLite's statements; any other database but PostgreSQL has none."""
    if dialect != "sqlite":
        raise NotImplementedError(f"the user search has no SQL for the {dialect} database")
    return SQLITE
