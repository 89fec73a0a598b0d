"""import_processes.delivery_id: the SendMessageNL delivery whose sending imports the process

SendMessageNL stores its file's rows at the call and merges them at the sending time, which
may be days later. Its process used to be marked running from the call onward, and so held
its list: meanwhile StartProcess answered -601 and the daily sync left the list's files
waiting. It now stays queued (status 1), held for its delivery: a start of everything queued
leaves it out and StartProcess refuses it (-602), and the send job starts it when its time
comes. Processes of SendMessageNL calls whose job has not run yet become held queued
processes, as the new code leaves them; a process already being merged stays as it is.

Revision ID: 0014
Revises: 0013
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('import_processes', sa.Column('delivery_id', sa.BigInteger(), nullable=True))
    op.execute("""
        UPDATE import_processes p
        SET status = 1, started_at = NULL, delivery_id = (j.args->>'delivery_id')::bigint
        FROM procrastinate_jobs j
        WHERE j.task_name = 'mailup:run_message_nl' AND j.status = 'todo'
          AND (j.args->>'process_id')::bigint = p.id AND p.status = 2 AND NOT p.by_list_job""")


def downgrade() -> None:
    op.execute("""UPDATE import_processes SET status = 2, started_at = created_at
                  WHERE delivery_id IS NOT NULL AND status = 1""")
    op.drop_column('import_processes', 'delivery_id')
