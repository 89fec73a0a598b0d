"""import_processes.lanes_done, rows_by_number: a large process merges in lanes

A large process is merged in lanes: its contacts are split by a hash of their address, and
each lane merges its share batch by batch on a connection of its own, so a process uses more
than one core. Every contact belongs to one lane, so a contact's rows are still merged in
row order. Each lane records how far it got (rows up to that row number), and `rows_done`
is the least of them. NULL until the process's first run decides how many lanes it has; a
process left half merged before this revision gets its lanes at its next run, each starting
after its `rows_done`.

import_processes.rows_by_number: how many valid rows give a contact by mobile number alone,
counted as the rows are stored. Such a process merges in one lane (a row found by number
may be the recipient another lane is giving that number to). NULL for processes stored
before this revision: their rows are looked at instead.

Revision ID: 0015
Revises: 0014
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('import_processes',
                  sa.Column('lanes_done', sa.ARRAY(sa.Integer()), nullable=True))
    op.add_column('import_processes',
                  sa.Column('rows_by_number', sa.Integer(), nullable=True))


def downgrade() -> None:
    # One progress per process cannot say which rows a lane merged beyond the others, and
    # merging those again is not harmless (asPending moves a pending contact on to
    # subscribed). A process whose lanes stand at different rows must finish first.
    uneven = op.get_bind().execute(sa.text(
        "SELECT array_agg(id ORDER BY id) FROM import_processes WHERE status = 2 "
        "AND (SELECT min(d) <> max(d) FROM unnest(lanes_done) AS d)")).scalar_one()
    if uneven:
        raise RuntimeError(f"import processes {uneven} are being merged in lanes that stand at "
                           "different rows: let them finish before downgrading below 0015")
    op.drop_column('import_processes', 'rows_by_number')
    op.drop_column('import_processes', 'lanes_done')
