"""Messages, deliveries and tracking. See `service_layer.delivery_repos.SendingRepository`."""
from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

import sqlalchemy as sa

from mailup_soap.db import lookups
from mailup_soap.db import tables as t
from mailup_soap.db.repositories import _Repo
from mailup_soap.domain.messages import (
    Addressee,
    ContentType,
    Delivery,
    DeliveryStatus,
    Message,
    MessageOptions,
    SendOptions,
    SendTo,
)
from mailup_soap.domain.model import PERSONAL_FIELD_COUNT
from mailup_soap.service_layer import delivery_repos as contracts

_m = t.messages.c
_d = t.deliveries.c
# The SMS side shares these tables (service_layer/sms.py): this repository sees email only.
EMAIL = "email"  # the channel of this repository's messages and deliveries
_EMAIL_MESSAGE = _m.channel == EMAIL
_EMAIL_DELIVERY = _d.channel == EMAIL

# Both lookups go through the recipient's index (bounces_recipient_idx,
# tracking_events_recipient_idx): a recipient has few events where a list has many.
_SOFT_BOUNCES = """
    SELECT count(DISTINCT b.delivery_id)
    FROM bounces b JOIN deliveries d ON d.account_id = b.account_id AND d.id = b.delivery_id
    WHERE b.account_id = :a AND b.recipient_id = :r AND b.kind = 'soft' AND d.list_id = :l
      AND b.occurred_at > GREATEST(
          (SELECT max(te.occurred_at) FROM tracking_events te
           JOIN deliveries td ON td.account_id = te.account_id AND td.id = te.delivery_id
           WHERE te.account_id = :a AND te.recipient_id = :r AND td.list_id = :l),
          (SELECT subscribed_at FROM subscriptions
           WHERE account_id = :a AND list_id = :l AND recipient_id = :r),
          '-infinity')"""
_CREDITS = {"email": "email_credits", "sms": "sms_credits"}  # never caller text
_FIELDS = ", ".join(f"r.field{i}" for i in range(1, PERSONAL_FIELD_COUNT + 1))


# The list's subscriptions, each with its recipient looked up by primary key, and every other
# row of these statements looked up too (db/lookups): as joins, statistics that did not know
# an account yet had the planner read all of its recipients (or the group's members) once per
# subscription, minutes for a list of tens of thousands.
SUBSCRIBERS = ("subscriptions s CROSS JOIN LATERAL "
               f"({lookups.recipient('s.recipient_id', 's.account_id')}) AS r")


def audience(contact: str, listed: str, send_to: SendTo, exclude: bool) -> list[str]:
    """The WHERE conditions (over SUBSCRIBERS, parameters :a, :l, :groups, :exclude)
    picking a delivery's recipients: the list's subscribers who have the channel's contact,
    the `listed` ones for RECIPIENTS, members of :groups for GROUPS, and never members of
    :exclude. Shared by the email and SMS repositories; fixed text only."""
    where = ["s.account_id = :a", "s.list_id = :l", "s.status = 'subscribed'", contact]
    if send_to is SendTo.RECIPIENTS:
        where.append(listed)
    if send_to is SendTo.GROUPS:
        where.append(f"""EXISTS (SELECT 1 FROM groups g CROSS JOIN LATERAL ({_MEMBER}) AS m
                     WHERE g.account_id = :a AND g.list_id = :l
                       AND g.id = ANY (CAST(:groups AS integer[])) OFFSET 0)""")
    if exclude:
        where.append(f"""NOT EXISTS (SELECT 1 FROM unnest(CAST(:exclude AS integer[])) AS g(id)
                         CROSS JOIN LATERAL ({_MEMBER}) AS m OFFSET 0)""")
    return where


# Whether r is a member of group g, by the whole key of group_members, one group at a time:
# with the groups as an array, the planner could search the key by account and recipient
# alone and read every membership of the account for each subscriber.
_MEMBER = lookups.membership("g.id", "r.id", ":a")


# A claimed row's recipient and subscription, looked up by key (see SUBSCRIBERS).
CLAIMED_RECIPIENT = lookups.recipient("dr.recipient_id", ":a")
CLAIMED_SUBSCRIPTION = lookups.subscription(":l", "dr.recipient_id", ":a", "s.status")


def _message(row: Any) -> Message:
    return Message(row.id, row.account_id, row.list_id, row.subject,
                   ContentType(row.content_type), row.html, row.note, row.dynamic_fields,
                   row.link_tracking, row.created_at, row.is_template)


def _delivery(row: Any) -> Delivery:
    return Delivery(row.id, row.account_id, row.list_id, row.message_id, row.from_email,
                    row.from_name, **progress_fields(row))


