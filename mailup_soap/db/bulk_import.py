"""The set-based import engine's merge: the rows a process staged in `import_rows`
(db.import_staging) go into recipients, subscriptions, groups and events in batches, one
transaction per batch, with SQL statements that each handle the whole batch (no per-row
round trips).

A batch commits with the process's progress (`rows_done`) and counters, so a worker killed
in the middle loses at most its open batch, which is rolled back; the retried job starts at
the next batch and ends in the state a clean run gives."""
from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mailup_soap.db import events, lookups
from mailup_soap.db.import_batch import batch_statement, transitions
from mailup_soap.db.import_staging import FIELDS
from mailup_soap.domain.imports import REMOVE, ImportOptions, row_status_tables
from mailup_soap.domain.lifecycle import Outcome
from mailup_soap.domain.model import ChangeSource, EventType

CONFIRM_TASK = "mailup:send_confirmation"
MAIL_QUEUE = "mail"


def _field_expr(name: str, empty_clears: bool) -> str:
    if empty_clears:  # importType 4..6: an empty element clears, a missing one keeps
        return f"CASE WHEN b.{name} IS NULL THEN r.{name} ELSE NULLIF(b.{name}, '') END"
    return f"COALESCE(NULLIF(b.{name}, ''), r.{name})"


# The check of subscriptions' recipients (migration 0006), which the merge vouches for when
# it subscribes the recipients it has just inserted.
_NEW_RECIPIENTS_CHECK = "subscriptions_account_id_recipient_id_fkey"

# A batch row's personal fields, fetched from import_rows by the address the batch read
# it at (a TID scan: the primary key's btree cost the recipients' insert and update about
# 15% more). Staged rows are never updated, and this transaction has read them since: no
# VACUUM FULL or CLUSTER can move them before it ends. The key is checked as well, so a row
# deleted and its slot reused meanwhile is missed (as by a lookup by key), never mistaken.
# Not a join: the statistics of a process's rows are stale while it is merged (a few rows
# where there are 25,000), and a loop over them scanning the batch for each is a plan the
# planner can pick.
_STAGED = ("SELECT * FROM import_rows {alias} WHERE {alias}.ctid = ib.staged "
           "AND {alias}.process_id = :p AND {alias}.row_no = ib.row_no OFFSET 0")


def merge_batch(conn: Connection, process_id: int, account_id: int, list_id: int,
                opts: ImportOptions, low: int, high: int, source: ChangeSource,
                now: dt.datetime, lane: int = 0, lanes: int = 1) -> int:
    """Merge the staged rows low < row_no <= high of lane `lane` (of `lanes`, see
    import_batch.LANE_OF_ROW) and record the lane's progress, in the caller's transaction
    (see the module docstring). Returns the process's progress: the least of its lanes'."""
    p = {"p": process_id, "a": account_id, "l": list_id, "lo": low, "hi": high, "now": now,
         "source": source.value, "groups": list(opts.group_ids), "table": transitions(opts),
         "lane": lane, "lanes": lanes}
    run = _runner(conn, p)
    # The planner's cost estimates for these statements (lookups it cannot prove unique,
    # transition tables) are large enough to trigger JIT compilation with inlining and
    # optimisation: seconds per statement, far more than the statements themselves take.
    run("SET LOCAL jit = off")
    # The batch's sort and hashes fit in memory instead of spilling to temporary files.
    run("SET LOCAL work_mem = '64MB'")
    run(batch_statement(conn, lanes))
    # What the batch holds, in one read of it: the statements for what it lacks are skipped.
    # Read before the deletion just below, which removes no new contact: a flag may then be
    # true for a row no longer there, which costs a statement that finds nothing.
    batch = run(_CONTENTS).one()
    # A row with only a number finds a recipient by it, and that recipient may be the one
    # an email row of the batch found too: the later row wins, as for any contact given
    # twice (one subscription cannot be written twice by one statement).
    if batch.by_number:
        run("""DELETE FROM ib USING ib AS later
               WHERE ib.recipient_id = later.recipient_id AND ib.row_no < later.row_no""")
    _insert_recipients(run, process_id, batch.new)
    if batch.existing:
        _update_recipients(conn, run, opts)
    if batch.removes:
        _remove(conn, run, account_id, list_id, source, now)
    _subscribe(conn, run, batch.restatus)
    _join_groups(run, opts, batch.csv_groups)
    _record_events(conn, run, account_id, list_id, opts, source, now, batch.events)
    confirmations = _defer_confirmations(run, opts) if batch.confirms else 0
    return int(run(_PROGRESS, confirmations=confirmations).scalar_one())


