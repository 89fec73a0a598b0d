"""The abstract unit of work and the repositories it carries.

Every repository method takes the account id first: nothing reads or writes across accounts.
"""
from __future__ import annotations

import abc
import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType

from mailup_soap.domain import messages as msg
from mailup_soap.domain import reports
from mailup_soap.domain import sms as sms_model
from mailup_soap.domain.import_readers import ReaderRow
from mailup_soap.domain.imports import ImportOptions, ImportProcess, ProcessStatus
from mailup_soap.domain.model import (
    Account,
    ChangeSource,
    EventType,
    Field,
    Group,
    MailingList,
    Recipient,
    Session,
    SubscriptionState,
    SubscriptionStatus,
    User,
    UserKind,
)
from mailup_soap.domain.unsubscribers import (
    ExportProfile,
    Unsubscriber,
    UnsubscriberFilter,
    Window,
)
from mailup_soap.domain.webhooks import EventData, Webhook


class AccountRepository(abc.ABC):
    @abc.abstractmethod
    def get(self, account_id: int) -> Account | None: ...

    @abc.abstractmethod
    def by_console_host(self, host: str) -> Account | None: ...

    @abc.abstractmethod
    def add(self, account: Account) -> None: ...

    @abc.abstractmethod
    def all(self) -> list[Account]: ...

    @abc.abstractmethod
    def next_list_id(self, account_id: int) -> int:
        """Allocate the next per-account list id (locks the account row until commit)."""

    @abc.abstractmethod
    def next_group_id(self, account_id: int) -> int:
        """Allocate the next per-account group id (locks the account row until commit)."""


class UserRepository(abc.ABC):
    @abc.abstractmethod
    def by_username(self, username: str) -> User | None: ...

    @abc.abstractmethod
    def get(self, account_id: int, user_id: int) -> User | None: ...

    @abc.abstractmethod
    def add(self, account_id: int, username: str, kind: UserKind, password_hash: str) -> User: ...

    @abc.abstractmethod
    def for_account(self, account_id: int) -> list[User]: ...


class SessionRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, session: Session, issued_at: dt.datetime) -> None: ...

    @abc.abstractmethod
    def get(self, key_hash: str) -> Session | None:
        """The session unless it was revoked (expiry is the caller's check)."""

    @abc.abstractmethod
    def revoke(self, key_hash: str, now: dt.datetime) -> None: ...

    @abc.abstractmethod
    def purge_expired(self, now: dt.datetime) -> int: ...


class ListRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, mailing_list: MailingList) -> None: ...

    @abc.abstractmethod
    def get(self, account_id: int, list_id: int) -> MailingList | None: ...

    @abc.abstractmethod
    def all(self, account_id: int) -> list[MailingList]: ...

    @abc.abstractmethod
    def by_auto_id(self, account_id: int, auto_id: str) -> list[MailingList]: ...

    @abc.abstractmethod
    def by_guid(self, account_id: int, guid: uuid.UUID) -> MailingList | None: ...

    @abc.abstractmethod
    def set_options(self, account_id: int, list_id: int, options: dict[str, str]) -> None: ...

    @abc.abstractmethod
    def delete(self, account_id: int, list_id: int) -> None:
        """Delete the list with its groups and subscriptions (remove the subscriptions first)."""


class GroupRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, group: Group) -> None: ...

    @abc.abstractmethod
    def get(self, account_id: int, group_id: int) -> Group | None: ...

    @abc.abstractmethod
    def by_name(self, account_id: int, list_id: int, name: str) -> Group | None: ...

    @abc.abstractmethod
    def for_lists(self, account_id: int, list_ids: list[int]) -> list[Group]: ...

    @abc.abstractmethod
    def update(self, group: Group) -> None: ...

    @abc.abstractmethod
    def delete(self, account_id: int, group_id: int) -> None: ...


class FieldRepository(abc.ABC):
    @abc.abstractmethod
    def all(self, account_id: int) -> list[Field]: ...

    @abc.abstractmethod
    def set_many(self, account_id: int, fields: list[Field]) -> None: ...


