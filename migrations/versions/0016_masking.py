"""masking: sensitive values masked in a ghost session, reveals with a reason, the demo's billing page

Revision ID: 0016_masking
Revises: 0015_handoff_once
DESIGN §13. Each reveal of a masked value is a row (which value, why; never the value); tenants gain
their reveal policy; the demo tenant app gains billing details to mask.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016_masking'
down_revision = '0015_handoff_once'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'masked_reveal',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('impersonation_id', sa.Integer(), nullable=False),
        sa.Column('tenant_id', sa.Integer(), nullable=False),
        sa.Column('category', sa.String(length=20), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('scope', sa.String(length=10), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('revealed_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ['impersonation_id'],
            ['impersonation.id'],
        ),
        sa.ForeignKeyConstraint(
            ['tenant_id'],
            ['tenant.id'],
        ),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(
        'ix_masked_reveal_impersonation', 'masked_reveal', ['impersonation_id', 'category'], unique=False
    )
    op.create_index('ix_masked_reveal_tenant_id', 'masked_reveal', ['tenant_id'], unique=False)
    op.create_table(
        'billing_profile',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('card_brand', sa.String(length=20), nullable=False),
        sa.Column('card_number', sa.String(length=32), nullable=False),
        sa.Column('phone', sa.String(length=40), nullable=False),
        sa.Column('tax_id', sa.String(length=40), nullable=False),
        sa.Column('notes', sa.Text(), nullable=False),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['tenant_user.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('user_id'),
    )
    # Plain ADD COLUMN (no batch): see 0014.
    op.add_column('tenant', sa.Column('reveal_categories', sa.String(length=100), nullable=True))
    op.add_column(
        'tenant', sa.Column('reveal_whole_category', sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.add_column(
        'tenant', sa.Column('reveals_full_mode_only', sa.Boolean(), server_default=sa.false(), nullable=False)
    )


def downgrade():
    for column in ('reveals_full_mode_only', 'reveal_whole_category', 'reveal_categories'):
        op.drop_column('tenant', column)
    op.drop_table('billing_profile')
    op.drop_index('ix_masked_reveal_tenant_id', table_name='masked_reveal')
    op.drop_index('ix_masked_reveal_impersonation', table_name='masked_reveal')
    op.drop_table('masked_reveal')