# The flags merge_batch skips statements by: existing recipients to update, existing
# subscriptions to change, CSV groups, confirmations, removals, and the events to record.
_CONTENTS = """SELECT count(*) FILTER (WHERE inserted) AS new,
                      COALESCE(bool_or(email IS NULL AND NOT inserted
                                       AND recipient_id IS NOT NULL), false) AS by_number,
                      COALESCE(bool_or(NOT inserted AND row_status <> 'delete'
                                       AND recipient_id IS NOT NULL), false) AS existing,
                      COALESCE(bool_or(NOT inserted AND new_status IS NOT NULL), false)
                          AS restatus,
                      COALESCE(bool_or(groups IS NOT NULL), false) AS csv_groups,
                      COALESCE(bool_or(confirm AND email IS NOT NULL), false) AS confirms,
                      COALESCE(bool_or(remove), false) AS removes,
                      COALESCE(array_agg(DISTINCT event) FILTER (
                                   WHERE event IS NOT NULL AND NOT remove), '{}') AS events
               FROM ib"""


def _insert_recipients(run: Any, process_id: int, new: int) -> None:
    """The batch's new contacts, with their personal fields from import_rows. Every one of
    them is then a recipient this transaction inserted: the subscriptions vouch for that
    instead of looking each one up again."""
    created = run(f"""INSERT INTO recipients (id, account_id, email, mobile_prefix,
                                              mobile_number, {', '.join(FIELDS)})
            SELECT ib.recipient_id, :a, ib.email,
                   CASE WHEN ib.mobile_number IS NOT NULL THEN '' END, ib.mobile_number,
                   {', '.join(f"NULLIF(i.{f}, '')" for f in FIELDS)}
            FROM ib CROSS JOIN LATERAL ({_STAGED.format(alias="i")}) AS i
            WHERE ib.inserted""").rowcount
    if created != new:
        raise RuntimeError(f"import process {process_id}: staged rows vanished during a batch")


def _update_recipients(conn: Connection, run: Any, opts: ImportOptions) -> None:
    """The personal fields and mobile number of the batch's existing recipients, where the
    row changes them (importType 4..6: an empty element clears).

    Each recipient is updated through its primary key, driven by the batch: with hash and
    merge joins off the only other plan is a loop over the whole table per batch row,
    which the planner prices at what it is. The account is checked in `mine`, not on the
    target: there, a stale estimate (a new account "has one recipient") made the planner
    loop over the account's recipients and scan the batch for each (minutes per batch)."""
    exprs = [_field_expr(f, opts.empty_clears) for f in FIELDS]
    mobile = "COALESCE(b.mobile_number, r.mobile_number)"
    mine = lookups.recipient("ib.recipient_id", ":a", "r.id")
    with lookups.local_settings(conn, lookups.KEYS_LOOKED_UP):
        run(f"""UPDATE recipients r
                SET {', '.join(f'{f} = {e}' for f, e in zip(FIELDS, exprs, strict=True))},
                    mobile_number = {mobile},
                    mobile_prefix = CASE WHEN {mobile} IS NOT NULL THEN '' END,
                    updated_at = :now
                FROM ib
                CROSS JOIN LATERAL ({mine}) AS mine
                CROSS JOIN LATERAL ({_STAGED.format(alias="b")}) AS b
                WHERE NOT ib.inserted AND ib.row_status <> 'delete' AND r.id = mine.id
                  AND ({', '.join(f'r.{f}' for f in FIELDS)}, r.mobile_number)
                      IS DISTINCT FROM ({', '.join(exprs)}, {mobile})""")


