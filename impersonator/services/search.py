"""The console's user search: one box across all tenants (issue 3, item 1).

A query matches, in this order of rank:

1. exact: the email address, or the user id when the query is all digits;
2. email prefix (an explicit byte range, so both databases walk an index in order);
3. tenant: every user of a tenant whose name, slug or domain equals or starts with the query;
4. substring of the name or the email, for queries of `MIN_SUBSTRING_CHARS` or more (a trigram
   index cannot serve fewer) that are not a complete email address (one is looked up, not searched
   for inside longer addresses): FTS5 `trigram` on SQLite, `pg_trgm` GIN on PostgreSQL.

Each rank excludes the users of the ranks before it, so a user is listed once, and is read in an
order an index gives (ranks 1 to 3 by email then id, rank 4 by id): a page reads about as many rows
as it shows, and only as many ranks as it needs. The indexes come from migration 0003; the figures
and the traps behind these choices are in bench/RESULTS.md and MEASURED.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from sqlalchemy import bindparam, select
from sqlalchemy.orm import contains_eager, load_only

from impersonator import clock
from impersonator.extensions import db
from impersonator.models import Tenant, TenantDomain, User
from impersonator.services import settings
from impersonator.services.errors import InvalidInput
from impersonator.services.policy import AccessState, access_state
from impersonator.services.search_sql import statements_for
from impersonator.services.validation import clean_text

MAX_QUERY_CHARS = 200
MIN_SUBSTRING_CHARS = 3
PER_PAGE = 50
MAX_PAGE = 200  # 10,000 results: past that, a narrower query is the better tool
MAX_USER_ID = 2**31 - 1  # tenant_user.id is a 32-bit integer on PostgreSQL
# PostgreSQL: rows read in id order before, or instead of, the trigram index (_substring_postgres).
FIRST_LOOK_ROWS = 2000
MAX_SCAN_ROWS = 20_000
# SQLite: longer needles are looked up by a few of their trigrams and checked here (_substring_sqlite).
LONG_NEEDLE_CHARS = 9
_CANDIDATE_BATCH = 256

_ADDRESS = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


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
    """A page of results; `query` is the cleaned query, empty when nothing was searched.

    `scope` says how far the query reached: "all" (every rank), "short" (too short to search inside
    names and emails) or "address" (a complete email address, looked up rather than searched for).
    """

    query: str
    results: tuple[UserResult, ...]
    page: int
    per_page: int
    has_next: bool
    scope: str = "all"

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
    match = match_users(query, page=page, per_page=per_page)
    if not match.query:
        return SearchPage("", (), 1, per_page, has_next=False)
    results = _results(match.ids[:per_page], now or clock.now())
    return SearchPage(
        match.query, results, page, per_page, has_next=len(match.ids) > per_page, scope=match.scope
    )


@dataclass(frozen=True)
class Match:
    """The ids of one page of results, and one more when another page follows."""

    query: str
    ids: list[int]
    scope: str


def match_users(query: str | None, *, page: int = 1, per_page: int = PER_PAGE) -> Match:
    """The search query proper (what bench/search_bench.py times): ids only, in result order."""
    text_query = clean_query(query)
    if not 1 <= page <= MAX_PAGE:
        raise InvalidInput("bad_page", f"Choose a page between 1 and {MAX_PAGE}, or narrow the search.")
    if not 1 <= per_page <= 100:
        raise ValueError("per_page must be between 1 and 100")
    if not text_query:
        return Match("", [], "all")  # no query at all: the page explains what can be searched
    matcher = _Matcher(text_query, db.session.get_bind().dialect.name)
    ids = _page_of_ids(matcher.ranks(), skip=(page - 1) * per_page, want=per_page + 1)
    return Match(text_query, ids, matcher.scope)


# A rank reads the ids of its users, in its own order, up to a limit.
Rank = Callable[[int], list[int]]


def _page_of_ids(ranks: Iterator[Rank], *, skip: int, want: int) -> list[int]:
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


def fts_phrase(text_: str) -> str:
    """An FTS5 string: every character literal, a double quote doubled."""
    return '"' + text_.replace('"', '""') + '"'


def spread_trigrams(needle: str) -> list[str]:
    """Trigrams that cover `needle` end to end without overlapping (the last one may overlap)."""
    trigrams = [needle[i : i + 3] for i in range(0, len(needle) - 2, 3)]
    if len(needle) % 3:
        trigrams.append(needle[-3:])
    return list(dict.fromkeys(trigrams))


class _Matcher:
    """One query's ranks on one database, over the statements of search_sql."""

    def __init__(self, query: str, dialect: str) -> None:
        self.needle = query.lower()
        self.postgres = dialect == "postgresql"
        self.sql = statements_for(dialect)
        digits = query.isascii() and query.isdigit()
        user_id = int(query) if digits and 0 < int(query) <= MAX_USER_ID else 0
        # after_prefix only gives None for text clean_query refuses; an empty range is then right.
        upper = after_prefix(self.needle) or self.needle
        self.params = {"needle": self.needle, "upper": upper, "user_id": user_id, "tenant_ids": []}
        if len(self.needle) < MIN_SUBSTRING_CHARS:
            self.scope = "short"
        elif _ADDRESS.fullmatch(self.needle):
            self.scope = "address"
        else:
            self.scope = "all"

    def _run(self, statement, **params):
        return db.session.connection().execute(statement, {**self.params, **params})

    def ranks(self) -> Iterator[Rank]:
        """The ranks this query can match, best first; each is only built when it is needed."""
        yield self._exact_then_prefix
        # No tenant name, slug or domain holds an "@": an address-like query skips the lookup.
        if "@" not in self.needle:
            pattern = escape_like(self.needle) + "%"
            self.params["tenant_ids"] = list(self._run(self.sql.tenants, pattern=pattern).scalars())
        for tenant_id in self.params["tenant_ids"]:
            # One rank per tenant, so each reads its users in the order of the (tenant_id, email) index.
            yield partial(self._tenant_users, tenant_id)
        if self.scope == "all":
            yield self._substring_postgres if self.postgres else self._substring_sqlite

    def _exact_then_prefix(self, limit: int) -> list[int]:
        """Ranks 1 and 2 in one round trip: each part walks the email index, Python merges them."""
        rows = self._run(self.sql.exact_then_prefix, limit=limit).all()
        # (marker, email, id) sorts exact first, then by email in code point order (the byte order
        # both databases used), then by id.
        return [row.id for row in sorted(rows)][:limit]

    def _tenant_users(self, tenant_id: int, limit: int) -> list[int]:
        return list(self._run(self.sql.tenant_users, tenant_id=tenant_id, limit=limit).scalars())

    def _substring_postgres(self, limit: int) -> list[int]:
        """Name or email LIKE '%needle%', in id order: read on in id order, or ask the index.

        A trigram GIN index yields every match before ORDER BY … LIMIT applies, so its cost grows
        with the number of matches (about 2 µs a row here), while reading rows in id order and
        filtering them stops at the page's last match (about 0.3 µs a row). So: look at the first
        `FIRST_LOOK_ROWS` ids; if they hold enough matches, done; if they hold some, read on as far
        as their density says the page needs (up to `MAX_SCAN_ROWS`); otherwise, or if that falls
        short, the index. (MEASURED.md: left to itself the planner walks the primary key even for a
        rare needle, reading the whole table; the index statement is fenced against that.)
        """
        pattern = "%" + escape_like(self.needle) + "%"

        def in_id_order(rows: int) -> list[int]:
            head = self._run(self.sql.substring_head, pattern=pattern, limit=limit, head_rows=rows)
            return list(head.scalars())

        found = in_id_order(FIRST_LOOK_ROWS)
        if len(found) >= limit:
            return found
        if found:
            needed = math.ceil(FIRST_LOOK_ROWS * limit / len(found) * 1.3)
            if needed <= MAX_SCAN_ROWS:
                found = in_id_order(needed)
                if len(found) >= limit:
                    return found
        return list(self._run(self.sql.substring, pattern=pattern, limit=limit).scalars())

    def _substring_sqlite(self, limit: int) -> list[int]:
        """The FTS5 trigram index, read in rowid (= id) order so that LIMIT stops it early.

        FTS5 pays for every trigram of a phrase roughly in proportion to how common it is, so a long
        needle is looked up by trigrams that cover it without overlapping and every candidate is
        checked here against the whole needle; a short one is a phrase, which is exact by itself.
        """
        if len(self.needle) <= LONG_NEEDLE_CHARS:
            rows = self._run(self.sql.substring, expression=fts_phrase(self.needle), after=0, limit=limit)
            return [row.id for row in rows]
        expression = " AND ".join(fts_phrase(trigram) for trigram in spread_trigrams(self.needle))
        found: list[int] = []
        after = 0
        while len(found) < limit:
            batch = self._run(
                self.sql.substring, expression=expression, after=after, limit=_CANDIDATE_BATCH
            ).all()
            found += [row.id for row in batch if self.needle in row.email or self.needle in row.name.lower()]
            if len(batch) < _CANDIDATE_BATCH:
                break
            after = batch[-1].id
        return found[:limit]


