"""The SQL of the user search (services/search.py), built once per database.

Every statement takes its values as bound parameters, so it is built and compiled once and only
executed per search (building SQLAlchemy statements per call cost more than running them).
Parameters: `needle` (the lower-cased query), `upper` (the end of the email-prefix range), `user_id`
(0 when the query is not an id), `tenant_ids`, `limit`; and per database, `expression` (an FTS5
query) and `after` (a rowid) on SQLite, `pattern` (LIKE) and `head_rows` on PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
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

from impersonator.models import Tenant, TenantDomain, User

USERS = User.__table__
_FTS = table("search_user_fts", column("rowid"))


@dataclass(frozen=True)
class SearchStatements:
    """One database's statements; see the module docstring for their parameters."""

    exact_then_prefix: Select  # rows (marker, email, id): marker 0 exact, 1 prefix
    tenants: Select  # tenant ids whose name, slug or domain equals or starts with the needle
    tenant_users: Select  # ids of one tenant's users, by email, minus exact and prefix matches
    substring: Select  # SQLite: (id, email, name) FTS5 candidates; PostgreSQL: ids, via the GIN index
    substring_head: Select | None  # PostgreSQL: ids among the `head_rows` lowest ids


def _exact(rows) -> ColumnElement[bool]:
    return or_(rows.email == bindparam("needle"), rows.id == bindparam("user_id"))


def _prefix(rows, postgres: bool) -> ColumnElement[bool]:
    # An explicit range rather than LIKE 'abc%': no wildcard to escape, an index range on both
    # databases, and PostgreSQL no longer misjudges it into a sequential scan (MEASURED.md).
    if postgres:
        return and_(rows.email.op("~>=~")(bindparam("needle")), rows.email.op("~<~")(bindparam("upper")))
    return and_(rows.email >= bindparam("needle"), rows.email < bindparam("upper"))


def _not_earlier(rows, postgres: bool) -> ColumnElement[bool]:
    """Not a user an earlier rank lists: exact, prefix, or in a matching tenant."""
    tenants = rows.tenant_id.in_(bindparam("tenant_ids", expanding=True))
    return not_(or_(_exact(rows), _prefix(rows, postgres), tenants))


def _exact_then_prefix(postgres: bool) -> Select:
    c = USERS.c
    # Byte order on both databases: SQLite's BINARY collation, PostgreSQL's text_pattern_ops index.
    order = [text("tenant_user.email USING ~<~") if postgres else c.email, c.id]
    parts = []
    for marker, condition in ((0, _exact(c)), (1, and_(_prefix(c, postgres), not_(_exact(c))))):
        rows = select(c.id, c.email).where(condition).order_by(*order).limit(bindparam("limit")).subquery()
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


def _tenant_users(postgres: bool) -> Select:
    c = USERS.c
    return (
        select(c.id)
        .where(c.tenant_id == bindparam("tenant_id"), not_(or_(_exact(c), _prefix(c, postgres))))
        .order_by(c.email)  # the (tenant_id, email) index: unique, so email alone is a total order
        .limit(bindparam("limit"))
    )


def _like_needle(rows) -> ColumnElement[bool]:
    pattern = bindparam("pattern")
    return or_(func.lower(rows.name).like(pattern, escape="\\"), rows.email.like(pattern, escape="\\"))


def _postgres_substring() -> tuple[Select, Select]:
    c = USERS.c
    columns = (c.id, c.tenant_id, c.email, c.name)
    head = select(*columns).order_by(c.id).limit(bindparam("head_rows")).subquery("head")
    in_head = (
        select(head.c.id)
        .where(_like_needle(head.c), _not_earlier(head.c, True))
        .order_by(head.c.id)
        .limit(bindparam("limit"))
    )
    # MATERIALIZED fences the trigram search from the ORDER BY … LIMIT outside it: otherwise the
    # planner may walk the primary key and filter, reading the whole table for a rare needle.
    candidates = select(*columns).where(_like_needle(c)).cte("candidates").prefix_with("MATERIALIZED")
    via_index = (
        select(candidates.c.id)
        .where(_not_earlier(candidates.c, True))
        .order_by(candidates.c.id)
        .limit(bindparam("limit"))
    )
    return via_index, in_head


def _sqlite_substring() -> Select:
    c = USERS.c
    return (
        select(c.id, c.email, c.name)
        .select_from(_FTS.join(USERS, c.id == _FTS.c.rowid))
        .where(text("search_user_fts MATCH :expression"), _FTS.c.rowid > bindparam("after"))
        .where(_not_earlier(c, False))
        .order_by(_FTS.c.rowid)  # FTS5 yields rowid order itself: no sort, and LIMIT stops it early
        .limit(bindparam("limit"))
    )


def _build(postgres: bool) -> SearchStatements:
    via_index, in_head = _postgres_substring() if postgres else (_sqlite_substring(), None)
    return SearchStatements(
        exact_then_prefix=_exact_then_prefix(postgres),
        tenants=_tenants(),
        tenant_users=_tenant_users(postgres),
        substring=via_index,
        substring_head=in_head,
    )


_BUILT = {"sqlite": _build(postgres=False), "postgresql": _build(postgres=True)}


def statements_for(dialect: str) -> SearchStatements:
    """The statements for a database by its SQLAlchemy dialect name."""
    try:
        return _BUILT[dialect]
    except KeyError as exc:
        raise NotImplementedError(f"the user search has no SQL for the {dialect} database") from exc