_SUBSCRIPTIONS = """INSERT INTO subscriptions (account_id, list_id, recipient_id, status,
                                            requested_at, subscribed_at, unsubscribed_at,
                                            unsubscribe_reason, unsubscribe_source,
                                            updated_at)
    SELECT :a, :l, ib.recipient_id, ib.new_status,
           CASE WHEN ib.new_status = 'pending' THEN :now END,
           CASE WHEN ib.new_status = 'subscribed' THEN :now END,
           CASE WHEN ib.new_status = 'unsubscribed' THEN :now END,
           CASE WHEN ib.new_status = 'unsubscribed' THEN 4 END,
           CASE WHEN ib.new_status = 'unsubscribed' THEN :source END, :now
    FROM ib WHERE ib.new_status IS NOT NULL"""


def _subscribe(conn: Connection, run: Any, restatus: bool) -> None:
    """The subscriptions the transitions give a status: new ones for the recipients this
    batch created, inserted or changed ones for the others (`restatus`: the batch has any)."""
    # A recipient this batch created has no subscription anywhere: a plain insert, whose
    # reference check the transaction has made true (counted in _insert_recipients;
    # migration 0012).
    with lookups.local_settings(conn, {"mailup.fk_vouched": _NEW_RECIPIENTS_CHECK}):
        run(f"{_SUBSCRIPTIONS} AND ib.inserted")
    if restatus:
        run(f"""{_SUBSCRIPTIONS} AND NOT ib.inserted
                ON CONFLICT (account_id, list_id, recipient_id) DO UPDATE SET
                   status = EXCLUDED.status,
                   requested_at = COALESCE(EXCLUDED.requested_at, subscriptions.requested_at),
                   subscribed_at = COALESCE(EXCLUDED.subscribed_at, subscriptions.subscribed_at),
                   unsubscribed_at = COALESCE(EXCLUDED.unsubscribed_at,
                                              subscriptions.unsubscribed_at),
                   unsubscribe_reason = EXCLUDED.unsubscribe_reason,
                   unsubscribe_source = EXCLUDED.unsubscribe_source,
                   updated_at = EXCLUDED.updated_at""")


def _join_groups(run: Any, opts: ImportOptions, csv_groups: bool) -> None:
    """The process's `idGroups` (replacing the recipients' other groups of the list when
    `replaceGroups` says so) and the CSV `groups` column (`csv_groups`: the batch has one).
    Before the events: their snapshot carries the groups ([Groups])."""
    if opts.group_ids:
        if opts.replace_groups:
            run(_DELETE_LIST_MEMBERSHIPS.format(
                rows="ib.recipient_id IS NOT NULL",
                groups="NOT (g.id = ANY (CAST(:groups AS integer[])))"))
        run("""INSERT INTO group_members (account_id, group_id, recipient_id)
               SELECT :a, g.id, ib.recipient_id FROM ib JOIN groups g
                 ON g.account_id = :a AND g.list_id = :l
                AND g.id = ANY (CAST(:groups AS integer[]))
               WHERE ib.row_status <> 'delete' AND ib.recipient_id IS NOT NULL
               ON CONFLICT DO NOTHING""")
    if csv_groups:
        # The CSV `groups` column: the row's recipient joins those groups of the list.
        run("""INSERT INTO group_members (account_id, group_id, recipient_id)
               SELECT DISTINCT :a, g.id, ib.recipient_id
               FROM ib CROSS JOIN LATERAL unnest(string_to_array(ib.groups, ',')) AS gid(raw)
               JOIN groups g ON g.account_id = :a AND g.list_id = :l
                            AND g.id::text = btrim(gid.raw)
               WHERE ib.groups IS NOT NULL AND ib.row_status <> 'delete'
                 AND ib.recipient_id IS NOT NULL
               ON CONFLICT DO NOTHING""")


