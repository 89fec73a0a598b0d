"""Recording lifecycle events: one statement writes the events (with the recipient's contact
data and, when a webhook will deliver them, a snapshot of the personal fields and groups),
the webhook deliveries they match, and the procrastinate jobs that deliver them, all in the
caller's transaction (an outbox: a delivery exists if and only if its event committed)."""
from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mailup_soap.db import lookups
from mailup_soap.domain.model import PERSONAL_FIELD_COUNT, ChangeSource, EventType

DELIVER_TASK = "mailup:deliver_webhook"
WEBHOOK_QUEUE = "webhooks"

# The fields present, as one JSON text parsed once: concat_ws skips the NULL fields. About
# 3x cheaper per event than jsonb_strip_nulls(jsonb_build_object(...39 pairs...)), and the
# same jsonb value (jsonb orders keys whatever order they are written in).
_FIELDS = ("('{' || concat_ws(',', " + ", ".join(
    f"'\"{i}\":' || to_json(r.field{i})" for i in range(1, PERSONAL_FIELD_COUNT + 1))
    + ") || '}')::jsonb")

# The webhooks that deliver an event of this account, list, type and source.
_WEBHOOKS = """SELECT w.id FROM webhooks w
    WHERE w.account_id = :account_id AND w.list_id = :list_id AND w.active
      AND :type = ANY (w.events) AND :source = ANY (w.sources)"""

# {recipients} is one of the fixed filters below or `ids_in`, never caller text.
_RECORD = """
WITH wh AS MATERIALIZED (
    -- Every event of the statement has the same account, list, type and source: the
    -- matching webhooks are found once, not by an index lookup per event.
    """ + _WEBHOOKS + """
), ev AS (
    INSERT INTO events (account_id, list_id, recipient_id, type, source, reason, email,
                        mobile_prefix, mobile_number, payload, occurred_at)
    SELECT r.account_id, :list_id, r.id, :type, :source, :reason, r.email, r.mobile_prefix,
           r.mobile_number,
           -- The snapshot is what a webhook delivers: taken when one will deliver the event
           -- (a webhook added later never receives earlier events), '{}' otherwise.
           CASE WHEN (SELECT EXISTS (SELECT 1 FROM wh)) THEN jsonb_build_object(
               'fields', """ + _FIELDS + """,
               'groups', {groups}) ELSE '{}'::jsonb END,
           :now
    FROM {recipients}
    RETURNING id, account_id, list_id, type, source
), dl AS (
    INSERT INTO webhook_deliveries (webhook_id, event_id, msg_id, next_attempt_at)
    SELECT wh.id, ev.id, 'msg_' || ev.id || '_' || wh.id, :now
    FROM wh CROSS JOIN ev
    RETURNING id
)
SELECT (SELECT count(*) FROM ev),
       procrastinate_defer_jobs_v1(ARRAY(
           SELECT ROW(:queue, :task, 0, NULL, NULL, jsonb_build_object('delivery_id', dl.id),
                      NULL)::procrastinate_job_to_defer_v1
           FROM dl))
"""

# The recipient's groups of the list: each group of the list looked up in group_members by
# the whole key (lookups.membership), also when the statistics do not know the account yet.
_GROUPS = f"""COALESCE((SELECT jsonb_agg(g.id ORDER BY g.id) FROM groups g
                      WHERE g.account_id = r.account_id AND g.list_id = :list_id
                        AND EXISTS ({lookups.membership("g.id", "r.id", "r.account_id")})),
                     '[]'::jsonb)"""


def _where(condition: str) -> str:
    return f"recipients r WHERE r.account_id = :account_id AND {condition}"


def ids_in(ids_query: str) -> str:
    """The recipients whose ids `ids_query` (fixed SQL, one column) selects, looked up one by
    one by primary key: a plan that stays linear whatever the planner believes about the
    account's size (`r.id = ANY (ARRAY(...))` became a filter over the account's rows, with
    the whole array compared per row, once statistics said the account was small). OFFSET 0
    keeps the lookup a lookup: flattened, it became a hash join over all the account's
    recipients, once per batch."""
    return (f"({ids_query}) AS b(id) "
            f"CROSS JOIN LATERAL ({lookups.recipient('b.id', ':account_id')}) AS r")


