"""SMS messages and deliveries (channel 'sms' rows of the message tables). See
`service_layer.delivery_repos.SmsRepository`."""
from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from mailup_soap.db import tables as t
from mailup_soap.db.sending_repos import (
    CLAIMED_RECIPIENT,
    CLAIMED_SUBSCRIPTION,
    SUBSCRIBERS,
    DeliveryStates,
    audience,
    progress_fields,
)
from mailup_soap.domain.messages import ContentType, DeliveryStatus
from mailup_soap.domain.model import PERSONAL_FIELD_COUNT
from mailup_soap.domain.sms import Sms, SmsAddressee, SmsDelivery, SmsSendOptions
from mailup_soap.service_layer import delivery_repos as contracts

SMS = "sms"
_m = t.messages.c
_d = t.deliveries.c
_dr = t.delivery_recipients.c
_FIELDS = ", ".join(f"r.field{i}" for i in range(1, PERSONAL_FIELD_COUNT + 1))


def _sms(row: Any) -> Sms:
    return Sms(row.id, row.account_id, row.list_id, row.subject, row.html, row.note,
               row.created_at)


def _delivery(row: Any) -> SmsDelivery:
    return SmsDelivery(row.id, row.account_id, row.list_id, row.message_id, row.sms_text,
                       row.from_name, **progress_fields(row))