def _record_events(conn: Connection, run: Any, account_id: int, list_id: int,
                   opts: ImportOptions, source: ChangeSource, now: dt.datetime,
                   in_batch: list[str]) -> None:
    """One lifecycle event per recipient the batch changed, for each event type the
    transitions can give and the batch has (`in_batch`); removals record theirs in
    _remove. Without a webhook to deliver them the contact data comes from the batch."""
    changed = {t.event for table in row_status_tables(opts).values() for t in table.values()
               if t.event and t.outcome is Outcome.CHANGED and t is not REMOVE}
    for event in sorted(e for e in changed if e.value in in_batch):
        reason = 4 if event is EventType.UNSUBSCRIBED else None
        if not events.delivered(conn, account_id, list_id, event, source):
            events.record_contacts(conn, account_id, list_id, event, source, now,
                                   _EVENT_CONTACTS, reason=reason, ev=event.value)
            continue
        # Whether the snapshot needs a groups lookup per recipient: read just before the
        # events, in their transaction (what a group committed in between adds is what a
        # statement started a moment later would see; there was no lock before either).
        has_groups = run("SELECT EXISTS (SELECT 1 FROM groups WHERE account_id = :a "
                         "AND list_id = :l)").scalar_one()
        events.record(conn, account_id, list_id, event, source, now,
                      list_has_groups=has_groups,
                      recipients=events.ids_in(
                          "SELECT recipient_id FROM ib WHERE event = :ev AND NOT remove"),
                      reason=reason, ev=event.value)


def _defer_confirmations(run: Any, opts: ImportOptions) -> int:
    """One confirmation email job per recipient with an email the batch made pending (or
    whose transition asks for one), deferred in this transaction. Returns how many."""
    return int(run(
        """SELECT COALESCE(cardinality(procrastinate_defer_jobs_v1(ARRAY(
               SELECT ROW(:queue, :task, 0, NULL, NULL,
                          jsonb_build_object('account_id', :a, 'list_id', :l,
                                             'recipient_id', ib.recipient_id)
                              || CAST(:message AS jsonb),
                          NULL)::procrastinate_job_to_defer_v1
               FROM ib WHERE ib.confirm AND ib.email IS NOT NULL))), 0)""",
        queue=MAIL_QUEUE, task=CONFIRM_TASK,
        message=json.dumps({"message_id": opts.confirmation_message}
                           if opts.confirmation_message else {})).scalar_one())


# The lane's progress, and the process's: the least of its lanes', computed from the row as
# this UPDATE finds it (another lane's committed progress included: a row updated meanwhile
# is read again before it is written). A process not split yet is one lane. With the
# batch's counters.
_PROGRESS = """UPDATE import_processes ip SET lanes_done[:lane + 1] = :hi,
               rows_done = (SELECT min(CASE WHEN u.i = :lane + 1 THEN :hi ELSE u.d END)
                            FROM unnest(COALESCE(ip.lanes_done, ARRAY[ip.rows_done]))
                                 WITH ORDINALITY AS u(d, i)),
               new_email = ip.new_email + c.new_email,
               new_mobile = ip.new_mobile + c.new_mobile,
               existing_email = ip.existing_email + c.existing_email,
               existing_mobile = ip.existing_mobile + c.existing_mobile,
               opt_out_email = ip.opt_out_email + c.opt_out_email,
               opt_out_mobile = ip.opt_out_mobile + c.opt_out_mobile,
               confirmations = ip.confirmations + :confirmations
           FROM (SELECT count(*) FILTER (WHERE inserted AND email IS NOT NULL) AS new_email,
                        count(*) FILTER (WHERE inserted AND email IS NULL) AS new_mobile,
                        count(*) FILTER (WHERE NOT inserted AND email IS NOT NULL)
                            AS existing_email,
                        count(*) FILTER (WHERE NOT inserted AND email IS NULL)
                            AS existing_mobile,
                        count(*) FILTER (WHERE opted_out AND email IS NOT NULL)
                            AS opt_out_email,
                        count(*) FILTER (WHERE opted_out AND email IS NULL) AS opt_out_mobile
                 FROM (SELECT ib.*, COALESCE(new_status = 'unsubscribed',
                                             state IN ('unsubscribed', 'final'))
                                    AND NOT remove AS opted_out
                       FROM ib WHERE recipient_id IS NOT NULL) AS batch) c
           WHERE ip.id = :p
           RETURNING ip.rows_done"""


