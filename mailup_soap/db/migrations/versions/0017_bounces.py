"""bounces: the bounces read back from return paths

One row per delivery status notification that `mailup-soap inbound-mail` read for a return
path of ours: soft ones are counted towards unsubscribing with reason 512 (repeated soft
bounces), and ReportByUser dates the last one.

Revision ID: 0017
Revises: 0016
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'bounces',
        sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('delivery_id', sa.BigInteger(), nullable=False),
        sa.Column('recipient_id', sa.BigInteger(), nullable=False),
        sa.Column('kind', sa.Text(), nullable=False),
        sa.Column('status', sa.Text(), nullable=False),
        sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind in ('hard','soft')", name='bounces_kind_check'),
        sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'))
    op.create_index('bounces_recipient_idx', 'bounces', ['account_id', 'recipient_id'])


def downgrade() -> None:
    op.drop_index('bounces_recipient_idx', table_name='bounces')
    op.drop_table('bounces')
