"""initial schema

Revision ID: 0001
Revises: 
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('accounts',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('console_host', sa.Text(), nullable=False),
    sa.Column('ws_enabled', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('ws_active', sa.Boolean(), server_default=sa.text('true'), nullable=False),
    sa.Column('next_list_id', sa.Integer(), server_default='1', nullable=False),
    sa.Column('next_group_id', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status in ('active','suspended','inactive','expired')", name='accounts_status_check'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('console_host')
    )
    op.create_table('events',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('recipient_id', sa.BigInteger(), nullable=True),
    sa.Column('type', sa.Text(), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('reason', sa.Integer(), nullable=True),
    sa.Column('email', sa.Text(), nullable=True),
    sa.Column('mobile_prefix', sa.Text(), nullable=True),
    sa.Column('mobile_number', sa.Text(), nullable=True),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("type in ('subscription_requested','subscription_confirmed','unsubscribed','removed','profile_changed')", name='events_type_check'),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('events_account_idx', 'events', ['account_id', 'id'], unique=False)
    op.create_table('fields',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.CheckConstraint('id between 1 and 39', name='fields_id_check'),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', 'id')
    )
    op.create_table('lists',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('guid', sa.UUID(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('options', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('auto_id', sa.Text(), server_default='', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', 'id'),
    sa.UniqueConstraint('guid')
    )
    op.create_table('recipients',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.Text(), nullable=True),
    sa.Column('mobile_prefix', sa.Text(), nullable=True),
    sa.Column('mobile_number', sa.Text(), nullable=True),
    sa.Column('field1', sa.Text(), nullable=True),
    sa.Column('field2', sa.Text(), nullable=True),
    sa.Column('field3', sa.Text(), nullable=True),
    sa.Column('field4', sa.Text(), nullable=True),
    sa.Column('field5', sa.Text(), nullable=True),
    sa.Column('field6', sa.Text(), nullable=True),
    sa.Column('field7', sa.Text(), nullable=True),
    sa.Column('field8', sa.Text(), nullable=True),
    sa.Column('field9', sa.Text(), nullable=True),
    sa.Column('field10', sa.Text(), nullable=True),
    sa.Column('field11', sa.Text(), nullable=True),
    sa.Column('field12', sa.Text(), nullable=True),
    sa.Column('field13', sa.Text(), nullable=True),
    sa.Column('field14', sa.Text(), nullable=True),
    sa.Column('field15', sa.Text(), nullable=True),
    sa.Column('field16', sa.Text(), nullable=True),
    sa.Column('field17', sa.Text(), nullable=True),
    sa.Column('field18', sa.Text(), nullable=True),
    sa.Column('field19', sa.Text(), nullable=True),
    sa.Column('field20', sa.Text(), nullable=True),
    sa.Column('field21', sa.Text(), nullable=True),
    sa.Column('field22', sa.Text(), nullable=True),
    sa.Column('field23', sa.Text(), nullable=True),
    sa.Column('field24', sa.Text(), nullable=True),
    sa.Column('field25', sa.Text(), nullable=True),
    sa.Column('field26', sa.Text(), nullable=True),
    sa.Column('field27', sa.Text(), nullable=True),
    sa.Column('field28', sa.Text(), nullable=True),
    sa.Column('field29', sa.Text(), nullable=True),
    sa.Column('field30', sa.Text(), nullable=True),
    sa.Column('field31', sa.Text(), nullable=True),
    sa.Column('field32', sa.Text(), nullable=True),
    sa.Column('field33', sa.Text(), nullable=True),
    sa.Column('field34', sa.Text(), nullable=True),
    sa.Column('field35', sa.Text(), nullable=True),
    sa.Column('field36', sa.Text(), nullable=True),
    sa.Column('field37', sa.Text(), nullable=True),
    sa.Column('field38', sa.Text(), nullable=True),
    sa.Column('field39', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('email is not null or mobile_number is not null', name='recipients_contact_check'),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('account_id', 'id', name='recipients_account_id_key')
    )
    op.create_index('recipients_email_key', 'recipients', ['account_id', sa.literal_column('lower(email)')], unique=True, postgresql_where=sa.text('email IS NOT NULL'))
    op.create_index('recipients_mobile_key', 'recipients', ['account_id', 'mobile_prefix', 'mobile_number'], unique=True, postgresql_where=sa.text('mobile_number IS NOT NULL'))
    op.create_table('users',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('username', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('password_hash', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind in ('console','ws')", name='users_kind_check'),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )
    op.create_table('access_keys',
    sa.Column('key_hash', sa.Text(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('key_hash')
    )
    op.create_index(op.f('ix_access_keys_expires_at'), 'access_keys', ['expires_at'], unique=False)
    op.create_table('groups',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('notes', sa.Text(), server_default='', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['account_id', 'list_id'], ['lists.account_id', 'lists.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', 'id'),
    sa.UniqueConstraint('account_id', 'list_id', 'name', name='groups_name_key')
    )
    op.create_table('subscriptions',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('recipient_id', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('subscribed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('unsubscribed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('unsubscribe_reason', sa.Integer(), nullable=True),
    sa.Column('unsubscribe_source', sa.Text(), nullable=True),
    sa.Column('optout_message_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("status in ('pending','subscribed','unsubscribed')", name='subscriptions_status_check'),
    sa.ForeignKeyConstraint(['account_id', 'list_id'], ['lists.account_id', 'lists.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['account_id', 'recipient_id'], ['recipients.account_id', 'recipients.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', 'list_id', 'recipient_id')
    )
    op.create_index('subscriptions_recipient_idx', 'subscriptions', ['account_id', 'recipient_id'], unique=False)
    op.create_index('subscriptions_unsubscribed_idx', 'subscriptions', ['account_id', 'list_id', 'unsubscribed_at'], unique=False, postgresql_where=sa.text("status = 'unsubscribed'"))
    op.create_table('group_members',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('recipient_id', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['account_id', 'group_id'], ['groups.account_id', 'groups.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['account_id', 'recipient_id'], ['recipients.account_id', 'recipients.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', 'group_id', 'recipient_id')
    )
    op.create_index('group_members_recipient_idx', 'group_members', ['account_id', 'recipient_id'], unique=False)


def downgrade() -> None:
    op.drop_index('group_members_recipient_idx', table_name='group_members')
    op.drop_table('group_members')
    op.drop_index('subscriptions_unsubscribed_idx', table_name='subscriptions', postgresql_where=sa.text("status = 'unsubscribed'"))
    op.drop_index('subscriptions_recipient_idx', table_name='subscriptions')
    op.drop_table('subscriptions')
    op.drop_table('groups')
    op.drop_index(op.f('ix_access_keys_expires_at'), table_name='access_keys')
    op.drop_table('access_keys')
    op.drop_table('users')
    op.drop_index('recipients_mobile_key', table_name='recipients', postgresql_where=sa.text('mobile_number IS NOT NULL'))
    op.drop_index('recipients_email_key', table_name='recipients', postgresql_where=sa.text('email IS NOT NULL'))
    op.drop_table('recipients')
    op.drop_table('lists')
    op.drop_table('fields')
    op.drop_index('events_account_idx', table_name='events')
    op.drop_table('events')
    op.drop_table('accounts')
