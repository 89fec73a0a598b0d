"""credits per account and channel; message templates

Revision ID: 0009
Revises: 0008
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('accounts', sa.Column('email_credits', sa.BigInteger(), nullable=True))
    op.add_column('accounts', sa.Column('sms_credits', sa.BigInteger(), nullable=True))
    op.create_check_constraint('accounts_credits_check', 'accounts',
                               'email_credits >= 0 and sms_credits >= 0')
    op.add_column('messages', sa.Column('is_template', sa.Boolean(), server_default=sa.false(),
                                        nullable=False))


def downgrade() -> None:
    op.drop_column('messages', 'is_template')
    op.drop_constraint('accounts_credits_check', 'accounts', type_='check')
    op.drop_column('accounts', 'sms_credits')
    op.drop_column('accounts', 'email_credits')
