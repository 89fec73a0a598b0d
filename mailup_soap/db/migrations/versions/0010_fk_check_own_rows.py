"""foreign-key checks: no lock on a parent row this transaction wrote; one pass over the keys

A parent row whose version this transaction created (inserted, or updated and so already
locked by the update) cannot be deleted or have its key changed by anyone else before we
commit: other transactions either do not see it or wait for our lock. Locking it FOR KEY
SHARE again only costs a write and a WAL record per row: an import's subscriptions point at
the recipients the same batch created. Other parent rows are locked as before. The keys are
scanned once instead of twice.

Revision ID: 0010
Revises: 0009
"""
from __future__ import annotations

from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

CHECK = r"""
CREATE OR REPLACE FUNCTION set_fk_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    me xid := pg_current_xact_id()::xid;
    wanted bigint;
    found bigint;
BEGIN
    -- Each distinct key is looked up by the parent's unique index (OFFSET 0 keeps it a
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

PREVIOUS = r"""
CREATE OR REPLACE FUNCTION set_fk_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    keys text := format('(SELECT DISTINCT %s FROM new_rows) AS k', TG_ARGV[1]);
    wanted bigint;
    found bigint;
BEGIN
    EXECUTE format('SELECT (SELECT count(*) FROM %s), (SELECT count(*) FROM %s '
                   'CROSS JOIN LATERAL (SELECT 1 FROM %I AS p WHERE %s OFFSET 0 '
                   'FOR KEY SHARE) AS l)', keys, keys, TG_ARGV[0],
                   set_fk_join('k', TG_ARGV[1], 'p', TG_ARGV[2])) INTO wanted, found;
    IF found < wanted THEN
        RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%"',
                        TG_TABLE_NAME, TG_NAME
              USING ERRCODE = 'foreign_key_violation', TABLE = TG_TABLE_NAME,
                    CONSTRAINT = TG_NAME;
    END IF;
    RETURN NULL;
END $$;
"""


def upgrade() -> None:
    op.execute(CHECK)


def downgrade() -> None:
    op.execute(PREVIOUS)
