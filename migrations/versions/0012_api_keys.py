"""api keys: the console's JSON API for security tooling, authenticated by scoped keys

Revision ID: 0012_api_keys
Revises: 0011_open_impersonations
Issue 15 part 3. An admin creates a key (name, scopes) on the console; the key is shown once and
stored only as a keyed hash of its secret part, looked up by the id it carries. Revoking keeps the
row (the audit trail names it); `last_used_at` tells admins which keys are still in use.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012_api_keys'
down_revision = '0011_open_impersonations'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('api_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('scopes', sa.String(length=200), nullable=False),
    sa.Column('secret_hash', sa.String(length=64), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_by_id', sa.Integer(), nullable=True),
    sa.Column('last_used_at', sa.DateTime(), nullable=True),
    sa.Column('last_used_ip', sa.String(length=45), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['revoked_by_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade():
    op.drop_table('api_key')
