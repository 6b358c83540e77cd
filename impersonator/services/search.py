"""The console's user search: one box across all tenants (issue 3, item 1).

A query matches, in this order of rank:

1. exact: the email address, or the user id when the query is all digits;
2. email prefix (an explicit byte range, so both databases walk an index in order);
3. tenant: every user of a tenant whose name, slug or domain equals or starts with the query;
4. substring of the email or the name, only for queries of `MIN_SUBSTRING_CHARS` or more (a
   trigram index cannot serve fewer): FTS5 `trigram` on SQLite, `pg_trgm` GIN on PostgreSQL.

Each rank excludes the users of the ranks before it, so a user is listed once, and each is read in
an order an index gives (ranks 1 to 3 by email then id, rank 4 by id): a page reads about as many rows
as it shows, and only as many ranks as it needs. The indexes come from migration 0003.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, case, column, func, not_, or_, select, table, text
from sqlalchemy.orm import joinedload, load_only

from impersonator import clock
from impersonator.extensions import db
from impersonator.models import Tenant, TenantDomain, User
from impersonator.services import settings
from impersonator.services.errors import InvalidInput
from impersonator.services.policy import AccessState, access_state
from impersonator.services.validation import clean_text

MAX_QUERY_CHARS = 200
MIN_SUBSTRING_CHARS = 3
PER_PAGE = 50
MAX_PAGE = 200  # 10,000 results: past that, a narrower query is the better tool
MAX_USER_ID = 2**31 - 1  # tenant_user.id is a 32-bit integer on PostgreSQL

_FTS = table("search_user_fts", column("rowid"))
_FTS_MATCH = text("search_user_fts MATCH :phrase")
_EMAIL_BYTE_ORDER = text("tenant_user.email USING ~<~")  # PostgreSQL: the text_pattern_ops order


@dataclass(frozen=True)
class UserResult:
    """One row of the results: what the console shows, and nothing secret."""

    id: int
    name: str
    email: str
    tenant_name: str
    tenant_domain: str | None
    active: bool
    last_sign_in_at: datetime | None
    access: AccessState


@dataclass(frozen=True)
class SearchPage:
    """A page of results; `query` is the cleaned query, empty when nothing was searched."""

    query: str
    results: tuple[UserResult, ...]
    page: int
    per_page: int
    has_next: bool
    substring: bool  # did the query also match inside names and emails?

    @property
    def searched(self) -> bool:
        return bool(self.query)

    @property
    def has_prev(self) -> bool:
        return self.page > 1


def clean_query(query: str | None) -> str:
    """The query as searched: trimmed, NFC; refused when too long or unreadable."""
    return clean_text(query, "The search", max_length=MAX_QUERY_CHARS, required=False)


def search_users(
    query: str | None, *, page: int = 1, per_page: int = PER_PAGE, now: datetime | None = None
) -> SearchPage:
    """Users of every tenant matching `query`, best matches first, one page of `per_page`."""
    text_query = clean_query(query)
    if not 1 <= page <= MAX_PAGE:
        raise InvalidInput("bad_page", f"Choose a page between 1 and {MAX_PAGE}, or narrow the search.")
    if not 1 <= per_page <= 100:
        raise ValueError("per_page must be between 1 and 100")
    if not text_query:
        return SearchPage("", (), 1, per_page, has_next=False, substring=False)
    matcher = _Matcher(text_query, db.session.get_bind().dialect.name)
    ids = _page_of_ids(matcher.ranks(), skip=(page - 1) * per_page, want=per_page + 1)
    results = _results(ids[:per_page], now or clock.now())
    return SearchPage(
        text_query,
        results,
        page,
        per_page,
        has_next=len(ids) > per_page,
        substring=matcher.substring,
    )


# A rank reads the ids of its users, in its own order, up to a limit.
Rank = Callable[[int], list[int]]


def _page_of_ids(ranks: list[Rank], *, skip: int, want: int) -> list[int]:
    """Walk the ranks in order, skipping `skip` ids, and collect up to `want` more."""
    ids: list[int] = []
    for rank in ranks:
        found = rank(skip + want - len(ids))
        if len(found) <= skip:
            skip -= len(found)
            continue
        ids.extend(found[skip:])
        skip = 0
        if len(ids) >= want:
            break
    return ids[:want]


def escape_like(value: str) -> str:
    """`value` with the LIKE wildcards and the escape character itself made literal (ESCAPE '\\')."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def after_prefix(prefix: str) -> str | None:
    """The smallest string greater than every string starting with `prefix` (code point order)."""
    chars = list(prefix)
    while chars:
        code = ord(chars[-1]) + 1
        if code == 0xD800:  # surrogates are not text: skip to the next valid code point
            code = 0xE000
        if code <= 0x10FFFF:
            chars[-1] = chr(code)
            return "".join(chars)
        chars.pop()
    return None


