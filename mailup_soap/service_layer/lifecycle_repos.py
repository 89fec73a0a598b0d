"""The repository contracts of recipients, their lifecycle events, the job queue, the
frontend's allowed addresses and webhooks (implemented in db.lifecycle_repos).

Every repository method takes the account id first: nothing reads or writes across accounts.
"""
from __future__ import annotations

import abc
import dataclasses
import datetime as dt

from mailup_soap.domain.model import (
    ChangeSource,
    EventType,
    Recipient,
    SubscriptionState,
    SubscriptionStatus,
)
from mailup_soap.domain.webhooks import EventData, Webhook


class RecipientRepository(abc.ABC):
    @abc.abstractmethod
    def find(self, account_id: int, email: str | None,
             mobile: tuple[str, str] | None) -> Recipient | None:
        """By email (case-insensitive) when given, else by (prefix, number)."""

    @abc.abstractmethod
    def add(self, account_id: int, email: str | None, mobile: tuple[str, str] | None,
            fields: dict[int, str]) -> Recipient: ...

    @abc.abstractmethod
    def update_fields(self, account_id: int, recipient_id: int, fields: dict[int, str]) -> None:
        ...

    @abc.abstractmethod
    def get(self, account_id: int, recipient_id: int) -> Recipient | None: ...


class LifecycleRepository(abc.ABC):
    """One recipient's subscription to one list, its groups, and its events."""

    @abc.abstractmethod
    def state(self, account_id: int, list_id: int, recipient_id: int) -> SubscriptionState | None:
        ...

    @abc.abstractmethod
    def put(self, account_id: int, list_id: int, recipient_id: int, status: SubscriptionStatus,
            now: dt.datetime, reason: int | None = None,
            source: ChangeSource | None = None) -> None:
        """Insert or update the subscription, stamping the date of the new status."""

    @abc.abstractmethod
    def delete(self, account_id: int, list_id: int, recipient_id: int) -> None: ...

    @abc.abstractmethod
    def set_groups(self, account_id: int, list_id: int, recipient_id: int, group_ids: list[int],
                   replace: bool) -> bool:
        """Add the recipient to the groups (of that list); with `replace`, also leave the
        list's other groups. Returns whether membership changed."""

    @abc.abstractmethod
    def record(self, account_id: int, list_id: int, recipient_id: int, event: EventType,
               source: ChangeSource, now: dt.datetime, reason: int | None = None) -> None:
        """Write the event and the webhook deliveries (and their jobs) it matches."""

    @abc.abstractmethod
    def prune_pending(self, cutoff: dt.datetime, now: dt.datetime) -> int:
        """Remove pending subscriptions requested before `cutoff` (a `removed` event each)."""


class JobQueue(abc.ABC):
    @abc.abstractmethod
    def defer(self, task: str, queue: str, args: dict[str, object],
              at: dt.datetime | None = None, lock: str | None = None) -> None:
        """Queue a job that exists if and only if this unit of work commits; jobs with the
        same `lock` never run at the same time."""

    @abc.abstractmethod
    def defer_or_move(self, task: str, queue: str, args: dict[str, object],
                      at: dt.datetime | None, lock: str) -> None:
        """Like defer, but a job of `lock` still waiting is moved to `at` (None: now)."""


class FrontendIpRepository(abc.ABC):
    @abc.abstractmethod
    def allowed(self, account_id: int, ip: str) -> bool: ...

    @abc.abstractmethod
    def register(self, account_id: int, ip: str, ws_name: str) -> bool:
        """False when the address was registered already."""


@dataclasses.dataclass(frozen=True)
class Delivery:
    id: int
    msg_id: str
    status: str
    attempts: int
    next_attempt_at: dt.datetime | None
    webhook_id: int
    event_id: int


class WebhookRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, hook: Webhook) -> Webhook: ...

    @abc.abstractmethod
    def all(self, account_id: int | None = None) -> list[Webhook]: ...

    @abc.abstractmethod
    def get(self, webhook_id: int) -> Webhook | None: ...

    @abc.abstractmethod
    def set_active(self, webhook_id: int, active: bool, reason: str | None = None) -> None: ...

    @abc.abstractmethod
    def count_failure(self, webhook_id: int) -> int:
        """One more failed attempt in a row; returns the new count."""

    @abc.abstractmethod
    def reset_failures(self, webhook_id: int) -> None: ...

    @abc.abstractmethod
    def deliveries(self, webhook_id: int | None, limit: int) -> list[Delivery]: ...

    @abc.abstractmethod
    def delivery(self, delivery_id: int, lock: bool = False) -> Delivery | None: ...

    @abc.abstractmethod
    def event(self, event_id: int) -> EventData | None: ...

    @abc.abstractmethod
    def update_delivery(self, delivery_id: int, status: str, attempts: int,
                        next_attempt_at: dt.datetime | None) -> None: ...

    @abc.abstractmethod
    def record_attempt(self, delivery_id: int, at: dt.datetime, status_code: int | None,
                       error: str | None, duration_ms: int) -> None: ...

    @abc.abstractmethod
    def attempts(self, delivery_id: int) -> list[tuple[dt.datetime, int | None, str | None]]: ...
