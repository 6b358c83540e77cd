"""open impersonations indexed: the sweep finds sessions past their end and lapsed tokens at once

Revision ID: 0011_open_impersonations
Revises: 0010_rate_limits
A ghost session whose browser was closed, or a token never redeemed, used to stay open on record
for good: the sweep (services/impersonation/sweep.py, run by every outbox worker) now ends them.
It looks only at impersonations not ended yet, which this partial index keeps to a handful of rows
however long the history grows.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011_open_impersonations'
down_revision = '0010_rate_limits'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index(
        'ix_impersonation_open',
        'impersonation',
        ['id'],
        unique=False,
        postgresql_where=sa.text('ended_at IS NULL'),
        sqlite_where=sa.text('ended_at IS NULL'),
    )


def downgrade():
    op.drop_index('ix_impersonation_open', table_name='impersonation')
