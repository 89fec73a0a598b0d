"""procrastinate's job queue schema

Revision ID: 0002
Revises: 0001

The schema of the procrastinate version pinned in setup.cfg. Upgrading procrastinate means
adding a revision that runs its migration files (procrastinate/sql/migrations) in order.
"""
from __future__ import annotations

from alembic import op
from procrastinate.schema import SchemaManager

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Straight to the DB-API cursor without parameters: nothing parses the schema's "::" casts
    # or "%" signs as bind parameters.
    cursor = op.get_bind().connection.cursor()
    try:
        cursor.execute(SchemaManager.get_schema())
    finally:
        cursor.close()


def downgrade() -> None:
    raise NotImplementedError("procrastinate's schema is not removed by a downgrade")
