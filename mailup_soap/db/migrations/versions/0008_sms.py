"""SMS: messages and deliveries get a channel ('email' | 'sms'); direct SMS deliveries carry
their text and no message; delivery recipients get a number and the gateway's message id

Revision ID: 0008
Revises: 0007
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('messages', sa.Column('channel', sa.Text(), server_default='email',
                                        nullable=False))
    op.create_check_constraint('messages_channel_check', 'messages',
                               "channel in ('email','sms')")
    op.add_column('deliveries', sa.Column('channel', sa.Text(), server_default='email',
                                          nullable=False))
    op.add_column('deliveries', sa.Column('sms_text', sa.Text(), nullable=True))
    op.alter_column('deliveries', 'message_id', existing_type=sa.BigInteger(), nullable=True)
    op.create_check_constraint('deliveries_channel_check', 'deliveries',
                               "channel in ('email','sms')")
    op.create_check_constraint('deliveries_message_check', 'deliveries',
                               "channel = 'sms' or message_id is not null")
    op.add_column('delivery_recipients', sa.Column('number', sa.Text(), nullable=True))
    op.add_column('delivery_recipients', sa.Column('gateway_id', sa.Text(), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM deliveries WHERE channel = 'sms'")
    op.execute("DELETE FROM messages WHERE channel = 'sms'")
    op.drop_column('delivery_recipients', 'gateway_id')
    op.drop_column('delivery_recipients', 'number')
    op.drop_constraint('deliveries_message_check', 'deliveries', type_='check')
    op.drop_constraint('deliveries_channel_check', 'deliveries', type_='check')
    op.alter_column('deliveries', 'message_id', existing_type=sa.BigInteger(), nullable=False)
    op.drop_column('deliveries', 'sms_text')
    op.drop_column('deliveries', 'channel')
    op.drop_constraint('messages_channel_check', 'messages', type_='check')
    op.drop_column('messages', 'channel')
