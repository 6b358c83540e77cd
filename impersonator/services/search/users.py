"""The console's user search: one box across all tenants.

A query matches, in this order of rank:

1. exact: the email address, or the user id when the query is all digits;
2. email prefix (an explicit byte range, so both databases walk an index in order);
3. tenant: every user of a tenant whose name, slug or domain equals or starts with the query;
4. substring of the name or the email, for queries of `MIN_SUBSTRING_CHARS` or more (a trigram
   index cannot serve fewer) that are not a complete email address (one is looked up, not searched
   for inside longer addresses): FTS5 `trigram` on SQLite, `pg_trgm` GIN on PostgreSQL.

Each rank excludes the users of the ranks before it, so a user is listed once, and is read in an
order an index gives (ranks 1 to 3 by email then id, rank 4 by id): a page reads about as many rows
as it shows, and only as many ranks as it needs. SQLite runs one statement per rank; PostgreSQL, where
every statement is a round trip, folds them into fewer (search/sql.py). The indexes come from
migrations 0003, 0005 and 0006; the figures and the traps behind these choices are in bench/RESULTS.md
and MEASURED.md.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from impersonator import clock
from impersonator.extensions import db
from impersonator.services.errors import InvalidInput
from impersonator.services.impersonation.policy import AccessState, access_state
from impersonator.services.search.sql import (
    ID_BUCKET,
    POSTGRES_FIRST,
    POSTGRES_SUBSTRING_BUCKETS,
    POSTGRES_SUBSTRING_HEAD,
    POSTGRES_SUBSTRING_INDEX,
    POSTGRES_TENANT_USERS,
    RESULT_ROWS,
    sqlite_statements,
)
from impersonator.services.validation import clean_text

MAX_QUERY_CHARS = 200
MIN_SUBSTRING_CHARS = 3
PER_PAGE = 50
MAX_PAGE = 200  # 10,000 results: past that, a narrower query is the better tool
MAX_USER_ID = 2**31 - 1  # tenant_user.id is a 32-bit integer on PostgreSQL
# PostgreSQL's substring rank (_substring_postgres): the lowest ids it reads in id order first; the
# margin on the buckets of ids that the density of the matches found so far says the page needs; and
# what reading a bucket and asking the trigram index for every match cost, counted in matches the
# index finds (about 1 us each; a bucket about 0.1 ms, the index's trigrams about 1 ms; measured at a
# million users).
HEAD_ROWS = 500
BUCKET_MARGIN = 2.0
BUCKET_COST = 100
INDEX_COST = 1000
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
    """One query's ranks on one database, over the statements of `sql`."""

    def __init__(self, query: str, dialect: str) -> None:
        self.needle = query.lower()
        self.postgres = dialect == "postgresql"
        self.sql = None if self.postgres else sqlite_statements(dialect)
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
        # No tenant name, slug or domain holds an "@": an address-like query skips the lookup.
        self.search_tenants = "@" not in self.needle

    def _run(self, statement, **params):
        return db.session.connection().execute(statement, {**self.params, **params})

    def ranks(self) -> Iterator[Rank]:
        """The ranks this query can match, best first; each is only built when it is needed."""
        return self._postgres_ranks() if self.postgres else self._sqlite_ranks()

    def _sqlite_ranks(self) -> Iterator[Rank]:
        yield self._exact_then_prefix
        if self.search_tenants:
            pattern = escape_like(self.needle) + "%"
            self.params["tenant_ids"] = list(self._run(self.sql.tenants, pattern=pattern).scalars())
        for tenant_id in self.params["tenant_ids"]:
            # One rank per tenant, so each reads its users in the order of the (tenant_id, email) index.
            yield partial(self._tenant_users, tenant_id)
        if self.scope == "all":
            yield self._substring_sqlite

    def _postgres_ranks(self) -> Iterator[Rank]:
        # Each statement is a round trip here: rank 3's tenants come with ranks 1 and 2, and every
        # matching tenant's users in one more.
        yield self._first_postgres
        if self.params["tenant_ids"]:
            yield self._tenant_users_postgres
        if self.scope == "all":
            yield self._substring_postgres

    def _exact_then_prefix(self, limit: int) -> list[int]:
        """Ranks 1 and 2 in one statement: each part walks the email index, Python merges them."""
        rows = self._run(self.sql.exact_then_prefix, limit=limit).all()
        # (marker, email, id) sorts exact first, then by email in code point order (the byte order
        # of the index), then by id.
        return [row.id for row in sorted(rows)][:limit]

    def _tenant_users(self, tenant_id: int, limit: int) -> list[int]:
        return list(self._run(self.sql.tenant_users, tenant_id=tenant_id, limit=limit).scalars())

    def _first_postgres(self, limit: int) -> list[int]:
        """Ranks 1 and 2, and the tenants of rank 3, in one round trip."""
        rows = self._run(
            POSTGRES_FIRST[self.search_tenants], limit=limit, prefix_pattern=escape_like(self.needle) + "%"
        ).all()
        # (kind, email, position, id): exact first, then by email in code point order (the byte
        # order of the index), then by id; tenants (kind 2) in their position.
        users, tenants = [], []
        for row in sorted(rows):
            (tenants if row.kind == 2 else users).append(row.id)
        self.params["tenant_ids"] = tenants
        return users[:limit]

    def _tenant_users_postgres(self, limit: int) -> list[int]:
        return list(self._run(POSTGRES_TENANT_USERS, limit=limit).scalars())

    def _substring_postgres(self, limit: int) -> list[int]:
        """Name or email containing the needle, in id order: the lowest ids, then buckets or the index.

        Asked for a page, a trigram GIN index yields every match before ORDER BY … LIMIT applies, so
        it costs every match in the table (10-20 ms for a common first name at a million users);
        reading in id order stops at the page's last match. Migration 0006's index is also keyed by
        bucket of ids, so it can read in id order too, a bucket at a time, each for the price of
        its own matches. The first statement reads the `HEAD_ROWS` lowest ids one by one (a needle
        in many names fills the page there), then the rest of the last one's bucket through the
        index (the probe). If the page is still short, the matches found so far say how dense the
        needle is: the second statement reads on through as many buckets as the page needs (times
        `BUCKET_MARGIN`), unless that costs more than asking the index for every match, then asks
        the index for whatever is still missing beyond them. The parts read disjoint id ranges in
        order, so the rank is in id order whichever finds a row.
        """
        pattern = "%" + escape_like(self.needle) + "%"
        rows = self._run(POSTGRES_SUBSTRING_HEAD, pattern=pattern, head_rows=HEAD_ROWS, limit=limit).all()
        # PostgreSQL runs a UNION ALL's parts in order (none of these can run in parallel: they scan
        # a CTE), so the two markers come first; the defaults and the sort only make a surprise harmless.
        head_last = next((row.id for row in rows if row.kind == 0), MAX_USER_ID)
        last = next((row.id for row in rows if row.kind == 1), 0)
        found = sorted(row.id for row in rows if row.kind == 2)
        first_bucket = head_last // ID_BUCKET + 1  # the head and the probe read every id below it
        rest = limit - len(found)
        if rest <= 0 or first_bucket * ID_BUCKET > last:
            return found
        buckets = 0  # nothing found yet: a rare needle, the index at once
        if found:
            density = len(found) / (HEAD_ROWS + first_bucket * ID_BUCKET - 1 - head_last)  # per id
            buckets = math.ceil(rest / density / ID_BUCKET * BUCKET_MARGIN)
            if buckets * BUCKET_COST > INDEX_COST + density * (last - first_bucket * ID_BUCKET):
                buckets = 0  # a rare needle: the index is cheaper
        last_bucket = min(first_bucket + buckets, last // ID_BUCKET + 1) - 1
        beyond = (last_bucket + 1) * ID_BUCKET
        more = self._run(
            POSTGRES_SUBSTRING_BUCKETS if buckets else POSTGRES_SUBSTRING_INDEX,
            pattern=pattern,
            first_bucket=first_bucket,
            last_bucket=last_bucket,
            ask_index=beyond <= last,
            beyond=beyond,
            limit=rest,
        )
        return found + list(more.scalars())

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
    """The rows for `ids`, in that order, in one statement that also reads the global switch (one
    round trip). Plain rows, not ORM objects: building 50 of those cost more than the query."""
    if not ids:
        return ()
    connection = db.session.connection()
    rows = connection.execute(RESULT_ROWS[connection.dialect.name], {"ids": ids}).all()
    by_id = {row.id: row for row in rows}
    results = []
    for user_id in ids:
        row = by_id.get(user_id)
        if row is None:
            continue  # deleted between the two statements
        subject = _Subject(
            tenant=_TenantRules(row.impersonation_enabled, row.access_policy, row.users_choose_approval),
            active=row.active,
            support_access_opt_in_until=row.support_access_opt_in_until,
            approve_each_request=row.approve_each_request,
        )
        results.append(
            UserResult(
                id=row.id,
                name=row.name,
                email=row.email,
                tenant_name=row.tenant_name,
                tenant_domain=row.tenant_domain,
                active=row.active,
                last_sign_in_at=row.last_sign_in_at,
                access=access_state(subject, now, switch_on=row.switch_value != "off"),
            )
        )
    return tuple(results)


@dataclass(frozen=True)
class _TenantRules:
    """What `policy.access_state` reads of a tenant."""

    impersonation_enabled: bool
    access_policy: str
    users_choose_approval: bool


@dataclass(frozen=True)
class _Subject:
    """What `policy.access_state` reads of a user (it reads nothing else), from a plain row."""

    tenant: _TenantRules
    active: bool
    support_access_opt_in_until: datetime | None
    approve_each_request: bool
