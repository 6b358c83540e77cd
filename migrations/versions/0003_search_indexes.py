"""search indexes on customer users: email prefix, email and name substrings

Revision ID: 0003_search_indexes
Revises: 0002_impersonation
The console's user search (impersonator/services/search/users.py) must stay fast at a million users.
These objects are not in the SQLAlchemy models (a virtual table, triggers, operator classes and
expression indexes); every name starts with `search_` or `ix_search_` so that the drift test
(tests/test_migrations.py) can tell them apart from the models' schema.

SQLite: a B-tree on email (exact and prefix, as a range), and an FTS5 table with the trigram
tokenizer over email and name (substrings of 3+ characters), kept in sync by triggers.
PostgreSQL: pg_trgm GIN indexes on email and lower(name) (substrings), and a B-tree on
(email text_pattern_ops, id) for exact and prefix matches in byte order.

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0003_search_indexes'
down_revision = '0002_impersonation'
branch_labels = None
depends_on = None


SQLITE_UPGRADE = (
    "CREATE INDEX ix_search_user_email ON tenant_user (email)",
    # External content: the FTS table stores only its index; the text stays in tenant_user.
    "CREATE VIRTUAL TABLE search_user_fts USING fts5("
    "email, name, content='tenant_user', content_rowid='id', tokenize='trigram')",
    "INSERT INTO search_user_fts (search_user_fts) VALUES ('rebuild')",
    "CREATE TRIGGER search_user_fts_insert AFTER INSERT ON tenant_user BEGIN "
    "INSERT INTO search_user_fts (rowid, email, name) VALUES (new.id, new.email, new.name); END",
    "CREATE TRIGGER search_user_fts_delete AFTER DELETE ON tenant_user BEGIN "
    "INSERT INTO search_user_fts (search_user_fts, rowid, email, name) "
    "VALUES ('delete', old.id, old.email, old.name); END",
    # Only a change of the indexed text touches the index (not last_sign_in_at and the like).
    "CREATE TRIGGER search_user_fts_update AFTER UPDATE OF email, name ON tenant_user BEGIN "
    "INSERT INTO search_user_fts (search_user_fts, rowid, email, name) "
    "VALUES ('delete', old.id, old.email, old.name); "
    "INSERT INTO search_user_fts (rowid, email, name) VALUES (new.id, new.email, new.name); END",
)
SQLITE_DOWNGRADE = (
    "DROP TRIGGER IF EXISTS search_user_fts_update",
    "DROP TRIGGER IF EXISTS search_user_fts_delete",
    "DROP TRIGGER IF EXISTS search_user_fts_insert",
    "DROP TABLE IF EXISTS search_user_fts",
    "DROP INDEX IF EXISTS ix_search_user_email",
)

POSTGRESQL_UPGRADE = (
    # pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    # Byte order (text_pattern_ops) serves `=` and the explicit range `~>=~ / ~<~` of a prefix
    # whatever the database's collation; `id` makes `ORDER BY email USING ~<~, id` an index walk.
    "CREATE INDEX ix_search_user_email_pattern ON tenant_user (email text_pattern_ops, id)",
    "CREATE INDEX ix_search_user_email_trgm ON tenant_user USING gin (email gin_trgm_ops)",
    "CREATE INDEX ix_search_user_name_trgm ON tenant_user USING gin (lower(name) gin_trgm_ops)",
)
POSTGRESQL_DOWNGRADE = (
    "DROP INDEX IF EXISTS ix_search_user_name_trgm",
    "DROP INDEX IF EXISTS ix_search_user_email_trgm",
    "DROP INDEX IF EXISTS ix_search_user_email_pattern",
    # pg_trgm stays: other objects of the database may use it, and it holds no data.
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
