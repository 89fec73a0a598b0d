"""Recording lifecycle events: one statement writes the events (with a snapshot of the
recipient's contact data, personal fields and groups), the webhook deliveries they match,
and the procrastinate jobs that deliver them, all in the caller's transaction (an outbox:
a delivery exists if and only if its event committed)."""
from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mailup_soap.domain.model import PERSONAL_FIELD_COUNT, ChangeSource, EventType

DELIVER_TASK = "mailup:deliver_webhook"
WEBHOOK_QUEUE = "webhooks"

_FIELDS = ", ".join(f"'{i}', r.field{i}" for i in range(1, PERSONAL_FIELD_COUNT + 1))

# {recipients} is one of the fixed filters below, never caller text.
_RECORD = """
WITH ev AS (
    INSERT INTO events (account_id, list_id, recipient_id, type, source, reason, email,
                        mobile_prefix, mobile_number, payload, occurred_at)
    SELECT r.account_id, :list_id, r.id, :type, :source, :reason, r.email, r.mobile_prefix,
           r.mobile_number,
           jsonb_build_object(
               'fields', jsonb_strip_nulls(jsonb_build_object(""" + _FIELDS + """)),
               'groups', COALESCE((SELECT jsonb_agg(gm.group_id ORDER BY gm.group_id)
                                   FROM group_members gm JOIN groups g
                                     ON g.account_id = gm.account_id AND g.id = gm.group_id
                                   WHERE gm.account_id = r.account_id
                                     AND gm.recipient_id = r.id AND g.list_id = :list_id),
                                  '[]'::jsonb)),
           :now
    FROM recipients r
    WHERE r.account_id = :account_id AND {recipients}
    RETURNING id, account_id, list_id, type, source
), dl AS (
    INSERT INTO webhook_deliveries (webhook_id, event_id, msg_id, next_attempt_at)
    SELECT w.id, ev.id, 'msg_' || ev.id || '_' || w.id, :now
    FROM ev JOIN webhooks w
      ON w.account_id = ev.account_id AND w.list_id = ev.list_id AND w.active
     AND ev.type = ANY (w.events) AND ev.source = ANY (w.sources)
    RETURNING id
)
SELECT (SELECT count(*) FROM ev),
       procrastinate_defer_jobs_v1(ARRAY(
           SELECT ROW(:queue, :task, 0, NULL, NULL, jsonb_build_object('delivery_id', dl.id),
                      NULL)::procrastinate_job_to_defer_v1
           FROM dl))
"""

ONE_RECIPIENT = "r.id = :recipient_id"
LIST_SUBSCRIBERS = ("r.id IN (SELECT s.recipient_id FROM subscriptions s "
                    "WHERE s.account_id = :account_id AND s.list_id = :list_id)")
GROUP_MEMBERS_IN_LIST = (
    "r.id IN (SELECT s.recipient_id FROM subscriptions s JOIN group_members m "
    "ON m.account_id = s.account_id AND m.recipient_id = s.recipient_id "
    "WHERE s.account_id = :account_id AND s.list_id = :list_id AND m.group_id = :group_id)")
PENDING_BEFORE = ("r.id IN (SELECT s.recipient_id FROM subscriptions s "
                  "WHERE s.account_id = :account_id AND s.list_id = :list_id "
                  "AND s.status = 'pending' AND s.requested_at < :cutoff)")


def record(conn: Connection, account_id: int, list_id: int, event: EventType,
           source: ChangeSource, now: dt.datetime, recipients: str = ONE_RECIPIENT,
           reason: int | None = None, **params: object) -> int:
    """Record `event` for the recipients the filter selects; returns how many."""
    sql = sa.text(_RECORD.replace("{recipients}", recipients))
    row = conn.execute(sql, {"account_id": account_id, "list_id": list_id, "type": event.value,
                             "source": source.value, "reason": reason, "now": now,
                             "queue": WEBHOOK_QUEUE, "task": DELIVER_TASK, **params}).one()
    return int(row[0])


def defer(conn: Connection, task: str, queue: str, args: dict[str, object],
          at: dt.datetime | None = None, lock: str | None = None) -> None:
    """Defer a procrastinate job inside the caller's transaction. Jobs sharing a `lock` run
    one at a time, in order, whatever the number of workers."""
    conn.execute(sa.text(
        "SELECT procrastinate_defer_jobs_v1(ARRAY[ROW(:queue, :task, 0, :lock, NULL, "
        "CAST(:args AS jsonb), :at)::procrastinate_job_to_defer_v1])"),
        {"queue": queue, "task": task, "args": json.dumps(args), "at": at, "lock": lock})
