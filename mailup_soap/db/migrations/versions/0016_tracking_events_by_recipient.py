"""tracking_events by recipient: ReportByUser reads one recipient's opens and clicks

Without it a recipient's events are found by scanning every event of the list's deliveries.
Built inside the migration's transaction: opens and clicks being recorded meanwhile wait
for it (a few seconds per million events).

Revision ID: 0016
Revises: 0015
"""
from __future__ import annotations

from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('tracking_events_recipient_idx', 'tracking_events',
                    ['account_id', 'recipient_id'])


def downgrade() -> None:
    op.drop_index('tracking_events_recipient_idx', table_name='tracking_events')