def progress_fields(row: Any) -> dict[str, Any]:
    """A `deliveries` row's Progress fields, for either channel."""
    return {"status": DeliveryStatus(row.status), "total": row.total, "sent": row.sent,
            "failed": row.failed, "skipped": row.skipped, "scheduled_at": row.scheduled_at,
            "started_at": row.started_at, "completed_at": row.completed_at}


class DeliveryStates(_Repo):
    """Status changes of one channel's rows of `deliveries` (CHANNEL): what email and SMS
    deliveries share."""

    CHANNEL: ClassVar[str]

    def set_status(self, delivery_id: int, status: DeliveryStatus, now: dt.datetime) -> None:
        values: dict[str, Any] = {"status": status.value}
        if status is DeliveryStatus.SENDING:
            values["started_at"] = sa.func.coalesce(_d.started_at, now)
        if status is DeliveryStatus.COMPLETED:
            values["completed_at"] = now
        self.conn.execute(t.deliveries.update().where(_d.id == delivery_id).values(values))

    def of_account(self, account_id: int, statuses: tuple[DeliveryStatus, ...]) -> list[int]:
        rows = self.conn.execute(sa.select(_d.id).where(
            _d.account_id == account_id, _d.channel == self.CHANNEL,
            _d.status.in_([s.value for s in statuses])).order_by(_d.id))
        return [int(r.id) for r in rows]


