"""import processes

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('import_processes',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.SmallInteger(), server_default='1', nullable=False),
    sa.Column('options', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('source', sa.Text(), server_default='API', nullable=False),
    sa.Column('rows_staged', sa.Integer(), server_default='0', nullable=False),
    sa.Column('rows_done', sa.Integer(), server_default='0', nullable=False),
    sa.Column('total', sa.Integer(), server_default='0', nullable=False),
    sa.Column('new_email', sa.Integer(), server_default='0', nullable=False),
    sa.Column('new_mobile', sa.Integer(), server_default='0', nullable=False),
    sa.Column('existing_email', sa.Integer(), server_default='0', nullable=False),
    sa.Column('existing_mobile', sa.Integer(), server_default='0', nullable=False),
    sa.Column('opt_out_email', sa.Integer(), server_default='0', nullable=False),
    sa.Column('opt_out_mobile', sa.Integer(), server_default='0', nullable=False),
    sa.Column('rejected_email', sa.Integer(), server_default='0', nullable=False),
    sa.Column('rejected_mobile', sa.Integer(), server_default='0', nullable=False),
    sa.Column('rejected_other', sa.Integer(), server_default='0', nullable=False),
    sa.Column('confirmations', sa.Integer(), server_default='0', nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('status between 1 and 4', name='import_processes_status_check'),
    sa.ForeignKeyConstraint(['account_id', 'list_id'], ['lists.account_id', 'lists.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('import_processes_list_idx', 'import_processes', ['account_id', 'list_id', 'status'], unique=False)
    op.create_table('import_rows',
    sa.Column('process_id', sa.BigInteger(), nullable=False),
    sa.Column('row_no', sa.Integer(), nullable=False),
    sa.Column('email', sa.Text(), nullable=True),
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
    sa.Column('status', sa.Text(), nullable=True),
    sa.Column('groups', sa.Text(), nullable=True),
    sa.Column('problem', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['process_id'], ['import_processes.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('process_id', 'row_no')
    )
    op.drop_index(op.f('recipients_mobile_key'), table_name='recipients', postgresql_where='(mobile_number IS NOT NULL)')
    op.create_index('recipients_mobile_idx', 'recipients', ['account_id', 'mobile_number'], unique=False, postgresql_where=sa.text('mobile_number IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('recipients_mobile_idx', table_name='recipients', postgresql_where=sa.text('mobile_number IS NOT NULL'))
    op.create_index(op.f('recipients_mobile_key'), 'recipients', ['account_id', 'mobile_prefix', 'mobile_number'], unique=True, postgresql_where='(mobile_number IS NOT NULL)')
    op.drop_table('import_rows')
    op.drop_index('import_processes_list_idx', table_name='import_processes')
    op.drop_table('import_processes')