# The contact data of the batch's recipients with event :ev, for events no webhook delivers:
# a recipient the batch created has exactly the batch's data (as inserted above); any other
# is read back, for its stored email (found case-insensitively) and its mobile after the
# update. Looking up every recipient cost a third of the events' time.
_CONTACT = "r.id, r.email, r.mobile_prefix, r.mobile_number"
_EVENT_CONTACTS = f"""
SELECT recipient_id, email, CASE WHEN mobile_number IS NOT NULL THEN '' END, mobile_number
FROM ib WHERE inserted AND event = :ev AND NOT remove
UNION ALL
SELECT {_CONTACT}
FROM ib CROSS JOIN LATERAL ({lookups.recipient("ib.recipient_id", ":account_id", _CONTACT)}) AS r
WHERE NOT ib.inserted AND ib.event = :ev AND NOT ib.remove"""

_REMOVED = "SELECT recipient_id FROM ib WHERE remove"


# The memberships of the batch's `rows` in groups of the list (`groups` of them): the batch
# read once, each (recipient, group) looked up by the whole key of group_members (by account
# and recipient alone the key's group column is skipped and the btree reads every membership
# of the account), and deleted by its physical address (a TID scan). Joined any other way,
# the planner is free to read the account's memberships and match them against the batch;
# when the statistics do not know the account yet it believes that read to be one row, and
# read all of them once per batch or, worse, once per row of the batch. Row addresses suit
# group_members only, whose rows are never updated: a row another transaction updates
# meanwhile has a new address, which this statement's snapshot does not see.
_DELETE_LIST_MEMBERSHIPS = f"""
DELETE FROM group_members WHERE ctid = ANY (ARRAY(
    SELECT x.ctid FROM ib
    CROSS JOIN LATERAL (
        SELECT x.ctid FROM groups g
        CROSS JOIN LATERAL ({lookups.membership("g.id", "ib.recipient_id", ":a", "m.ctid")})
            AS x
        WHERE g.account_id = :a AND g.list_id = :l AND {{groups}} OFFSET 0) AS x
    WHERE {{rows}}))"""


def _remove(conn: Connection, run: Any, account_id: int, list_id: int, source: ChangeSource,
            now: dt.datetime) -> None:
    """CSV rows with status `delete`: the subscription is cancelled with the recipient's
    groups of this list. The event goes first: its snapshot carries those groups."""
    events.record(conn, account_id, list_id, EventType.REMOVED, source, now,
                  recipients=events.ids_in(_REMOVED))
    run(_DELETE_LIST_MEMBERSHIPS.format(rows="ib.remove", groups="true"))
    lookups.delete_subscriptions(conn, "SELECT CAST(:a AS integer) AS account_id, "
                                       "CAST(:l AS integer) AS list_id, recipient_id "
                                       "FROM ib WHERE ib.remove",
                                 {"a": account_id, "l": list_id})


def _runner(conn: Connection, params: dict[str, Any]) -> Any:
    def run(sql: str, **extra: Any) -> Any:
        return conn.execute(sa.text(sql), params | extra)
    return run
