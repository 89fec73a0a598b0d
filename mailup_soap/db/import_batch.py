"""The batch of an import's merge (db.bulk_import): the temporary table `ib` of a batch's
staged rows, one per contact, with the recipient each matches, its state in the list and
the transition the process's options give it; and the lane a staged row belongs to."""
from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mailup_soap.domain.imports import REMOVE, ImportOptions, row_status_tables
from mailup_soap.domain.lifecycle import Outcome


def transitions(opts: ImportOptions) -> str:
    """The transition table joined in SQL, per row status: the process's options for rows
    without one, and the options each CSV `status` value stands for (domain.imports)."""
    table = [{"row_status": row_status, "state": state,
              "status": t.status.value if t.status else None,
              "event": t.event.value if t.event else None, "confirm": t.send_confirmation,
              "remove": t is REMOVE}
             for row_status, by_state in row_status_tables(opts).items()
             for state, t in by_state.items()
             if t.outcome is Outcome.CHANGED or t.send_confirmation]
    return json.dumps(table)


def _sequence(conn: Connection) -> str:
    """The recipients' id sequence as a regclass literal (folded to its OID once per
    statement, where nextval(pg_get_serial_sequence(...)) resolves the name per row)."""
    name = conn.execute(sa.text("SELECT pg_get_serial_sequence('recipients', 'id')")).scalar_one()
    return "'" + str(name).replace("'", "''") + "'::regclass"


# The batch: one row per contact (the last of a contact's rows wins), with the recipient it
# matches, a new id for a contact nobody has, its state in the list and the transition that
# state and the row's status call for. Each lookup is a subquery run for the rows that need
# it, by index (as joins, the planner hashed every recipient of the account once per batch);
# OFFSET 0 keeps each computed once per row. The personal fields stay in import_rows
# (fetched by the row's address, `staged`, where db.bulk_import writes them): carrying
# them through every step of this statement cost as much as the lookups. Every later
# statement reads this table.
_BATCH = """
CREATE TEMP TABLE ib ON COMMIT DROP AS
SELECT found.*,
       COALESCE(found_id, CASE WHEN found.row_status <> 'delete' THEN nextval({seq}) END)
           AS recipient_id,
       found_id IS NULL AND found.row_status <> 'delete' AS inserted,
       t.status AS new_status, t.event, COALESCE(t.confirm, false) AS confirm,
       COALESCE(t.remove, false) AS remove
FROM (SELECT rows.*,
             CASE WHEN found_id IS NULL THEN 'new' ELSE COALESCE((
                 SELECT CASE WHEN s.status = 'unsubscribed' AND s.unsubscribe_reason IN (8, 16)
                             THEN 'final' ELSE s.status END
                 FROM subscriptions s
                 WHERE s.account_id = :a AND s.list_id = :l AND s.recipient_id = found_id),
                 'new') END AS state
      FROM (SELECT rows.*,
                   CASE WHEN email IS NOT NULL
                        THEN (SELECT r.id FROM recipients r
                              WHERE r.account_id = :a AND r.email IS NOT NULL
                                AND lower(r.email) = lower(rows.email))
                        ELSE (SELECT min(r.id) FROM recipients r
                              WHERE r.account_id = :a AND r.mobile_number = rows.mobile_number)
                   END AS found_id
            FROM (SELECT DISTINCT ON (COALESCE(lower(email), mobile_number))
                         ctid AS staged, row_no, email, mobile_number, groups,
                         COALESCE(status, '') AS row_status
                  FROM import_rows
                  WHERE process_id = :p AND row_no > :lo AND row_no <= :hi
                    AND problem IS NULL AND {lane}
                  ORDER BY COALESCE(lower(email), mobile_number), row_no DESC) AS rows
            OFFSET 0) AS rows
      OFFSET 0) AS found
LEFT JOIN jsonb_to_recordset(CAST(:table AS jsonb))
          AS t(row_status text, state text, status text, event text, confirm boolean,
               remove boolean)
       ON t.state = found.state AND t.row_status = found.row_status"""


# The lane of a staged row: its contact's, a hash of the key the batch groups a contact's
# rows by. hashtextextended is the hash of PostgreSQL's hash partitioning, which keeps it
# stable across versions (partitions on disk depend on it), so a process resumed after an
# upgrade still finds each contact in its lane.
LANE_OF_ROW = "abs(hashtextextended(COALESCE(lower(email), mobile_number), 0) % :lanes)"


def batch_statement(conn: Connection, lanes: int) -> str:
    """_BATCH for a process merged in `lanes` lanes (the lane is the parameter :lane)."""
    return (_BATCH.replace("{seq}", _sequence(conn))
            .replace("{lane}", "true" if lanes == 1 else f"{LANE_OF_ROW} = :lane"))
