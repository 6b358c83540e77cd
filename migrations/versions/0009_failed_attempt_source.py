"""failed attempts remember where they came from (as a keyed hash)

Revision ID: 0009_failed_attempt_source
Revises: 0008_ghost_secret
Issue 11 item 10. Five wrong passwords with nothing but an email locked a staff member out from
everywhere. Now failures throttle the account per client address first, and the account itself
locks only on failures spread over ACCOUNT_LOCK_ADDRESSES distinct addresses; counting them needs
the address on each failure row: `source` holds an HMAC of it (a key derived from SECRET_KEY),
never the address. Rows written before this revision have none and count as no address.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009_failed_attempt_source'
down_revision = '0008_ghost_secret'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('failed_attempt') as batch_op:
        batch_op.add_column(sa.Column('source', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('failed_attempt') as batch_op:
        batch_op.drop_column('source')
