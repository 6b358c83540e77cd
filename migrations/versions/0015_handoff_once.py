"""handoff once: the handoff page carries an impersonation's token at most once

Revision ID: 0015_handoff_once
Revises: 0014_approvals
Starting an impersonation is POST-redirect-GET: the POST records the request, and the one GET of its
handoff page signs the token and marks the row handed over (a conditional UPDATE), so a reload or the
back button says the link was already handed over instead of showing a token again (DESIGN I3).
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015_handoff_once'
down_revision = '0014_approvals'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('impersonation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('handed_over_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('impersonation', schema=None) as batch_op:
        batch_op.drop_column('handed_over_at')