ONE_RECIPIENT = _where("r.id = :recipient_id")
LIST_SUBSCRIBERS = ids_in("SELECT s.recipient_id FROM subscriptions s "
                          "WHERE s.account_id = :account_id AND s.list_id = :list_id")
# The group's members with a subscription to the list, each subscription looked up by key:
# the cost follows the group's size. As a join, statistics that did not know the account yet
# (one member, they believed) had every subscription of the list read all of the group's
# members (68 s for 20,000 members).
GROUP_MEMBERS_IN_LIST = ids_in(f"""
SELECT m.recipient_id FROM group_members m
CROSS JOIN LATERAL ({lookups.subscription(":list_id", "m.recipient_id", ":account_id")}) AS s
WHERE m.account_id = :account_id AND m.group_id = :group_id""")
PENDING_BEFORE = ids_in("SELECT s.recipient_id FROM subscriptions s "
                        "WHERE s.account_id = :account_id AND s.list_id = :list_id "
                        "AND s.status = 'pending' AND s.requested_at < :cutoff")


def record(conn: Connection, account_id: int, list_id: int, event: EventType,
           source: ChangeSource, now: dt.datetime, recipients: str = ONE_RECIPIENT,
           reason: int | None = None, list_has_groups: bool = True, **params: object) -> int:
    """Record `event` for the recipients the filter selects; returns how many. A caller that
    knows the list has no groups says so: the snapshot's groups are then `[]` without a
    lookup per recipient."""
    sql = sa.text(_RECORD.replace("{recipients}", recipients)
                  .replace("{groups}", _GROUPS if list_has_groups else "'[]'::jsonb"))
    row = conn.execute(sql, {"account_id": account_id, "list_id": list_id, "type": event.value,
                             "source": source.value, "reason": reason, "now": now,
                             "queue": WEBHOOK_QUEUE, "task": DELIVER_TASK, **params}).one()
    return int(row[0])


def delivered(conn: Connection, account_id: int, list_id: int, event: EventType,
              source: ChangeSource) -> bool:
    """Whether a webhook delivers `event` from `source` on the list (see record_contacts)."""
    return bool(conn.execute(sa.text(f"SELECT EXISTS ({_WEBHOOKS})"), {
        "account_id": account_id, "list_id": list_id, "type": event.value,
        "source": source.value}).scalar_one())


_RECORD_CONTACTS = """
INSERT INTO events (account_id, list_id, recipient_id, type, source, reason, email,
                    mobile_prefix, mobile_number, occurred_at)
SELECT :account_id, :list_id, c.id, :type, :source, :reason, c.email, c.mobile_prefix,
       c.mobile_number, :now
FROM ({contacts}) AS c(id, email, mobile_prefix, mobile_number)
"""


def record_contacts(conn: Connection, account_id: int, list_id: int, event: EventType,
                    source: ChangeSource, now: dt.datetime, contacts: str,
                    reason: int | None = None, **params: object) -> int:
    """Record `event` when no webhook delivers it (`delivered` said so in this
    transaction), for contacts whose data the caller holds: `contacts` is fixed SQL
    selecting (recipient id, email, mobile prefix, mobile number). No snapshot, no
    delivery: a webhook added since the check is as if added after this transaction.
    Returns how many."""
    result = conn.execute(sa.text(_RECORD_CONTACTS.replace("{contacts}", contacts)), {
        "account_id": account_id, "list_id": list_id, "type": event.value,
        "source": source.value, "reason": reason, "now": now, **params})
    return int(result.rowcount)


def defer(conn: Connection, task: str, queue: str, args: dict[str, object],
          at: dt.datetime | None = None, lock: str | None = None) -> None:
    """Defer a procrastinate job inside the caller's transaction. Jobs sharing a `lock` run
    one at a time, in order, whatever the number of workers."""
    conn.execute(sa.text(
        "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, 0, :lock, NULL, "
        "CAST(:args AS jsonb), :at)::procrastinate_job_to_defer_v1])"),
        {"queue": queue, "task": task, "args": json.dumps(args), "at": at, "lock": lock})