class SendingRepository(DeliveryStates, contracts.SendingRepository):
    CHANNEL = EMAIL

    def add_message(self, account_id: int, list_id: int, subject: str,
                    content_type: ContentType, html: str, opts: MessageOptions,
                    now: dt.datetime, cloned_from: int | None = None) -> int:
        return int(self.conn.execute(t.messages.insert().values(
            account_id=account_id, list_id=list_id, subject=subject,
            content_type=content_type.value, html=html, note=opts.note,
            dynamic_fields=opts.dynamic_fields, link_tracking=opts.link_tracking,
            cloned_from=cloned_from, is_template=opts.template, created_at=now, updated_at=now)
            .returning(_m.id)).scalar_one())

    def update_message(self, account_id: int, message_id: int, subject: str,
                       content_type: ContentType, html: str, opts: MessageOptions,
                       now: dt.datetime) -> None:
        self.conn.execute(t.messages.update().where(
            _m.account_id == account_id, _m.id == message_id).values(
            subject=subject, content_type=content_type.value, html=html, note=opts.note,
            dynamic_fields=opts.dynamic_fields, link_tracking=opts.link_tracking,
            is_template=opts.template, updated_at=now))

    def message(self, account_id: int, message_id: int,
                list_id: int | None = None) -> Message | None:
        q = sa.select(t.messages).where(_m.account_id == account_id, _m.id == message_id,
                                        _EMAIL_MESSAGE)
        if list_id is not None:
            q = q.where(_m.list_id == list_id)
        row = self.conn.execute(q).first()
        return _message(row) if row else None

    def messages(self, account_id: int, list_id: int, include_clones: bool = True,
                 templates: bool = False) -> list[Message]:
        q = sa.select(t.messages).where(_m.account_id == account_id, _m.list_id == list_id,
                                        _EMAIL_MESSAGE, _m.is_template.is_(templates))
        if not include_clones:
            q = q.where(_m.cloned_from.is_(None))
        rows = self.conn.execute(q.order_by(_m.id))
        return [_message(r) for r in rows]

    def create_delivery(self, account_id: int, message: Message, opts: SendOptions,
                        from_email: str, from_name: str, scheduled_at: dt.datetime,
                        now: dt.datetime) -> Delivery:
        delivery_id = int(self.conn.execute(t.deliveries.insert().values(
            account_id=account_id, list_id=message.list_id, message_id=message.id,
            status=DeliveryStatus.SCHEDULED.value, from_email=from_email, from_name=from_name,
            created_at=now, scheduled_at=scheduled_at).returning(_d.id)).scalar_one())
        where = audience("r.email IS NOT NULL",
                         "lower(r.email) = ANY (CAST(:emails AS text[]))",
                         opts.send_to, bool(opts.exclude_groups))
        self.conn.execute(sa.text(f"""
            WITH picked AS (
                INSERT INTO delivery_recipients (delivery_id, recipient_id)
                SELECT :d, s.recipient_id FROM {SUBSCRIBERS}
                WHERE {' AND '.join(where)}
                RETURNING 1)
            UPDATE deliveries SET total = (SELECT count(*) FROM picked) WHERE id = :d"""),
            {"d": delivery_id, "a": account_id, "l": message.list_id,
             "emails": list(opts.recipients), "groups": list(opts.groups),
             "exclude": list(opts.exclude_groups)})
        found = self.delivery(account_id, delivery_id)
        assert found is not None
        return found

    def delivery(self, account_id: int | None, delivery_id: int,
                 lock: bool = False) -> Delivery | None:
        q = sa.select(t.deliveries).where(_d.id == delivery_id, _EMAIL_DELIVERY)
        if account_id is not None:
            q = q.where(_d.account_id == account_id)
        row = self.conn.execute(q.with_for_update() if lock else q).first()
        return _delivery(row) if row else None

    def paused(self, account_id: int) -> list[Delivery]:
        return self.deliveries(account_id, statuses=(DeliveryStatus.PAUSED,))

    def deliveries(self, account_id: int, list_id: int | None = None,
                   message_id: int | None = None,
                   statuses: tuple[DeliveryStatus, ...] = ()) -> list[Delivery]:
        q = sa.select(t.deliveries).where(_d.account_id == account_id, _EMAIL_DELIVERY)
        if list_id is not None:
            q = q.where(_d.list_id == list_id)
        if message_id is not None:
            q = q.where(_d.message_id == message_id)
        if statuses:
            q = q.where(_d.status.in_([s.value for s in statuses]))
        return [_delivery(r) for r in self.conn.execute(q.order_by(_d.scheduled_at, _d.id))]

    def add_from_import(self, delivery: Delivery, process_id: int) -> int:
        return int(self.conn.execute(sa.text("""
            WITH picked AS (
                INSERT INTO delivery_recipients (delivery_id, recipient_id)
                SELECT DISTINCT :d, r.id FROM import_rows i
                CROSS JOIN LATERAL (SELECT r.id FROM recipients r
                                    WHERE r.account_id = :a AND r.email IS NOT NULL
                                      AND lower(r.email) = lower(i.email) OFFSET 0) AS r
                CROSS JOIN LATERAL (SELECT 1 FROM subscriptions s
                                    WHERE s.account_id = :a AND s.list_id = :l
                                      AND s.recipient_id = r.id AND s.status = 'subscribed'
                                    OFFSET 0) AS s
                WHERE i.process_id = :p AND i.problem IS NULL AND i.email IS NOT NULL
                ON CONFLICT DO NOTHING
                RETURNING 1)
            UPDATE deliveries SET total = total + (SELECT count(*) FROM picked) WHERE id = :d
            RETURNING total"""),
            {"d": delivery.id, "a": delivery.account_id, "l": delivery.list_id,
             "p": process_id}).scalar_one())

    def reschedule(self, delivery_id: int, when: dt.datetime) -> None:
        self.conn.execute(t.deliveries.update().where(_d.id == delivery_id).values(
            scheduled_at=when))

    def delete_delivery(self, delivery_id: int) -> None:
        self.conn.execute(t.deliveries.delete().where(_d.id == delivery_id))

    def claim(self, delivery: Delivery, limit: int) -> list[Addressee]:
        rows = self.conn.execute(sa.text(f"""
            SELECT dr.recipient_id, r.email, s.status = 'subscribed' AS subscribed, {_FIELDS}
            FROM delivery_recipients dr
            CROSS JOIN LATERAL ({CLAIMED_RECIPIENT}) AS r
            LEFT JOIN LATERAL ({CLAIMED_SUBSCRIPTION}) AS s ON true
            WHERE dr.delivery_id = :d AND dr.state = 'pending'
            ORDER BY dr.recipient_id LIMIT :n"""),
            {"a": delivery.account_id, "l": delivery.list_id, "d": delivery.id,
             "n": limit}).all()
        gone = [r.recipient_id for r in rows if not r.subscribed or not r.email]
        if gone:
            self.conn.execute(sa.text("""
                UPDATE delivery_recipients SET state = 'skipped'
                WHERE delivery_id = :d AND recipient_id = ANY (CAST(:ids AS bigint[]))"""),
                {"d": delivery.id, "ids": gone})
            self.conn.execute(t.deliveries.update().where(_d.id == delivery.id).values(
                skipped=_d.skipped + len(gone)))
        return [Addressee(r.recipient_id, r.email,
                          {i: v for i in range(1, PERSONAL_FIELD_COUNT + 1)
                           if (v := getattr(r, f"field{i}")) is not None})
                for r in rows if r.subscribed and r.email]

    def mark(self, delivery_id: int, sent: list[int], failed: list[tuple[int, str]],
             now: dt.datetime) -> None:
        if sent:
            self.conn.execute(sa.text("""
                UPDATE delivery_recipients SET state = 'sent', sent_at = :now
                WHERE delivery_id = :d AND recipient_id = ANY (CAST(:ids AS bigint[]))"""),
                {"d": delivery_id, "ids": sent, "now": now})
        for recipient_id, error in failed:
            self.conn.execute(t.delivery_recipients.update().where(
                t.delivery_recipients.c.delivery_id == delivery_id,
                t.delivery_recipients.c.recipient_id == recipient_id).values(
                state="failed", error=error[:500]))
        self.conn.execute(t.deliveries.update().where(_d.id == delivery_id).values(
            sent=_d.sent + len(sent), failed=_d.failed + len(failed)))

    def sent_since(self, account_id: int, since: dt.datetime) -> int:
        return int(self.conn.execute(sa.text("""
            SELECT count(*) FROM delivery_recipients dr JOIN deliveries d
              ON d.id = dr.delivery_id
            WHERE d.account_id = :a AND d.channel = 'email' AND dr.state = 'sent'
              AND dr.sent_at >= :since
              AND (d.completed_at IS NULL OR d.completed_at >= :since)"""),
            {"a": account_id, "since": since}).scalar_one())

    def track(self, account_id: int, delivery_id: int, recipient_id: int, kind: str,
              url: str | None, ip: str, now: dt.datetime) -> None:
        # Not for a delivery deleted since (RemoveNewsletterQueue, DeleteList): its old links
        # still open and redirect, with nothing left to count them in. The row lock keeps
        # the delivery until this commits.
        self.conn.execute(sa.text("""
            INSERT INTO tracking_events (account_id, delivery_id, recipient_id, kind, url, ip,
                                         occurred_at)
            SELECT :a, :d, :r, :kind, :url, :ip, :now
            WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = :d AND account_id = :a
                          FOR KEY SHARE)"""),
            {"a": account_id, "d": delivery_id, "r": recipient_id, "kind": kind, "url": url,
             "ip": ip, "now": now})

    def clear_stats(self, account_id: int, message_id: int) -> None:
        self.conn.execute(sa.text(
            "DELETE FROM tracking_events te USING deliveries d "
            "WHERE te.account_id = :a AND d.account_id = :a AND d.id = te.delivery_id "
            "AND d.message_id = :m"), {"a": account_id, "m": message_id})

    def add_bounce(self, account_id: int, delivery_id: int, recipient_id: int, kind: str,
                   status: str, now: dt.datetime) -> None:
        self.conn.execute(t.bounces.insert().values(
            account_id=account_id, delivery_id=delivery_id, recipient_id=recipient_id,
            kind=kind, status=status, occurred_at=now))

    def soft_bounces(self, account_id: int, list_id: int, recipient_id: int) -> int:
        return int(self.conn.execute(sa.text(_SOFT_BOUNCES), {
            "a": account_id, "l": list_id, "r": recipient_id}).scalar_one())

    def credits(self, account_id: int) -> dict[str, int | None]:
        row = self.conn.execute(sa.select(t.accounts.c.email_credits, t.accounts.c.sms_credits)
                                .where(t.accounts.c.id == account_id)).one()
        return {"email": row.email_credits, "sms": row.sms_credits}

    def set_credits(self, account_id: int, channel: str, credits: int | None) -> None:
        self.conn.execute(t.accounts.update().where(t.accounts.c.id == account_id).values(
            {_CREDITS[channel]: credits}))

    def charge(self, account_id: int, channel: str, count: int) -> bool:
        column = _CREDITS[channel]
        done = self.conn.execute(sa.text(
            f"UPDATE accounts SET {column} = {column} - :n WHERE id = :a "
            f"AND ({column} IS NULL OR {column} >= :n) RETURNING id"),
            {"a": account_id, "n": count}).first()
        return done is not None

    def usage(self, account_id: int, list_id: int) -> dict[str, int]:
        rows = self.conn.execute(sa.select(_d.channel, sa.func.sum(_d.total)).where(
            _d.account_id == account_id, _d.list_id == list_id).group_by(_d.channel))
        found = {"email": 0, "sms": 0}
        found.update({r[0]: int(r[1] or 0) for r in rows})
        return found

    def set_optout_message(self, account_id: int, list_id: int, recipient_id: int,
                           message_id: int) -> None:
        s = t.subscriptions.c
        self.conn.execute(t.subscriptions.update().where(
            s.account_id == account_id, s.list_id == list_id, s.recipient_id == recipient_id)
            .values(optout_message_id=message_id))
