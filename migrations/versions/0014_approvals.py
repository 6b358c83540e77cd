"""approvals: requests that the customer and/or a second staff member decide, reason codes, break-glass

Revision ID: 0014_approvals
Revises: 0013_signing_keys
DESIGN §11. An approval request waits for decisions before any token exists; every decision is a
conditional UPDATE of its row. Impersonations gain their reason code and a break-glass mark; tenants
gain who must approve and what a request must carry; staff gain the `approve` choice.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014_approvals'
down_revision = '0013_signing_keys'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'approval_request',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('staff_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('reason_code', sa.String(length=32), nullable=False),
        sa.Column('justification', sa.Text(), nullable=False),
        sa.Column('ticket', sa.String(length=100), nullable=True),
        sa.Column('mode', sa.String(length=10), nullable=False),
        sa.Column('duration_minutes', sa.Integer(), nullable=False),
        sa.Column('granted_mode', sa.String(length=10), nullable=False),
        sa.Column('granted_minutes', sa.Integer(), nullable=False),
        sa.Column('consent', sa.String(length=20), nullable=False),
        sa.Column('needs_customer', sa.Boolean(), nullable=False),
        sa.Column('needs_staff', sa.Boolean(), nullable=False),
        sa.Column('break_glass', sa.Boolean(), nullable=False),
        sa.Column('state', sa.String(length=12), nullable=False),
        sa.Column('requested_at', sa.DateTime(), nullable=False),
        sa.Column('answer_by', sa.DateTime(), nullable=False),
        sa.Column('request_ip', sa.String(length=45), nullable=True),
        sa.Column('customer_decision', sa.String(length=10), nullable=True),
        sa.Column('customer_decided_at', sa.DateTime(), nullable=True),
        sa.Column('customer_note', sa.String(length=500), nullable=True),
        sa.Column('staff_decision', sa.String(length=10), nullable=True),
        sa.Column('staff_decider_id', sa.Integer(), nullable=True),
        sa.Column('staff_decided_at', sa.DateTime(), nullable=True),
        sa.Column('staff_note', sa.String(length=500), nullable=True),
        sa.Column('approved_at', sa.DateTime(), nullable=True),
        sa.Column('start_by', sa.DateTime(), nullable=True),
        sa.Column('closed_at', sa.DateTime(), nullable=True),
        sa.Column('close_reason', sa.String(length=32), nullable=True),
        sa.Column('impersonation_id', sa.Integer(), nullable=True),
        sa.Column('review_note', sa.Text(), nullable=True),
        sa.Column('reviewed_by_id', sa.Integer(), nullable=True),
        sa.Column('reviewed_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['impersonation_id'], ['impersonation.id'], ),
        sa.ForeignKeyConstraint(['reviewed_by_id'], ['staff.id'], ),
        sa.ForeignKeyConstraint(['staff_decider_id'], ['staff.id'], ),
        sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenant.id'], ),
        sa.ForeignKeyConstraint(['user_id'], ['tenant_user.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('impersonation_id'),
    )
    with op.batch_alter_table('approval_request', schema=None) as batch_op:
        batch_op.create_index('ix_approval_request_tenant_id', ['tenant_id'], unique=False)
        batch_op.create_index('ix_approval_request_staff_requested', ['staff_id', 'requested_at'], unique=False)
        batch_op.create_index('ix_approval_request_user_requested', ['user_id', 'requested_at'], unique=False)
    op.create_index(
        'ix_approval_request_open',
        'approval_request',
        ['id'],
        unique=False,
        postgresql_where=sa.text("state IN ('pending', 'approved')"),
        sqlite_where=sa.text("state IN ('pending', 'approved')"),
    )

    # Plain ADD COLUMN (no batch): on SQLite a batch would rebuild tenant_user and drop the search
    # triggers of migration 0003 with it.
    op.add_column('impersonation', sa.Column('reason_code', sa.String(length=32), nullable=True))
    op.add_column('impersonation', sa.Column('break_glass', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('tenant', sa.Column('two_person', sa.String(length=10), server_default='full', nullable=False))
    op.add_column(
        'tenant', sa.Column('users_choose_approval', sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.add_column('tenant', sa.Column('ticket_pattern', sa.String(length=200), nullable=True))
    op.add_column('tenant', sa.Column('reason_codes', sa.String(length=200), nullable=True))
    op.add_column(
        'tenant_user', sa.Column('approve_each_request', sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.add_column('staff', sa.Column('may_approve', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    # Plain DROP COLUMN (SQLite 3.35+), for the same reason as above.
    op.drop_column('staff', 'may_approve')
    op.drop_column('tenant_user', 'approve_each_request')
    for column in ('reason_codes', 'ticket_pattern', 'users_choose_approval', 'two_person'):
        op.drop_column('tenant', column)
    op.drop_column('impersonation', 'break_glass')
    op.drop_column('impersonation', 'reason_code')
    op.drop_index('ix_approval_request_open', table_name='approval_request')
    op.drop_table('approval_request')