class SmsRepository(DeliveryStates, contracts.SmsRepository):
    CHANNEL = SMS

    def add_sms(self, account_id: int, list_id: int, subject: str, text: str, note: str,
                now: dt.datetime) -> int:
        return int(self.conn.execute(t.messages.insert().values(
            account_id=account_id, list_id=list_id, channel=SMS, subject=subject,
            content_type=ContentType.TEXT.value, html=text, note=note, link_tracking=False,
            created_at=now, updated_at=now).returning(_m.id)).scalar_one())

    def sms(self, account_id: int, sms_id: int) -> Sms | None:
        row = self.conn.execute(sa.select(t.messages).where(
            _m.account_id == account_id, _m.id == sms_id, _m.channel == SMS)).first()
        return _sms(row) if row else None

    def smses(self, account_id: int, list_id: int) -> list[Sms]:
        rows = self.conn.execute(sa.select(t.messages).where(
            _m.account_id == account_id, _m.list_id == list_id, _m.channel == SMS)
            .order_by(_m.id))
        return [_sms(r) for r in rows]

    def _new_delivery(self, account_id: int, list_id: int, sms_id: int | None,
                      text: str | None, sender: str, scheduled_at: dt.datetime,
                      now: dt.datetime) -> int:
        return int(self.conn.execute(t.deliveries.insert().values(
            account_id=account_id, list_id=list_id, message_id=sms_id, channel=SMS,
            sms_text=text, status=DeliveryStatus.SCHEDULED.value, from_email="",
            from_name=sender, created_at=now, scheduled_at=scheduled_at)
            .returning(_d.id)).scalar_one())

    def create_delivery(self, account_id: int, list_id: int, sms_id: int,
                        opts: SmsSendOptions, sender: str, scheduled_at: dt.datetime,
                        now: dt.datetime) -> SmsDelivery:
        delivery_id = self._new_delivery(account_id, list_id, sms_id, None, sender,
                                         scheduled_at, now)
        where = audience("r.mobile_number IS NOT NULL",
                         "r.mobile_number = ANY (CAST(:numbers AS text[]))",
                         opts.send_to, bool(opts.exclude_groups))
        # Two recipients may share a phone: the number gets the SMS once (the first on file).
        self.conn.execute(sa.text(f"""
            WITH picked AS (
                INSERT INTO delivery_recipients (delivery_id, recipient_id)
                SELECT DISTINCT ON (r.mobile_number) :d, s.recipient_id FROM {SUBSCRIBERS}
                WHERE {' AND '.join(where)}
                ORDER BY r.mobile_number, s.recipient_id
                RETURNING 1)
            UPDATE deliveries SET total = (SELECT count(*) FROM picked) WHERE id = :d"""),
            {"d": delivery_id, "a": account_id, "l": list_id, "numbers": list(opts.numbers),
             "groups": list(opts.groups), "exclude": list(opts.exclude_groups)})
        return self._found(account_id, delivery_id)

    def create_single(self, account_id: int, list_id: int, sms_id: int | None,
                      text: str | None, number: str, sender: str,
                      now: dt.datetime) -> SmsDelivery:
        delivery_id = self._new_delivery(account_id, list_id, sms_id, text, sender, now, now)
        # The recipient on file with the number (a subscriber of the list first), or 0.
        self.conn.execute(sa.text("""
            INSERT INTO delivery_recipients (delivery_id, recipient_id, number)
            SELECT :d, coalesce((
                SELECT r.id FROM recipients r
                LEFT JOIN subscriptions s ON s.account_id = r.account_id
                                         AND s.recipient_id = r.id AND s.list_id = :l
                WHERE r.account_id = :a AND r.mobile_number = :n
                ORDER BY s.status = 'subscribed' DESC NULLS LAST, r.id LIMIT 1), 0), :n"""),
            {"d": delivery_id, "a": account_id, "l": list_id, "n": number})
        self.conn.execute(t.deliveries.update().where(_d.id == delivery_id).values(total=1))
        return self._found(account_id, delivery_id)

    def unsubscribed(self, account_id: int, list_id: int, number: str) -> bool:
        return self.conn.execute(sa.text("""
            SELECT 1 FROM recipients r JOIN subscriptions s
              ON s.account_id = r.account_id AND s.recipient_id = r.id
            WHERE r.account_id = :a AND r.mobile_number = :n AND s.list_id = :l
              AND s.status = 'unsubscribed' LIMIT 1"""),
            {"a": account_id, "l": list_id, "n": number}).first() is not None

    def _found(self, account_id: int, delivery_id: int) -> SmsDelivery:
        found = self.delivery(account_id, delivery_id)
        assert found is not None
        return found

    def delivery(self, account_id: int | None, delivery_id: int,
                 lock: bool = False) -> SmsDelivery | None:
        q = sa.select(t.deliveries).where(_d.id == delivery_id, _d.channel == SMS)
        if account_id is not None:
            q = q.where(_d.account_id == account_id)
        row = self.conn.execute(q.with_for_update() if lock else q).first()
        return _delivery(row) if row else None

    def deliveries(self, account_id: int, list_id: int | None,
                   statuses: tuple[DeliveryStatus, ...]) -> list[SmsDelivery]:
        q = sa.select(t.deliveries).where(
            _d.account_id == account_id, _d.channel == SMS,
            _d.status.in_([s.value for s in statuses])).order_by(_d.scheduled_at, _d.id)
        if list_id is not None:
            q = q.where(_d.list_id == list_id)
        return [_delivery(r) for r in self.conn.execute(q)]

    def paused(self, account_id: int) -> list[SmsDelivery]:
        return self.deliveries(account_id, None, (DeliveryStatus.PAUSED,))

    def reschedule(self, delivery_id: int, when: dt.datetime) -> None:
        self.conn.execute(t.deliveries.update().where(
            _d.id == delivery_id, _d.channel == SMS).values(scheduled_at=when))

    def delete_delivery(self, delivery_id: int) -> None:
        # Its delivery_recipients go with it (ON DELETE CASCADE).
        self.conn.execute(t.deliveries.delete().where(_d.id == delivery_id, _d.channel == SMS))

    def claim(self, delivery: SmsDelivery, limit: int) -> list[SmsAddressee]:
        # A list send (no number on the row) goes to recipients still subscribed with a
        # mobile; a one-to-one send to its number unless that recipient unsubscribed since.
        rows = self.conn.execute(sa.text(f"""
            SELECT dr.recipient_id, coalesce(dr.number, r.mobile_number) AS number, r.email,
                   CASE WHEN dr.number IS NULL
                        THEN s.status = 'subscribed' AND r.mobile_number IS NOT NULL
                        ELSE s.status IS DISTINCT FROM 'unsubscribed' END AS wanted,
                   {_FIELDS}
            FROM delivery_recipients dr
            LEFT JOIN LATERAL ({CLAIMED_RECIPIENT}) AS r ON true
            LEFT JOIN LATERAL ({CLAIMED_SUBSCRIPTION}) AS s ON true
            WHERE dr.delivery_id = :d AND dr.state = 'pending'
            ORDER BY dr.recipient_id LIMIT :n"""),
            {"a": delivery.account_id, "l": delivery.list_id, "d": delivery.id,
             "n": limit}).all()
        gone = [r.recipient_id for r in rows if not r.wanted]
        if gone:
            self.conn.execute(sa.text("""
                UPDATE delivery_recipients SET state = 'skipped'
                WHERE delivery_id = :d AND recipient_id = ANY (CAST(:ids AS bigint[]))"""),
                {"d": delivery.id, "ids": gone})
            self.conn.execute(t.deliveries.update().where(_d.id == delivery.id).values(
                skipped=_d.skipped + len(gone)))
        return [SmsAddressee(r.recipient_id, r.number, r.email or "",
                             {i: v for i in range(1, PERSONAL_FIELD_COUNT + 1)
                              if (v := getattr(r, f"field{i}")) is not None})
                for r in rows if r.wanted]

    def mark(self, delivery_id: int, sent: list[tuple[int, str]],
             failed: list[tuple[int, str]], now: dt.datetime) -> None:
        if sent:
            self.conn.execute(sa.text("""
                UPDATE delivery_recipients dr SET state = 'sent', sent_at = :now,
                                                  gateway_id = v.note
                FROM unnest(CAST(:ids AS bigint[]), CAST(:notes AS text[])) AS v(id, note)
                WHERE dr.delivery_id = :d AND dr.recipient_id = v.id"""),
                {"d": delivery_id, "now": now, "ids": [p[0] for p in sent],
                 "notes": [p[1][:200] for p in sent]})
        if failed:
            self.conn.execute(sa.text("""
                UPDATE delivery_recipients dr SET state = 'failed', error = v.note
                FROM unnest(CAST(:ids AS bigint[]), CAST(:notes AS text[])) AS v(id, note)
                WHERE dr.delivery_id = :d AND dr.recipient_id = v.id"""),
                {"d": delivery_id, "ids": [p[0] for p in failed],
                 "notes": [p[1][:500] for p in failed]})
        self.conn.execute(t.deliveries.update().where(_d.id == delivery_id).values(
            sent=_d.sent + len(sent), failed=_d.failed + len(failed)))