def _results(ids: list[int], now: datetime) -> tuple[UserResult, ...]:
    """The rows for `ids`, in that order, in one statement. The password hash is never even read."""
    if not ids:
        return ()
    rows = db.session.execute(_RESULT_ROWS, {"ids": ids}).all()
    by_id = {user.id: (user, domain) for user, domain in rows}
    switch_on = settings.impersonation_enabled()  # once per page, not once per row
    results = []
    for user_id in ids:
        if user_id not in by_id:
            continue  # deleted between the two statements
        user, domain = by_id[user_id]
        results.append(
            UserResult(
                id=user.id,
                name=user.name,
                email=user.email,
                tenant_name=user.tenant.name,
                tenant_domain=domain,
                active=user.active,
                last_sign_in_at=user.last_sign_in_at,
                access=access_state(user, now, switch_on=switch_on),
            )
        )
    return tuple(results)


# Built once: the options and the correlated subquery cost more to build than the query to run.
_RESULT_ROWS = (
    select(
        User,
        select(TenantDomain.domain)
        .where(TenantDomain.tenant_id == Tenant.id)
        .order_by(TenantDomain.id)
        .limit(1)
        .scalar_subquery()
        .label("domain"),
    )
    .join(User.tenant)
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
        contains_eager(User.tenant).load_only(
            Tenant.name, Tenant.impersonation_enabled, Tenant.access_policy
        ),
    )
    .where(User.id.in_(bindparam("ids", expanding=True)))
)
