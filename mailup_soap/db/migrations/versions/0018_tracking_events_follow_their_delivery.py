"""tracking_events follow their delivery: a foreign key with ON DELETE CASCADE

Removing a paused delivery that had already sent some messages (RemoveNewsletterQueue) left
their opens and clicks behind, counted by no report and never deleted. The events of
deliveries that no longer exist are deleted first (no report could show them), then the
key is added.

Revision ID: 0018
Revises: 0017
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.get_bind().execute(sa.text(
        "DELETE FROM tracking_events te WHERE NOT EXISTS "
        "(SELECT FROM deliveries d WHERE d.id = te.delivery_id)"))
    op.create_foreign_key('tracking_events_delivery_id_fkey', 'tracking_events', 'deliveries',
                          ['delivery_id'], ['id'], ondelete='CASCADE')


def downgrade() -> None:
    op.drop_constraint('tracking_events_delivery_id_fkey', 'tracking_events',
                       type_='foreignkey')
