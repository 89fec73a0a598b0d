"""FTP users, synced files, export profiles

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ftp_users',
    sa.Column('username', sa.Text(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('password_hash', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('username')
    )
    op.create_index(op.f('ix_ftp_users_account_id'), 'ftp_users', ['account_id'], unique=False)
    op.create_table('sync_files',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('process_id', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.Text(), server_default='importing', nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status in ('importing','done')", name='sync_files_status_check'),
    sa.ForeignKeyConstraint(['account_id', 'list_id'], ['lists.account_id', 'lists.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['process_id'], ['import_processes.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('account_id', 'list_id', 'sha256')
    )
    op.create_table('export_profiles',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('filters', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', 'name')
    )


def downgrade() -> None:
    op.drop_table('export_profiles')
    op.drop_table('sync_files')
    op.drop_index(op.f('ix_ftp_users_account_id'), table_name='ftp_users')
    op.drop_table('ftp_users')
