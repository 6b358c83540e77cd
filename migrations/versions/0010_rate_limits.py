"""request counts per window, for rate limits that hold across processes

Revision ID: 0010_rate_limits
Revises: 0009_failed_attempt_source
Issue 12 item 4. Failures were counted and locked already (`failed_attempt`, `lockout`); requests
that are not failures were not: a signed-in staff member searching user after user, impersonation
requests in a loop, redemption posts from one address. `rate_count` holds one row per limited key
with its fixed window's end and count, moved by one upsert per request on every process and machine;
`window_end` is indexed for the sweep of keys that stopped coming.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010_rate_limits'
down_revision = '0009_failed_attempt_source'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('rate_count',
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('window_end', sa.DateTime(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_index('ix_rate_count_window_end', 'rate_count', ['window_end'], unique=False)


def downgrade():
    op.drop_index('ix_rate_count_window_end', table_name='rate_count')
    op.drop_table('rate_count')
