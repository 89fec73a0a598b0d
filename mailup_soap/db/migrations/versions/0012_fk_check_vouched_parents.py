"""foreign-key checks: a statement may name checks its transaction has already made true

An import batch inserts its new recipients, then their subscriptions. The subscriptions'
check then looks every recipient up again, by index, to find what the batch has just
inserted: about 45% of that insert's time (0.6 s per 100,000 subscriptions). The merge
counts the recipients its insert wrote against the batch's new contacts, and then names the
check in the transaction-local setting `mailup.fk_vouched`; the check returns at once for
the statements run while it names it. `db/bulk_import.py` sets it around that one
statement and resets it straight after.

Nothing else changes: a setting that does not name a check (unset, empty, another name)
leaves it as migration 0010 made it, and SET LOCAL cannot outlive the transaction.

Revision ID: 0012
Revises: 0011
"""
from __future__ import annotations

from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

BODY = r"""
CREATE OR REPLACE FUNCTION set_fk_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    me xid := pg_current_xact_id()::xid;
    wanted bigint;
    found bigint;
BEGIN
    {vouched}-- Each distinct key is looked up by the parent's unique index (OFFSET 0 keeps it a
    -- lookup whatever the planner believes about the sizes); a row of ours is taken as it
    -- is, any other is locked as a foreign key locks it. A parent deleted meanwhile is not
    -- locked, so not counted: the key is missing.
    EXECUTE format(
        'SELECT count(*), count(own.x) + count(locked.x) '
        'FROM (SELECT DISTINCT %1$s FROM new_rows) AS k '
        'LEFT JOIN LATERAL (SELECT 1 AS x FROM %2$I AS p WHERE %3$s AND p.xmin = $1 '
        '                   OFFSET 0) AS own ON true '
        'LEFT JOIN LATERAL (SELECT 1 AS x FROM %2$I AS p WHERE own.x IS NULL AND %3$s '
        '                   AND p.xmin <> $1 OFFSET 0 FOR KEY SHARE) AS locked ON true',
        TG_ARGV[1], TG_ARGV[0], set_fk_join('k', TG_ARGV[1], 'p', TG_ARGV[2]))
        INTO wanted, found USING me;
    IF found < wanted THEN
        RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%"',
                        TG_TABLE_NAME, TG_NAME
              USING ERRCODE = 'foreign_key_violation', TABLE = TG_TABLE_NAME,
                    CONSTRAINT = TG_NAME;
    END IF;
    RETURN NULL;
END $$;
"""

VOUCHED = r"""-- The statement's caller has made this check true itself (see migration 0012).
    IF TG_NAME = ANY (string_to_array(current_setting('mailup.fk_vouched', true), ',')) THEN
        RETURN NULL;
    END IF;
    """


def upgrade() -> None:
    op.execute(BODY.replace("{vouched}", VOUCHED))


def downgrade() -> None:
    op.execute(BODY.replace("{vouched}", ""))
