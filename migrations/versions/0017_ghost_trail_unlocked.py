"""ghost trail unlocked: recording a ghost request no longer locks its impersonation's row

Revision ID: 0017_ghost_trail_unlocked
Revises: 0016_masking
A ghost session writes one ghost_request row on every request (DESIGN I7). Its foreign key made
PostgreSQL take a key-share lock on the impersonation's row for each of them, a shared lock (a
MultiXact) whenever two requests of one session overlap, and that cost ~10 % of a ghost page's
throughput (issue 12). The key protected nothing the code does not: a row is written only for the
impersonation the ghost guard has just read in the same transaction, and impersonations are never
deleted. Its ON DELETE CASCADE was worse than nothing for an audit trail: deleting an impersonation
by hand would have erased what support did in the account.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017_ghost_trail_unlocked'
down_revision = '0016_masking'
branch_labels = None
depends_on = None

# SQLite keeps the key without a name: batch mode names it by this convention to drop it.
NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s"}
SQLITE_NAME = "fk_ghost_request_impersonation_id_impersonation"
POSTGRESQL_NAME = "ghost_request_impersonation_id_fkey"


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        with op.batch_alter_table("ghost_request", naming_convention=NAMING) as batch_op:
            batch_op.drop_constraint(SQLITE_NAME, type_="foreignkey")
        return
    for key in sa.inspect(bind).get_foreign_keys("ghost_request"):
        if key["constrained_columns"] == ["impersonation_id"]:
            op.drop_constraint(key["name"], "ghost_request", type_="foreignkey")


def downgrade():
    name = SQLITE_NAME if op.get_bind().dialect.name == "sqlite" else POSTGRESQL_NAME
    with op.batch_alter_table("ghost_request", schema=None) as batch_op:
        batch_op.create_foreign_key(name, "impersonation", ["impersonation_id"], ["id"], ondelete="CASCADE")
