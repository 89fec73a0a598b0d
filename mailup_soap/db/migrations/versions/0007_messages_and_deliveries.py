"""messages, deliveries, delivery recipients, tracking events

Revision ID: 0007
Revises: 0006
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('messages',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('content_type', sa.Text(), nullable=False),
    sa.Column('html', sa.Text(), nullable=False),
    sa.Column('note', sa.Text(), server_default='', nullable=False),
    sa.Column('dynamic_fields', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('link_tracking', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('cloned_from', sa.BigInteger(), nullable=True),
    sa.Column('created_at', TS, server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', TS, server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("content_type in ('HTML','TEXT')", name='messages_content_type_check'),
    sa.ForeignKeyConstraint(['account_id', 'list_id'], ['lists.account_id', 'lists.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('account_id', 'id', name='messages_account_id_key')
    )
    op.create_index('messages_list_idx', 'messages', ['account_id', 'list_id'], unique=False)
    op.create_table('deliveries',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('from_email', sa.Text(), nullable=False),
    sa.Column('from_name', sa.Text(), nullable=False),
    sa.Column('total', sa.Integer(), server_default='0', nullable=False),
    sa.Column('sent', sa.Integer(), server_default='0', nullable=False),
    sa.Column('failed', sa.Integer(), server_default='0', nullable=False),
    sa.Column('skipped', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', TS, server_default=sa.text('now()'), nullable=False),
    sa.Column('scheduled_at', TS, nullable=False),
    sa.Column('started_at', TS, nullable=True),
    sa.Column('completed_at', TS, nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.CheckConstraint("status in ('scheduled','sending','paused','completed')", name='deliveries_status_check'),
    sa.ForeignKeyConstraint(['account_id', 'message_id'], ['messages.account_id', 'messages.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('account_id', 'id', name='deliveries_account_id_key')
    )
    op.create_index('deliveries_account_idx', 'deliveries', ['account_id', 'status'], unique=False)
    op.create_table('delivery_recipients',
    sa.Column('delivery_id', sa.BigInteger(), nullable=False),
    sa.Column('recipient_id', sa.BigInteger(), nullable=False),
    sa.Column('state', sa.Text(), server_default='pending', nullable=False),
    sa.Column('sent_at', TS, nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.CheckConstraint("state in ('pending','sent','failed','skipped')", name='delivery_recipients_state_check'),
    sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('delivery_id', 'recipient_id')
    )
    op.create_index('delivery_recipients_pending_idx', 'delivery_recipients', ['delivery_id', 'recipient_id'], unique=False, postgresql_where=sa.text("state = 'pending'"))
    op.create_table('tracking_events',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('delivery_id', sa.BigInteger(), nullable=False),
    sa.Column('recipient_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('ip', sa.Text(), nullable=True),
    sa.Column('occurred_at', TS, nullable=False),
    sa.CheckConstraint("kind in ('open','click')", name='tracking_events_kind_check'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('tracking_events_delivery_idx', 'tracking_events', ['account_id', 'delivery_id'], unique=False)


def downgrade() -> None:
    op.drop_index('tracking_events_delivery_idx', table_name='tracking_events')
    op.drop_table('tracking_events')
    op.drop_index('delivery_recipients_pending_idx', table_name='delivery_recipients')
    op.drop_table('delivery_recipients')
    op.drop_index('deliveries_account_idx', table_name='deliveries')
    op.drop_table('deliveries')
    op.drop_index('messages_list_idx', table_name='messages')
    op.drop_table('messages')
