"""search buckets: the trigram index keyed by id bucket on PostgreSQL

Revision ID: 0006_search_buckets
Revises: 0005_search_speed
The substring rank of the user search lists users in id order (impersonator/services/search/users.py). A
trigram GIN index yields every match in the table before ORDER BY ... LIMIT applies, so a page of a
needle with thousands of matches paid for all of them (about 1 us each). This index keys every
trigram with the bucket of its row as well, `id / 16384` (a second column, through btree_gin), so
that the search reads one bucket's matches at a time, in id order, each bucket for the price of its
own matches. The trigrams alone are still served (a GIN index searches any of its columns), so it
replaces 0005's index. At a million users it is about as large (69 MB, 0005's 67 MB) and as long to
build (6.9 s, 0005's 6.8 s, side by side). Without a pending list (fastupdate off), inserting a user
costs about 0.17 ms instead of 0.07 ms, and no search reads a backlog of new rows once per bucket.

SQLite keeps its FTS5 table: its trigram index yields rowids in order already.

Like 0003 and 0005, only search objects, named `ix_search_*` (the drift test leaves them out), in
plain SQL tuples that bench/search_bench.py also runs to build them after seeding.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0006_search_buckets'
down_revision = '0005_search_speed'
branch_labels = None
depends_on = None


SQLITE_UPGRADE = ()
SQLITE_DOWNGRADE = ()

POSTGRESQL_UPGRADE = (
    # btree_gin gives GIN an operator class for integers; trusted (PostgreSQL 13+) like pg_trgm.
    "CREATE EXTENSION IF NOT EXISTS btree_gin",
    # 16384 is search_sql.ID_BUCKET, and the second expression the one search_sql's statements
    # build: the planner matches the index to them only if they are the very same. A search reads
    # the index once per bucket, and every read of a GIN index also reads all of its pending list
    # (new rows not yet merged, up to 4 MB): without one, a new user costs a little more to insert.
    "CREATE INDEX ix_search_user_bucket_trgm ON tenant_user "
    "USING gin ((id / 16384), (lower(name) || E'\\n' || email) gin_trgm_ops) WITH (fastupdate = off)",
    "DROP INDEX IF EXISTS ix_search_user_text_trgm",
)
POSTGRESQL_DOWNGRADE = (
    "CREATE INDEX ix_search_user_text_trgm ON tenant_user "
    "USING gin ((lower(name) || E'\\n' || email) gin_trgm_ops)",
    "DROP INDEX IF EXISTS ix_search_user_bucket_trgm",
    # btree_gin stays: other objects of the database may use it, and it holds no data.
)


def _statements(sqlite, postgresql):
    dialect = op.get_bind().dialect.name
    if dialect == 'sqlite':
        return sqlite
    if dialect == 'postgresql':
        return postgresql
    raise NotImplementedError(f"no search indexes for the {dialect} database")


def upgrade():
    for statement in _statements(SQLITE_UPGRADE, POSTGRESQL_UPGRADE):
        op.execute(statement)


def downgrade():
    for statement in _statements(SQLITE_DOWNGRADE, POSTGRESQL_DOWNGRADE):
        op.execute(statement)