class SubscriptionRepository(abc.ABC):
    """Set-based subscription changes; each writes its lifecycle events in the same transaction."""

    @abc.abstractmethod
    def remove_list(self, account_id: int, list_id: int, source: ChangeSource,
                    now: dt.datetime) -> int:
        """Remove every subscription of the list (a `removed` event each); returns the count."""

    @abc.abstractmethod
    def remove_group_members(self, account_id: int, list_id: int, group_id: int,
                             source: ChangeSource, now: dt.datetime) -> int:
        """Remove the group's members from the list (a `removed` event each), then delete
        recipients left in no list of the account; returns the number of subscriptions removed."""


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


class ImportRepository(abc.ABC):
    @abc.abstractmethod
    def create(self, account_id: int, list_id: int, options: ImportOptions,
               source: ChangeSource, delivery_id: int | None = None) -> int:
        """A queued process; with `delivery_id`, held for that SendMessageNL delivery."""

    @abc.abstractmethod
    def stage(self, process_id: int, rows: Iterable[ReaderRow]) -> None:
        """Store the rows (COPY); the document is read as it is stored."""

    @abc.abstractmethod
    def get(self, process_id: int, account_id: int | None = None,
            lock: bool = False) -> ImportProcess | None: ...

    @abc.abstractmethod
    def queued(self, account_id: int) -> list[ImportProcess]:
        """The account's queued processes, in creation order, except those held for a
        SendMessageNL delivery."""

    @abc.abstractmethod
    def running_for_list(self, account_id: int, list_id: int,
                         outside_list_jobs: bool = False, lock: bool = True) -> bool:
        """Whether a process of the list runs (`outside_list_jobs`: one that no job under
        the list's lock merges). With `lock`, also serialises concurrent starts for the list
        until commit; without, a mere look, on whose answer nothing may be marked running
        (it holds nothing while the caller goes on, e.g. reading a file)."""

    @abc.abstractmethod
    def mark(self, process_id: int, status: ProcessStatus, now: dt.datetime,
             error: str | None = None, by_list_job: bool = False) -> None:
        """`by_list_job` (with RUNNING): a job under the list's lock will merge it."""

    @abc.abstractmethod
    def has_rows_by_number(self, process_id: int, after: int) -> bool:
        """Whether valid rows after row `after` give a contact by its mobile number alone
        (for a process stored before they were counted, migration 0015)."""

    @abc.abstractmethod
    def set_lanes(self, process_id: int, lanes: int) -> tuple[int, ...]:
        """Split the process into `lanes` lanes, each at its progress, unless a runner
        did first: the lanes' progress, as it stands."""

    @abc.abstractmethod
    def lane(self, process_id: int, lane: int) -> tuple[ImportProcess, int] | None:
        """For a batch of the lane: the process, and the lane's progress read after
        taking the lane until commit (other runners of the lane wait; the other lanes go
        on). None when the process is gone."""

    @abc.abstractmethod
    def merge_batch(self, process: ImportProcess, low: int, high: int, now: dt.datetime,
                    lane: int = 0, lanes: int = 1) -> int:
        """Merge the lane's rows low < row_no <= high; the process's progress after it
        (the least of its lanes'). Raises ContactCreatedMeanwhile when another transaction
        created one of the batch's new recipients first (the caller rolls back and merges
        it again)."""

    @abc.abstractmethod
    def clear_rows(self, process_id: int) -> None: ...

    @abc.abstractmethod
    def rejected_rows(self, process_id: int) -> Iterator[tuple[int, str]]:
        """(row number, reason) of the rows refused at staging, in row order."""

    @abc.abstractmethod
    def first_duplicate(self, process_id: int) -> str | None:
        """An address (or, for a row without one, a mobile number) that two valid staged rows
        give, if any."""


