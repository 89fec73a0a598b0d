"""The repository contracts of sending: email messages and their deliveries, SMS and
theirs (implemented in db.sending_repos and db.sms_repos).

Every repository method takes the account id first: nothing reads or writes across accounts.
"""
from __future__ import annotations

import abc
import datetime as dt
from collections.abc import Sequence

from mailup_soap.domain import messages as msg
from mailup_soap.domain import sms as sms_model


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
