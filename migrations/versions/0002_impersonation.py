"""impersonations, ghost requests, settings, access codes, projects, notifications, analytics

Revision ID: 0002_impersonation
Revises: 0001_foundation
Timestamps are stored as naive UTC (see impersonator.models.types.UTCDateTime).

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002_impersonation'
down_revision = '0001_foundation'
branch_labels = None
depends_on = None


def upgrade():
    
    op.create_table('setting',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.String(length=200), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('access_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['tenant_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('access_code', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_access_code_user_id'), ['user_id'], unique=False)

    op.create_table('analytics_event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['tenant_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('analytics_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_analytics_event_user_id'), ['user_id'], unique=False)

    op.create_table('impersonation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('ticket', sa.String(length=100), nullable=True),
    sa.Column('mode', sa.String(length=10), nullable=False),
    sa.Column('duration_minutes', sa.Integer(), nullable=False),
    sa.Column('access_via', sa.String(length=10), nullable=False),
    sa.Column('token_jti', sa.String(length=64), nullable=False),
    sa.Column('audience', sa.String(length=253), nullable=False),
    sa.Column('issued_at', sa.DateTime(), nullable=False),
    sa.Column('token_expires_at', sa.DateTime(), nullable=False),
    sa.Column('redeemed_at', sa.DateTime(), nullable=True),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('end_reason', sa.String(length=32), nullable=True),
    sa.Column('issue_ip', sa.String(length=45), nullable=True),
    sa.Column('issue_user_agent', sa.String(length=300), nullable=True),
    sa.Column('redeem_ip', sa.String(length=45), nullable=True),
    sa.Column('redeem_user_agent', sa.String(length=300), nullable=True),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['tenant_user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_jti')
    )
    with op.batch_alter_table('impersonation', schema=None) as batch_op:
        batch_op.create_index('ix_impersonation_staff_issued', ['staff_id', 'issued_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_impersonation_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('ix_impersonation_user_issued', ['user_id', 'issued_at'], unique=False)

    op.create_table('project',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['tenant_user.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_project_owner_id'), ['owner_id'], unique=False)

    op.create_table('ghost_request',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('impersonation_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('method', sa.String(length=10), nullable=False),
    sa.Column('path', sa.String(length=500), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['impersonation_id'], ['impersonation.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ghost_request', schema=None) as batch_op:
        batch_op.create_index('ix_ghost_request_impersonation', ['impersonation_id', 'id'], unique=False)

    op.create_table('notification',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('impersonation_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['impersonation_id'], ['impersonation.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['tenant_user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_impersonation_id'), ['impersonation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('tenant_user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('support_access_opt_in_until', sa.DateTime(), nullable=True))

    


def downgrade():
    
    with op.batch_alter_table('tenant_user', schema=None) as batch_op:
        batch_op.drop_column('support_access_opt_in_until')

    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_user_id'))
        batch_op.drop_index(batch_op.f('ix_notification_impersonation_id'))

    op.drop_table('notification')
    with op.batch_alter_table('ghost_request', schema=None) as batch_op:
        batch_op.drop_index('ix_ghost_request_impersonation')

    op.drop_table('ghost_request')
    with op.batch_alter_table('project', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_project_owner_id'))

    op.drop_table('project')
    with op.batch_alter_table('impersonation', schema=None) as batch_op:
        batch_op.drop_index('ix_impersonation_user_issued')
        batch_op.drop_index(batch_op.f('ix_impersonation_tenant_id'))
        batch_op.drop_index('ix_impersonation_staff_issued')

    op.drop_table('impersonation')
    with op.batch_alter_table('analytics_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_analytics_event_user_id'))

    op.drop_table('analytics_event')
    with op.batch_alter_table('access_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_access_code_user_id'))

    op.drop_table('access_code')
    op.drop_table('setting')
    
