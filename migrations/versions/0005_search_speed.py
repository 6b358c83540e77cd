"""search speed: one trigram index over name and email on PostgreSQL

Revision ID: 0005_search_speed
Revises: 0004_oversight
The substring rank of the user search (impersonator/services/search/sql.py) reads the lower-cased
name and the email as one string, `lower(name) || E'\\n' || email`, through one GIN trigram index:
one bitmap and one recheck a candidate instead of two indexes OR-ed together (about half the work
for a common needle), and one index to keep up to date instead of two. The query refuses control
characters, so no match spans the newline. SQLite keeps its FTS5 table (migration 0003).

Like 0003, only search objects, named `ix_search_*` (the drift test leaves them out), in plain SQL
tuples that bench/search_bench.py also runs to build them after seeding.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0005_search_speed'
down_revision = '0004_oversight'
branch_labels = None
depends_on = None


SQLITE_UPGRADE = ()
SQLITE_DOWNGRADE = ()

POSTGRESQL_UPGRADE = (
    # The very expression search_sql's statements build, so the planner matches the index to it.
    "CREATE INDEX ix_search_user_text_trgm ON tenant_user "
    "USING gin ((lower(name) || E'\\n' || email) gin_trgm_ops)",
    "DROP INDEX IF EXISTS ix_search_user_name_trgm",
    "DROP INDEX IF EXISTS ix_search_user_email_trgm",
)
POSTGRESQL_DOWNGRADE = (
    "CREATE INDEX ix_search_user_email_trgm ON tenant_user USING gin (email gin_trgm_ops)",
    "CREATE INDEX ix_search_user_name_trgm ON tenant_user USING gin (lower(name) gin_trgm_ops)",
    "DROP INDEX IF EXISTS ix_search_user_text_trgm",
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
