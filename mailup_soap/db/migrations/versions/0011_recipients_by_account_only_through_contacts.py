"""recipients: drop the unique (account_id, id) index, so that an email or number lookup
cannot be planned as a scan of the account's recipients

A recipient is found by email through recipients_email_key (account_id, lower(email)) and by
number through recipients_mobile_idx (account_id, mobile_number). The unique index on
(account_id, id) also starts with account_id: when the statistics do not know an account yet
(its recipients arrived since the last ANALYZE, as in any account's first big import), the
planner believes the account has one recipient, prices both indexes the same and may take
(account_id, id), reading every recipient of the account and filtering on the email, once
per row looked up. An import of 25,000 rows into an account holding 60,000 then ran for
more than 14 minutes in its first statement.

Nothing needs the index otherwise: the primary key finds a recipient by id (the account is
then a filter on one row), no foreign key constraint refers to it (the references are
checked by triggers, migration 0006), and deleting an account, the one statement that
selects recipients by account alone, reads the table once.

Revision ID: 0011
Revises: 0010
"""
from __future__ import annotations

from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint('recipients_account_id_key', 'recipients', type_='unique')


def downgrade() -> None:
    op.create_unique_constraint('recipients_account_id_key', 'recipients', ['account_id', 'id'])
