"""import_processes.by_list_job: whether a worker's job holding the list's lock merges it

A list's import processes run one at a time. Those started through the Import service are
merged by jobs under one procrastinate lock per list, so starting everything queued may
line several up behind a running one. The daily sync, `mailup-soap import` and SendMessageNL
merge theirs otherwise (in their own process, or in a send job), and nothing lines up behind
those: while one runs, a start of everything queued must refuse (-601). This column tells
the two apart; rows that exist already read as merged otherwise, the cautious answer.

Revision ID: 0013
Revises: 0012
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('import_processes', sa.Column('by_list_job', sa.Boolean(), nullable=False,
                                                server_default=sa.text('false')))


def downgrade() -> None:
    op.drop_column('import_processes', 'by_list_job')
