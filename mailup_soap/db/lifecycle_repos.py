"""Recipients, per-list subscriptions, events, the job outbox, frontend IPs and webhooks.
See the abstract classes in `service_layer.lifecycle_repos`."""
from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from mailup_soap.db import events
from mailup_soap.db import tables as t
from mailup_soap.db.repositories import _Repo
from mailup_soap.domain.model import (
    PERSONAL_FIELD_COUNT,
    ChangeSource,
    EventType,
    Recipient,
    SubscriptionState,
    SubscriptionStatus,
)
from mailup_soap.domain.webhooks import EventData, Webhook
from mailup_soap.service_layer import lifecycle_repos as contracts

_FIELD_COLS = [f"field{i}" for i in range(1, PERSONAL_FIELD_COUNT + 1)]


def personal_fields(row: Any) -> dict[int, str]:
    """The fields a row (a mapping with field1..field39) holds: {number: value}."""
    return {i: row[f"field{i}"] for i in range(1, PERSONAL_FIELD_COUNT + 1)
            if row[f"field{i}"] is not None}


def _recipient(row: Any) -> Recipient:
    return Recipient(row["account_id"], row["id"], row["email"], row["mobile_prefix"],
                     row["mobile_number"], personal_fields(row))


class RecipientRepository(_Repo, contracts.RecipientRepository):
    def find(self, account_id: int, email: str | None,
             mobile: tuple[str, str] | None) -> Recipient | None:
        r = t.recipients.c
        q = sa.select(t.recipients).where(r.account_id == account_id)
        if email:
            q = q.where(sa.func.lower(r.email) == email.lower(), r.email.isnot(None))
        elif mobile:  # a number may be shared: the oldest recipient with it
            q = q.where(r.mobile_number == mobile[1]).order_by(r.id)
        else:
            return None
        row = self.conn.execute(q).mappings().first()
        return _recipient(row) if row else None

    def get(self, account_id: int, recipient_id: int) -> Recipient | None:
        r = t.recipients.c
        row = self.conn.execute(sa.select(t.recipients).where(
            r.account_id == account_id, r.id == recipient_id)).mappings().first()
        return _recipient(row) if row else None

    def add(self, account_id: int, email: str | None, mobile: tuple[str, str] | None,
            fields: dict[int, str]) -> Recipient:
        values: dict[str, Any] = {"account_id": account_id, "email": email,
                                  "mobile_prefix": mobile[0] if mobile else None,
                                  "mobile_number": mobile[1] if mobile else None}
        values |= {f"field{i}": v for i, v in fields.items()}
        row = self.conn.execute(t.recipients.insert().values(values)
                                .returning(*t.recipients.c)).mappings().one()
        return _recipient(row)

    def update_fields(self, account_id: int, recipient_id: int, fields: dict[int, str]) -> None:
        if fields:
            self.conn.execute(t.recipients.update().where(
                t.recipients.c.account_id == account_id, t.recipients.c.id == recipient_id,
            ).values({f"field{i}": v for i, v in fields.items()} | {"updated_at": sa.func.now()}))


_STAMP = {SubscriptionStatus.PENDING: "requested_at",
          SubscriptionStatus.SUBSCRIBED: "subscribed_at",
          SubscriptionStatus.UNSUBSCRIBED: "unsubscribed_at"}