class ExportRepository(abc.ABC):
    """Unsubscribers (spec 7.2) and the saved export profiles, one account at a time."""

    @abc.abstractmethod
    def page(self, account_id: int, flt: UnsubscriberFilter, window: Window | None,
             after: tuple[int, int] | None, limit: int) -> list[Unsubscriber]:
        """Up to `limit` unsubscribers matching `flt` and unsubscribed inside `window` (any
        date when None), ordered by (list id, recipient id), strictly after `after`."""

    @abc.abstractmethod
    def stream(self, account_id: int, flt: UnsubscriberFilter,
               window: Window | None) -> Iterator[Unsubscriber]:
        """Every match in the same order, read in batches through a server-side cursor so
        memory stays flat; consume it inside the unit of work."""

    @abc.abstractmethod
    def add_profile(self, account_id: int, profile: ExportProfile) -> bool:
        """False when the account has a profile of that name already."""

    @abc.abstractmethod
    def profiles(self, account_id: int) -> list[ExportProfile]:
        """By name."""

    @abc.abstractmethod
    def remove_profile(self, account_id: int, name: str) -> bool:
        """False when there was no such profile."""


class ReportRepository(abc.ABC):
    """The opens and clicks of a list's email messages (spec 5). `message_id` None: every
    message of the list."""

    @abc.abstractmethod
    def by_message(self, account_id: int, list_id: int,
                   message_id: int | None) -> reports.MessageReport:
        """Clicks by link (the most clicked first) and opens, each with its count per
        address (the most active first)."""

    @abc.abstractmethod
    def subscriber(self, account_id: int, list_id: int,
                   email: str) -> reports.Subscriber | None:
        """The recipient with this address (case-insensitive) as the list knows them; None
        when nobody has it or they are not in the list."""

    @abc.abstractmethod
    def hits(self, account_id: int, list_id: int, recipient_id: int,
             message_id: int | None) -> list[reports.Hit]:
        """The recipient's opens and clicks, oldest first."""


@dataclasses.dataclass(frozen=True)
class FtpUser:
    username: str
    account_id: int
    password_hash: str
    created_at: dt.datetime


class FtpUserRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, account_id: int, username: str, password_hash: str) -> bool:
        """False when the username is taken (by any account)."""

    @abc.abstractmethod
    def by_username(self, username: str) -> FtpUser | None: ...

    @abc.abstractmethod
    def of_account(self, account_id: int) -> list[FtpUser]: ...

    @abc.abstractmethod
    def remove(self, account_id: int, username: str) -> bool: ...


@dataclasses.dataclass(frozen=True)
class SyncFile:
    """A file content imported (or being imported) into a list by the daily sync."""

    account_id: int
    list_id: int
    sha256: str
    name: str
    process_id: int | None
    status: str  # importing | done
    received_at: dt.datetime
    done_at: dt.datetime | None


class SyncFileRepository(abc.ABC):
    @abc.abstractmethod
    def get(self, account_id: int, list_id: int, sha256: str,
            lock: bool = False) -> SyncFile | None: ...

    @abc.abstractmethod
    def add(self, account_id: int, list_id: int, sha256: str, name: str, process_id: int,
            now: dt.datetime) -> bool:
        """False when that content is already recorded for the list (another sync has it)."""

    @abc.abstractmethod
    def importing(self, account_id: int) -> list[SyncFile]: ...

    @abc.abstractmethod
    def mark_done(self, account_id: int, list_id: int, sha256: str, now: dt.datetime) -> None: ...

    @abc.abstractmethod
    def forget(self, account_id: int, list_id: int, sha256: str) -> None:
        """The import failed: a later copy of the file is imported afresh."""


class DeliveryStates(abc.ABC):
    """Pausing and resuming: the same for a channel's deliveries, email or SMS."""

    @abc.abstractmethod
    def set_status(self, delivery_id: int, status: msg.DeliveryStatus,
                   now: dt.datetime) -> None: ...

    @abc.abstractmethod
    def of_account(self, account_id: int,
                   statuses: tuple[msg.DeliveryStatus, ...]) -> list[int]: ...

    @abc.abstractmethod
    def paused(self, account_id: int) -> Sequence[msg.Delivery | sms_model.SmsDelivery]:
        """The account's paused deliveries of this channel."""


