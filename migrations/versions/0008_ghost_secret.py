"""ghost sessions bound to a secret set at redemption

Revision ID: 0008_ghost_secret
Revises: 0007_sign_in_steps_and_denials
Issue 11 item 4. The tenant cookie of a ghost session named only the impersonation's (sequential)
id, signed with a key derived from SECRET_KEY: whoever held that key could join any live ghost
session. Redemption now sets a random secret, kept in the cookie and stored here only as its
SHA-256 hash; the ghost guard compares the two on every request. Sessions redeemed before this
revision have no hash and are refused (they last an hour at most).
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008_ghost_secret'
down_revision = '0007_sign_in_steps_and_denials'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('impersonation') as batch_op:
        batch_op.add_column(sa.Column('ghost_secret_hash', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('impersonation') as batch_op:
        batch_op.drop_column('ghost_secret_hash')