class LifecycleRepository(_Repo, contracts.LifecycleRepository):
    def _where(self, account_id: int, list_id: int, recipient_id: int) -> sa.ColumnElement[bool]:
        s = t.subscriptions.c
        return sa.and_(s.account_id == account_id, s.list_id == list_id,
                       s.recipient_id == recipient_id)

    def state(self, account_id: int, list_id: int, recipient_id: int) -> SubscriptionState | None:
        s = t.subscriptions.c
        row = self.conn.execute(sa.select(s.status, s.unsubscribe_reason, s.requested_at).where(
            self._where(account_id, list_id, recipient_id))).first()
        return SubscriptionState(SubscriptionStatus(row[0]), row[1], row[2]) if row else None

    def put(self, account_id: int, list_id: int, recipient_id: int, status: SubscriptionStatus,
            now: dt.datetime, reason: int | None = None,
            source: ChangeSource | None = None) -> None:
        values: dict[str, Any] = {"status": status.value, _STAMP[status]: now, "updated_at": now,
                                  "unsubscribe_reason": reason,
                                  "unsubscribe_source": source.value if source and reason
                                  is not None else None}
        stmt = insert(t.subscriptions).values(account_id=account_id, list_id=list_id,
                                              recipient_id=recipient_id, **values)
        self.conn.execute(stmt.on_conflict_do_update(
            index_elements=["account_id", "list_id", "recipient_id"], set_=values))

    def delete(self, account_id: int, list_id: int, recipient_id: int) -> None:
        self.conn.execute(t.subscriptions.delete().where(
            self._where(account_id, list_id, recipient_id)))

    def set_groups(self, account_id: int, list_id: int, recipient_id: int, group_ids: list[int],
                   replace: bool) -> bool:
        g, m = t.groups.c, t.group_members.c
        wanted = sa.select(g.id).where(g.account_id == account_id, g.list_id == list_id,
                                       g.id.in_(group_ids or [-1]))
        changed = 0
        if replace:
            list_groups = sa.select(g.id).where(g.account_id == account_id, g.list_id == list_id)
            changed += self.conn.execute(t.group_members.delete().where(
                m.account_id == account_id, m.recipient_id == recipient_id,
                m.group_id.in_(list_groups), m.group_id.not_in(wanted))).rowcount
        added = insert(t.group_members).from_select(
            ["account_id", "group_id", "recipient_id"],
            sa.select(sa.literal(account_id), g.id, sa.literal(recipient_id)).where(
                g.account_id == account_id, g.list_id == list_id, g.id.in_(group_ids or [-1])),
        ).on_conflict_do_nothing()
        changed += self.conn.execute(added).rowcount
        return changed > 0

    def record(self, account_id: int, list_id: int, recipient_id: int, event: EventType,
               source: ChangeSource, now: dt.datetime, reason: int | None = None) -> None:
        events.record(self.conn, account_id, list_id, event, source, now, reason=reason,
                      recipient_id=recipient_id)

    def prune_pending(self, cutoff: dt.datetime, now: dt.datetime) -> int:
        s = t.subscriptions.c
        stale = self.conn.execute(sa.select(s.account_id, s.list_id).where(
            s.status == "pending", s.requested_at < cutoff).distinct()).all()
        total = 0
        for account_id, list_id in stale:
            total += events.record(self.conn, account_id, list_id, EventType.REMOVED,
                                   ChangeSource.API, now, recipients=events.PENDING_BEFORE,
                                   cutoff=cutoff)
            self.conn.execute(t.subscriptions.delete().where(
                s.account_id == account_id, s.list_id == list_id, s.status == "pending",
                s.requested_at < cutoff))
        return total


class JobQueue(_Repo, contracts.JobQueue):
    def defer(self, task: str, queue: str, args: dict[str, object],
              at: dt.datetime | None = None, lock: str | None = None) -> None:
        events.defer(self.conn, task, queue, args, at, lock)

    def defer_or_move(self, task: str, queue: str, args: dict[str, object],
                      at: dt.datetime | None, lock: str) -> None:
        # A waiting job of the same lock would hold a new one back until its own time
        # (procrastinate runs a lock's jobs in creation order): move it instead.
        moved = self.conn.execute(sa.text(
            "UPDATE procrastinate_jobs SET scheduled_at = :at "
            "WHERE lock = :lock AND status = 'todo' AND task_name = :task"),
            {"at": at, "lock": lock, "task": task}).rowcount
        if not moved:
            events.defer(self.conn, task, queue, args, at, lock)


class FrontendIpRepository(_Repo, contracts.FrontendIpRepository):
    def allowed(self, account_id: int, ip: str) -> bool:
        f = t.frontend_ips.c
        return self.conn.execute(sa.select(sa.literal(1)).where(
            f.account_id == account_id, f.ip == ip)).first() is not None

    def register(self, account_id: int, ip: str, ws_name: str) -> bool:
        stmt = insert(t.frontend_ips).values(account_id=account_id, ip=ip, ws_name=ws_name)
        return bool(self.conn.execute(stmt.on_conflict_do_nothing()).rowcount)


def _webhook(row: Any) -> Webhook:
    return Webhook(row.id, row.account_id, row.list_id, row.url, row.method,
                   frozenset(EventType(e) for e in row.events),
                   frozenset(ChangeSource(s) for s in row.sources), dict(row.params), row.active,
                   row.secret, row.rc4_key)


def _delivery(row: Any) -> contracts.Delivery:
    return contracts.Delivery(row.id, row.msg_id, row.status, row.attempts,
                              row.next_attempt_at, row.webhook_id, row.event_id)