class _Matcher:
    """The SQL of each rank for one query on one database."""

    def __init__(self, query: str, dialect: str) -> None:
        self.needle = query.lower()
        self.postgres = dialect == "postgresql"
        self.substring = len(self.needle) >= MIN_SUBSTRING_CHARS
        digits = query.isascii() and query.isdigit()
        self.user_id = int(query) if digits and 0 < int(query) <= MAX_USER_ID else None

    def ranks(self) -> list[Rank]:
        """The ranks this query can match, best first."""
        exact, prefix = self._exact(), self._prefix()
        ranks: list[Rank] = [
            self._reader(exact, self._email_order()),
            self._reader(and_(prefix, not_(exact)), self._email_order()),
        ]
        tenants = self._tenants()
        # One rank per tenant, so each reads its users in the order of the (tenant_id, email) index.
        ranks += [
            self._reader(and_(User.tenant_id == tenant_id, not_(or_(exact, prefix))), [User.email])
            for tenant_id in tenants
        ]
        if self.substring:
            earlier = or_(exact, prefix, User.tenant_id.in_(tenants)) if tenants else or_(exact, prefix)
            ranks.append(self._substring_reader(not_(earlier)))
        return ranks

    def _exact(self) -> ColumnElement[bool]:
        condition = User.email == self.needle
        return or_(condition, User.id == self.user_id) if self.user_id else condition

    def _prefix(self) -> ColumnElement[bool]:
        # An explicit range rather than LIKE 'abc%': no wildcard to escape, an index range on both
        # databases, and PostgreSQL no longer misjudges it into a sequential scan (MEASURED.md).
        upper = after_prefix(self.needle)
        if self.postgres:
            lower_bound = User.email.op("~>=~")(self.needle)
            return and_(lower_bound, User.email.op("~<~")(upper)) if upper else lower_bound
        return and_(User.email >= self.needle, User.email < upper) if upper else User.email >= self.needle

    def _email_order(self) -> list:
        # Byte order on both databases: SQLite's BINARY collation, PostgreSQL's text_pattern_ops.
        return [_EMAIL_BYTE_ORDER if self.postgres else User.email, User.id]

    def _tenants(self) -> list[int]:
        """Tenants whose name, slug or domain equals or starts with the query: exact ones first."""
        pattern = escape_like(self.needle) + "%"
        fields = (func.lower(Tenant.name), func.lower(Tenant.slug), func.lower(TenantDomain.domain))
        exact = or_(*(field == self.needle for field in fields))
        rows = db.session.execute(
            select(Tenant.id, func.min(case((exact, 0), else_=1)).label("exactness"), Tenant.name)
            .outerjoin(TenantDomain, TenantDomain.tenant_id == Tenant.id)
            .where(or_(*(field.like(pattern, escape="\\") for field in fields)))
            .group_by(Tenant.id, Tenant.name)
            .order_by(text("exactness"), func.lower(Tenant.name), Tenant.id)
        )
        return [row.id for row in rows]

    def _reader(self, condition: ColumnElement[bool], order: list) -> Rank:
        def read(limit: int) -> list[int]:
            return _ids(select(User.id).where(condition).order_by(*order).limit(limit))

        return read

    def _substring_reader(self, not_earlier: ColumnElement[bool]) -> Rank:
        if self.postgres:
            pattern = "%" + escape_like(self.needle) + "%"
            matches = or_(
                func.lower(User.name).like(pattern, escape="\\"), User.email.like(pattern, escape="\\")
            )
            statement = select(User.id).where(matches, not_earlier).order_by(User.id)
        else:
            # A quoted FTS5 phrase: every character literal (a '"' is doubled), and with the trigram
            # tokenizer a phrase matches exactly where the text contains it, case-insensitively.
            phrase = '"' + self.needle.replace('"', '""') + '"'
            statement = (
                select(User.id)
                .select_from(_FTS.join(User, User.id == _FTS.c.rowid))
                .where(_FTS_MATCH.bindparams(phrase=phrase), not_earlier)
                .order_by(_FTS.c.rowid)  # FTS5 yields rowid order itself: no sort, LIMIT stops early
            )

        def read(limit: int) -> list[int]:
            return _ids(statement.limit(limit))

        return read


def _ids(statement: Select) -> list[int]:
    return list(db.session.scalars(statement))


def _results(ids: list[int], now: datetime) -> tuple[UserResult, ...]:
    """The rows for `ids`, in that order. The password hash is never even read."""
    if not ids:
        return ()
    users = db.session.scalars(
        select(User)
        .options(
            load_only(
                User.id,
                User.tenant_id,
                User.name,
                User.email,
                User.active,
                User.last_sign_in_at,
                User.support_access_opt_in_until,
            ),
            joinedload(User.tenant).selectinload(Tenant.domains),
        )
        .where(User.id.in_(ids))
    ).unique()
    by_id = {user.id: user for user in users}
    switch_on = settings.impersonation_enabled()  # once per page, not once per row
    return tuple(
        UserResult(
            id=user.id,
            name=user.name,
            email=user.email,
            tenant_name=user.tenant.name,
            tenant_domain=user.tenant.primary_domain,
            active=user.active,
            last_sign_in_at=user.last_sign_in_at,
            access=access_state(user, now, switch_on=switch_on),
        )
        for user in (by_id[user_id] for user_id in ids if user_id in by_id)
    )
