"""audit chain, outbox, webhooks, staff invites, customer consent settings

Revision ID: 0004_oversight
Revises: 0003_search_indexes
The audit trail becomes a hash chain (DESIGN I9): `seq`, `prev_hash` and `hash` on every event and
a one-row chain head. Events written before this migration are sealed here, in id order, with the
same encoding and key as new ones (impersonator.services.audit.chain), so the chain starts at #1.
Also: the outbox and webhook endpoints (I10), staff enrolment invites, the customer's access-notice
choice and two tenant settings (§9), and the note kept when an impersonation is terminated.

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004_oversight'
down_revision = '0003_search_indexes'
branch_labels = None
depends_on = None

GENESIS_HASH = "0" * 64


def upgrade():
    op.create_table('audit_checkpoint',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('verified_seq', sa.BigInteger(), nullable=False),
    sa.Column('verified_hash', sa.String(length=64), nullable=False),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('first_broken_seq', sa.BigInteger(), nullable=True),
    sa.Column('problem', sa.String(length=300), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('staff_invite',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_index('ix_staff_invite_staff_id', 'staff_invite', ['staff_id'], unique=False)
    op.create_table('webhook_endpoint',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=False),
    sa.Column('description', sa.String(length=200), nullable=False),
    sa.Column('secret_encrypted', sa.String(length=500), nullable=False),
    sa.Column('events', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('outbox_message',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('message_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('event_type', sa.String(length=64), nullable=False),
    sa.Column('destination', sa.String(length=2000), nullable=False),
    sa.Column('endpoint_id', sa.Integer(), nullable=True),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
    sa.Column('delivered_at', sa.DateTime(), nullable=True),
    sa.Column('failed_at', sa.DateTime(), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoint.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('message_id')
    )
    op.create_index('ix_outbox_message_due', 'outbox_message', ['status', 'next_attempt_at'], unique=False)
    op.create_index('ix_outbox_message_endpoint_id', 'outbox_message', ['endpoint_id'], unique=False)

    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('seq', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('impersonation_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('hash', sa.String(length=64), nullable=True))
    head_seq, head_hash = _seal_existing_events()
    op.execute(
        sa.text("INSERT INTO audit_head (id, seq, hash) VALUES (1, :seq, :hash)").bindparams(
            seq=head_seq, hash=head_hash
        )
    )
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.alter_column('seq', existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column('hash', existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_index('ix_audit_event_action')
        batch_op.drop_index('ix_audit_event_actor')
        batch_op.create_unique_constraint('uq_audit_event_seq', ['seq'])
        batch_op.create_index('ix_audit_event_action_seq', ['action', 'seq'], unique=False)
        batch_op.create_index('ix_audit_event_actor_seq', ['actor_type', 'actor_id', 'seq'], unique=False)
        batch_op.create_index('ix_audit_event_impersonation_seq', ['impersonation_id', 'seq'], unique=False)
        batch_op.create_index('ix_audit_event_outcome_seq', ['outcome', 'seq'], unique=False)
        batch_op.create_index('ix_audit_event_target_seq', ['target_type', 'target_id', 'seq'], unique=False)
        batch_op.create_index('ix_audit_event_tenant_seq', ['tenant_id', 'seq'], unique=False)

    op.add_column('impersonation', sa.Column('end_note', sa.String(length=500), nullable=True))
    # New NOT NULL columns on a table with rows: the server default fills them and stays (the
    # models declare it too). Plain ADD COLUMNs: on SQLite a batch (copy, drop, rename) of `tenant`
    # would drop a table that tenant_user references with ON DELETE CASCADE.
    op.add_column('tenant', sa.Column('notify_on_access_default', sa.Boolean(), nullable=False, server_default=sa.true()))
    op.add_column('tenant', sa.Column('hide_justification', sa.Boolean(), nullable=False, server_default=sa.false()))
    # A plain ADD COLUMN: a batch (copy-and-move) of tenant_user would drop the search triggers.
    op.add_column('tenant_user', sa.Column('notify_on_access', sa.Boolean(), nullable=True))


def _seal_existing_events():
    """Number and chain the events written before the chain existed; returns the new head."""
    from flask import current_app

    from impersonator.services.audit.chain import Link, chain_key, link_hash

    key = chain_key(current_app.config)
    connection = op.get_bind()
    rows = connection.execute(sa.text(
        "SELECT id, at, actor_type, actor_id, actor_label, action, outcome, target_type, target_id,"
        " tenant_id, ip, details FROM audit_event ORDER BY id"
    )).all()
    prev, seq = GENESIS_HASH, 0
    for row in rows:
        seq += 1
        link = Link(
            seq=seq,
            at=_as_utc(row.at),
            actor_type=row.actor_type,
            actor_id=row.actor_id,
            actor_label=row.actor_label,
            action=row.action,
            outcome=row.outcome,
            target_type=row.target_type,
            target_id=row.target_id,
            tenant_id=row.tenant_id,
            impersonation_id=None,
            ip=row.ip,
            details=row.details,
        )
        digest = link_hash(key, prev, link)
        connection.execute(
            sa.text("UPDATE audit_event SET seq = :seq, prev_hash = :prev, hash = :hash WHERE id = :id")
            .bindparams(seq=seq, prev=prev, hash=digest, id=row.id)
        )
        prev = digest
    return seq, prev


def _as_utc(value):
    from datetime import UTC, datetime

    if isinstance(value, str):  # SQLite hands back text from a raw query
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC)


def downgrade():
    op.drop_column('tenant_user', 'notify_on_access')
    # SQLite ≥ 3.35 drops a column in place (no copy of the referenced tables).
    op.drop_column('tenant', 'hide_justification')
    op.drop_column('tenant', 'notify_on_access_default')
    op.drop_column('impersonation', 'end_note')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_constraint('uq_audit_event_seq', type_='unique')
        batch_op.drop_index('ix_audit_event_tenant_seq')
        batch_op.drop_index('ix_audit_event_target_seq')
        batch_op.drop_index('ix_audit_event_outcome_seq')
        batch_op.drop_index('ix_audit_event_impersonation_seq')
        batch_op.drop_index('ix_audit_event_actor_seq')
        batch_op.drop_index('ix_audit_event_action_seq')
        batch_op.create_index('ix_audit_event_actor', ['actor_type', 'actor_id'], unique=False)
        batch_op.create_index('ix_audit_event_action', ['action'], unique=False)
        batch_op.drop_column('hash')
        batch_op.drop_column('prev_hash')
        batch_op.drop_column('impersonation_id')
        batch_op.drop_column('seq')
    op.drop_index('ix_outbox_message_endpoint_id', table_name='outbox_message')
    op.drop_index('ix_outbox_message_due', table_name='outbox_message')
    op.drop_table('outbox_message')
    op.drop_table('webhook_endpoint')
    op.drop_index('ix_staff_invite_staff_id', table_name='staff_invite')
    op.drop_table('staff_invite')
    op.drop_table('audit_head')
    op.drop_table('audit_checkpoint')