class WebhookRepository(_Repo, contracts.WebhookRepository):
    def add(self, hook: Webhook) -> Webhook:
        new_id = self.conn.execute(t.webhooks.insert().values(
            account_id=hook.account_id, list_id=hook.list_id, url=hook.url, method=hook.method,
            events=sorted(e.value for e in hook.events),
            sources=sorted(s.value for s in hook.sources), params=dict(hook.params),
            active=hook.active, secret=hook.secret, rc4_key=hook.rc4_key,
        ).returning(t.webhooks.c.id)).scalar_one()
        return Webhook(new_id, hook.account_id, hook.list_id, hook.url, hook.method, hook.events,
                       hook.sources, hook.params, hook.active, hook.secret, hook.rc4_key)

    def all(self, account_id: int | None = None) -> list[Webhook]:
        q = sa.select(t.webhooks).order_by(t.webhooks.c.id)
        if account_id is not None:
            q = q.where(t.webhooks.c.account_id == account_id)
        return [_webhook(r) for r in self.conn.execute(q)]

    def get(self, webhook_id: int) -> Webhook | None:
        row = self.conn.execute(sa.select(t.webhooks).where(t.webhooks.c.id == webhook_id)).first()
        return _webhook(row) if row else None

    def set_active(self, webhook_id: int, active: bool, reason: str | None = None) -> None:
        values: dict[str, Any] = {"active": active, "disabled_reason": reason}
        if active:
            values["consecutive_failures"] = 0
        self.conn.execute(t.webhooks.update().where(t.webhooks.c.id == webhook_id).values(values))

    def count_failure(self, webhook_id: int) -> int:
        w = t.webhooks.c
        return int(self.conn.execute(t.webhooks.update().where(w.id == webhook_id).values(
            consecutive_failures=w.consecutive_failures + 1,
        ).returning(w.consecutive_failures)).scalar_one())

    def reset_failures(self, webhook_id: int) -> None:
        # Only when there is something to reset: every success would otherwise rewrite (and
        # lock) the same hot webhook row.
        w = t.webhooks.c
        self.conn.execute(t.webhooks.update().where(w.id == webhook_id,
                                                     w.consecutive_failures != 0)
                          .values(consecutive_failures=0))

    def deliveries(self, webhook_id: int | None, limit: int) -> list[contracts.Delivery]:
        d = t.webhook_deliveries.c
        q = sa.select(t.webhook_deliveries).order_by(d.id.desc()).limit(limit)
        if webhook_id is not None:
            q = q.where(d.webhook_id == webhook_id)
        return [_delivery(r) for r in self.conn.execute(q)]

    def delivery(self, delivery_id: int, lock: bool = False) -> contracts.Delivery | None:
        q = sa.select(t.webhook_deliveries).where(t.webhook_deliveries.c.id == delivery_id)
        row = self.conn.execute(q.with_for_update() if lock else q).first()
        return _delivery(row) if row else None

    def event(self, event_id: int) -> EventData | None:
        row = self.conn.execute(sa.select(t.events).where(t.events.c.id == event_id)).first()
        if row is None:
            return None
        payload = row.payload or {}
        return EventData(row.id, row.account_id, row.list_id, EventType(row.type),
                         ChangeSource(row.source), row.occurred_at, row.email or "",
                         row.mobile_prefix or "", row.mobile_number or "", row.reason, None,
                         tuple(payload.get("groups", [])),
                         {int(k): v for k, v in payload.get("fields", {}).items()})

    def update_delivery(self, delivery_id: int, status: str, attempts: int,
                        next_attempt_at: dt.datetime | None) -> None:
        self.conn.execute(t.webhook_deliveries.update().where(
            t.webhook_deliveries.c.id == delivery_id,
        ).values(status=status, attempts=attempts, next_attempt_at=next_attempt_at))

    def record_attempt(self, delivery_id: int, at: dt.datetime, status_code: int | None,
                       error: str | None, duration_ms: int) -> None:
        self.conn.execute(t.webhook_attempts.insert().values(
            delivery_id=delivery_id, attempted_at=at, status_code=status_code, error=error,
            duration_ms=duration_ms))

    def attempts(self, delivery_id: int) -> list[tuple[dt.datetime, int | None, str | None]]:
        a = t.webhook_attempts.c
        rows = self.conn.execute(sa.select(a.attempted_at, a.status_code, a.error).where(
            a.delivery_id == delivery_id).order_by(a.id))
        return [(r[0], r[1], r[2]) for r in rows]
