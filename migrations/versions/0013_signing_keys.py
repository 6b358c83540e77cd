"""signing keys: the Ed25519 keys that sign `act` tokens, published as a JWKS on the console

Revision ID: 0013_signing_keys
Revises: 0012_api_keys
Issue 15 part 2. During a ghost session the tenant side mints short-lived JWTs for the product's own
back-ends (`sub` the customer, `act` the staff member). Every process on every machine must sign
with the same key and the console must publish the same keys, so they live here: the private half
encrypted at rest (and wiped at retirement), the public half published until the last token it
signed has expired. `flask act-keys rotate` adds a key and retires the one before.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013_signing_keys'
down_revision = '0012_api_keys'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('signing_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('algorithm', sa.String(length=16), nullable=False),
    sa.Column('public_key', sa.String(length=64), nullable=False),
    sa.Column('private_key_encrypted', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('activated_at', sa.DateTime(), nullable=False),
    sa.Column('retired_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kid')
    )


def downgrade():
    op.drop_table('signing_key')