class SendingRepository(DeliveryStates):
    """Messages, deliveries and their recipients, opens and clicks."""

    @abc.abstractmethod
    def add_message(self, account_id: int, list_id: int, subject: str,
                    content_type: msg.ContentType, html: str, opts: msg.MessageOptions,
                    now: dt.datetime, cloned_from: int | None = None) -> int: ...

    @abc.abstractmethod
    def update_message(self, account_id: int, message_id: int, subject: str,
                       content_type: msg.ContentType, html: str, opts: msg.MessageOptions,
                       now: dt.datetime) -> None: ...

    @abc.abstractmethod
    def message(self, account_id: int, message_id: int,
                list_id: int | None = None) -> msg.Message | None:
        """The account's email; with `list_id`, only if it is that list's."""

    @abc.abstractmethod
    def messages(self, account_id: int, list_id: int, include_clones: bool = True,
                 templates: bool = False) -> list[msg.Message]:
        """The list's messages (or its templates), without clones when asked."""

    @abc.abstractmethod
    def create_delivery(self, account_id: int, message: msg.Message, opts: msg.SendOptions,
                        from_email: str, from_name: str, scheduled_at: dt.datetime,
                        now: dt.datetime) -> msg.Delivery:
        """The delivery with its recipients: the list's subscribers with an email, narrowed
        by `opts` (recipients, groups, excluded groups), fixed now, set-based."""

    @abc.abstractmethod
    def delivery(self, account_id: int | None, delivery_id: int,
                 lock: bool = False) -> msg.Delivery | None: ...

    @abc.abstractmethod
    def deliveries(self, account_id: int, list_id: int | None = None,
                   message_id: int | None = None,
                   statuses: tuple[msg.DeliveryStatus, ...] = ()) -> list[msg.Delivery]:
        """The account's deliveries, optionally of one list or message, in some statuses."""

    @abc.abstractmethod
    def reschedule(self, delivery_id: int, when: dt.datetime) -> None: ...

    @abc.abstractmethod
    def add_from_import(self, delivery: msg.Delivery, process_id: int) -> int:
        """SendMessageNL: the delivery's recipients are the valid rows of an import process
        (by email), those subscribed to the list; returns the delivery's total."""

    @abc.abstractmethod
    def delete_delivery(self, delivery_id: int) -> None: ...

    @abc.abstractmethod
    def claim(self, delivery: msg.Delivery, limit: int) -> list[msg.Addressee]:
        """The next pending recipients still subscribed to the list; those who are not any
        more are marked skipped on the way."""

    @abc.abstractmethod
    def mark(self, delivery_id: int, sent: list[int], failed: list[tuple[int, str]],
             now: dt.datetime) -> None: ...

    @abc.abstractmethod
    def sent_since(self, account_id: int, since: dt.datetime) -> int: ...

    @abc.abstractmethod
    def clear_stats(self, account_id: int, message_id: int) -> None:
        """Forget the opens and clicks of the message's deliveries so far (its bounces stay:
        they are about addresses, not about the message)."""

    @abc.abstractmethod
    def add_bounce(self, account_id: int, delivery_id: int, recipient_id: int, kind: str,
                   status: str, now: dt.datetime) -> None: ...

    @abc.abstractmethod
    def soft_bounces(self, account_id: int, list_id: int, recipient_id: int) -> int:
        """The list's deliveries that bounced softly for the recipient since they last
        opened or clicked one of its messages, and since they subscribed."""

    @abc.abstractmethod
    def track(self, account_id: int, delivery_id: int, recipient_id: int, kind: str,
              url: str | None, ip: str, now: dt.datetime) -> None: ...

    @abc.abstractmethod
    def set_optout_message(self, account_id: int, list_id: int, recipient_id: int,
                           message_id: int) -> None: ...

    @abc.abstractmethod
    def credits(self, account_id: int) -> dict[str, int | None]:
        """Credits left per channel (`email`, `sms`); None: no limit."""

    @abc.abstractmethod
    def set_credits(self, account_id: int, channel: str, credits: int | None) -> None: ...

    @abc.abstractmethod
    def charge(self, account_id: int, channel: str, count: int) -> bool:
        """Take `count` credits of the channel; False (nothing taken) when fewer are left."""

    @abc.abstractmethod
    def usage(self, account_id: int, list_id: int) -> dict[str, int]:
        """Messages charged to the list's deliveries, per channel."""


