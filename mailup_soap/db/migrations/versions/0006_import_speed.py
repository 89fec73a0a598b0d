"""import speed: the foreign keys the import writes through per row are checked per statement

A foreign key checks each inserted row on its own (a query and a row lock per row): a fifth
of an import's merge time. The constraints below become statement-level triggers that do the
same with one set-based query per statement, over the statement's transition table:

- insert into the child: the distinct keys are locked FOR KEY SHARE in the parent, as a
  foreign key locks them (a concurrent delete of a parent waits for our commit), and a key
  with no parent row raises foreign_key_violation (SQLSTATE 23503), as a foreign key does;
- delete from the parent: the children go in the same statement (ON DELETE CASCADE);
- the key columns of child and parent rows never change (they are identities here): an
  update that changes them raises, where a foreign key would refuse or allow it depending
  on the rows referenced.

The child keys still include account_id, so a row cannot point across accounts. The
application runs READ COMMITTED (db/unit_of_work.py): the cascade's DELETE sees the children
committed while it waited for their locks, as the native cascade does.

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

# (constraint, child, child columns, parent, parent columns)
FOREIGN_KEYS = [
    ("recipients_account_id_fkey", "recipients", "account_id", "accounts", "id"),
    ("events_account_id_fkey", "events", "account_id", "accounts", "id"),
    ("subscriptions_account_id_list_id_fkey", "subscriptions", "account_id,list_id",
     "lists", "account_id,id"),
    ("subscriptions_account_id_recipient_id_fkey", "subscriptions", "account_id,recipient_id",
     "recipients", "account_id,id"),
    ("group_members_account_id_group_id_fkey", "group_members", "account_id,group_id",
     "groups", "account_id,id"),
    ("group_members_account_id_recipient_id_fkey", "group_members", "account_id,recipient_id",
     "recipients", "account_id,id"),
    ("import_rows_process_id_fkey", "import_rows", "process_id", "import_processes", "id"),
]

FUNCTIONS = r"""
CREATE FUNCTION set_fk_join(child_alias text, child_cols text, parent_alias text,
                            parent_cols text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT string_agg(format('%I.%I = %I.%I', parent_alias, p, child_alias, c), ' AND ')
    FROM unnest(string_to_array(parent_cols, ','), string_to_array(child_cols, ',')) AS u(p, c)
$$;

-- AFTER INSERT ... REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT;
-- arguments: parent table, child columns, parent columns.
CREATE FUNCTION set_fk_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    keys text := format('(SELECT DISTINCT %s FROM new_rows) AS k', TG_ARGV[1]);
    wanted bigint;
    found bigint;
BEGIN
    -- One parent row per key, looked up by its unique index (OFFSET 0 keeps it a lookup
    -- whatever the planner believes about the sizes) and locked as a foreign key locks it.
    -- A parent deleted meanwhile is not locked, so not counted: the key is missing.
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

-- AFTER DELETE ON parent REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT;
-- arguments: child table, child columns, parent columns.
CREATE FUNCTION set_fk_cascade() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('DELETE FROM %I AS c USING (SELECT DISTINCT %s FROM old_rows) AS o WHERE %s',
                   TG_ARGV[0], TG_ARGV[2], set_fk_join('c', TG_ARGV[1], 'o', TG_ARGV[2]));
    RETURN NULL;
END $$;

-- BEFORE UPDATE OF the key columns, FOR EACH ROW WHEN they change.
CREATE FUNCTION set_fk_key_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the key columns of "%" never change (%)', TG_TABLE_NAME, TG_NAME
          USING ERRCODE = 'foreign_key_violation', TABLE = TG_TABLE_NAME;
END $$;
"""


def _changed(cols: str) -> str:
    names = cols.split(",")
    return (f"(({', '.join(f'OLD.{c}' for c in names)}) IS DISTINCT FROM "
            f"({', '.join(f'NEW.{c}' for c in names)}))")


def upgrade() -> None:
    op.execute(FUNCTIONS)
    fixed: set[tuple[str, str]] = set()
    for name, child, child_cols, parent, parent_cols in FOREIGN_KEYS:
        op.execute(f"ALTER TABLE {child} DROP CONSTRAINT {name}")
        op.execute(f"CREATE TRIGGER {name} AFTER INSERT ON {child} "
                   "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
                   f"EXECUTE FUNCTION set_fk_check('{parent}', '{child_cols}', '{parent_cols}')")
        op.execute(f"CREATE TRIGGER {name}_cascade AFTER DELETE ON {parent} "
                   "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
                   f"EXECUTE FUNCTION set_fk_cascade('{child}', '{child_cols}', '{parent_cols}')")
        for table, cols in ((child, child_cols), (parent, parent_cols)):
            if (table, cols) not in fixed:
                fixed.add((table, cols))
                op.execute(f"CREATE TRIGGER {table}_{cols.replace(',', '_')}_fixed "
                           f"BEFORE UPDATE OF {cols} ON {table} FOR EACH ROW "
                           f"WHEN {_changed(cols)} EXECUTE FUNCTION set_fk_key_fixed()")


def downgrade() -> None:
    fixed: set[tuple[str, str]] = set()
    for name, child, child_cols, parent, parent_cols in FOREIGN_KEYS:
        op.execute(f"DROP TRIGGER {name} ON {child}")
        op.execute(f"DROP TRIGGER {name}_cascade ON {parent}")
        for table, cols in ((child, child_cols), (parent, parent_cols)):
            if (table, cols) not in fixed:
                fixed.add((table, cols))
                op.execute(f"DROP TRIGGER {table}_{cols.replace(',', '_')}_fixed ON {table}")
        op.execute(f"ALTER TABLE {child} ADD CONSTRAINT {name} FOREIGN KEY ({child_cols}) "
                   f"REFERENCES {parent} ({parent_cols}) ON DELETE CASCADE")
    op.execute("DROP FUNCTION set_fk_key_fixed(), set_fk_cascade(), set_fk_check(), "
               "set_fk_join(text, text, text, text)")
