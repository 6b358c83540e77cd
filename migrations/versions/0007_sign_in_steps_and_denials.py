"""sign-in steps kept on the server, coalesced permission refusals

Revision ID: 0007_sign_in_steps_and_denials
Revises: 0006_search_buckets
Issue 11. `staff_sign_in_step`: the half-way state of a console sign-in (password done, TOTP next)
as a server-side row, so that the code step uses it once and a copied half-way cookie is worthless
after the sign-in completed, locked or timed out. `authz_denial`: one row per console session and
permission that was refused, so refusals are audited as `authz.denied` events, coalesced.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007_sign_in_steps_and_denials'
down_revision = '0006_search_buckets'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('staff_sign_in_step',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('end_reason', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_index('ix_staff_sign_in_step_staff_id', 'staff_sign_in_step', ['staff_id'], unique=False)
    op.create_table('authz_denial',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_session_id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('permission', sa.String(length=32), nullable=False),
    sa.Column('recorded_at', sa.DateTime(), nullable=True),
    sa.Column('suppressed', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_session_id'], ['staff_session.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('staff_session_id', 'permission')
    )
    op.create_index('ix_authz_denial_staff_id', 'authz_denial', ['staff_id'], unique=False)


def downgrade():
    op.drop_index('ix_authz_denial_staff_id', table_name='authz_denial')
    op.drop_table('authz_denial')
    op.drop_index('ix_staff_sign_in_step_staff_id', table_name='staff_sign_in_step')
    op.drop_table('staff_sign_in_step')