class SmsRepository(DeliveryStates):
    """SMS messages and deliveries: rows of messages / deliveries / delivery_recipients with
    channel 'sms' (the email repository never sees them)."""

    @abc.abstractmethod
    def add_sms(self, account_id: int, list_id: int, subject: str, text: str, note: str,
                now: dt.datetime) -> int: ...

    @abc.abstractmethod
    def sms(self, account_id: int, sms_id: int) -> sms_model.Sms | None: ...

    @abc.abstractmethod
    def smses(self, account_id: int, list_id: int) -> list[sms_model.Sms]: ...

    @abc.abstractmethod
    def create_delivery(self, account_id: int, list_id: int, sms_id: int,
                        opts: sms_model.SmsSendOptions, sender: str,
                        scheduled_at: dt.datetime, now: dt.datetime) -> sms_model.SmsDelivery:
        """The delivery with its recipients: the list's subscribers with a mobile number (one
        per number), narrowed by `opts`, fixed now, set-based."""

    @abc.abstractmethod
    def create_single(self, account_id: int, list_id: int, sms_id: int | None,
                      text: str | None, number: str, sender: str,
                      now: dt.datetime) -> sms_model.SmsDelivery:
        """A one-to-one delivery to `number` (of the recipient on file with it, if any):
        of message `sms_id`, or of `text` stored on the delivery (SendDirectSMS)."""

    @abc.abstractmethod
    def unsubscribed(self, account_id: int, list_id: int, number: str) -> bool:
        """Someone with this number unsubscribed from the list."""

    @abc.abstractmethod
    def delivery(self, account_id: int | None, delivery_id: int,
                 lock: bool = False) -> sms_model.SmsDelivery | None: ...

    @abc.abstractmethod
    def deliveries(self, account_id: int, list_id: int | None,
                   statuses: tuple[msg.DeliveryStatus, ...]) -> list[sms_model.SmsDelivery]:
        """The list's (None: the account's) SMS deliveries in these statuses, by schedule."""

    @abc.abstractmethod
    def reschedule(self, delivery_id: int, when: dt.datetime) -> None: ...

    @abc.abstractmethod
    def delete_delivery(self, delivery_id: int) -> None:
        """The delivery and its recipients."""

    @abc.abstractmethod
    def claim(self, delivery: sms_model.SmsDelivery,
              limit: int) -> list[sms_model.SmsAddressee]:
        """The next pending numbers: list sends' recipients still subscribed with a mobile,
        one-to-one sends unless their number unsubscribed; the others are marked skipped."""

    @abc.abstractmethod
    def mark(self, delivery_id: int, sent: list[tuple[int, str]],
             failed: list[tuple[int, str]], now: dt.datetime) -> None:
        """`sent`: (recipient id, gateway message id); `failed`: (recipient id, error)."""


class AbstractUnitOfWork(abc.ABC):
    accounts: AccountRepository
    users: UserRepository
    sessions: SessionRepository
    lists: ListRepository
    groups: GroupRepository
    fields: FieldRepository
    subscriptions: SubscriptionRepository
    recipients: RecipientRepository
    lifecycle: LifecycleRepository
    jobs: JobQueue
    frontend_ips: FrontendIpRepository
    webhooks: WebhookRepository
    imports: ImportRepository
    ftp_users: FtpUserRepository
    sending: SendingRepository
    sms: SmsRepository
    sync_files: SyncFileRepository
    exports: ExportRepository
    reports: ReportRepository

    def __enter__(self) -> AbstractUnitOfWork:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        # Leaving the block without commit() rolls back: nothing is ever half-written.
        self.rollback()

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...
