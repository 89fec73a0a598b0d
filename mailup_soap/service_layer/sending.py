"""Email messages and their deliveries: create and edit messages, send them to a list
(all subscribers, some addresses, some groups), and the delivery engine a worker runs.

The engine fixes a delivery's recipients when it is created, then sends in batches: each
batch is claimed in one transaction, sent over SMTP connections kept open across messages
(several in parallel), and recorded in another. A worker killed mid-batch leaves that batch
pending, so the retried job sends it again: only the messages in flight at the kill may go
twice, and nobody recorded as sent is sent again. Recipients no longer subscribed when their
turn comes are skipped."""
from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import logging
import re
import secrets
import threading
import time
import urllib.parse
from email.utils import format_datetime

from mailup_soap import errors
from mailup_soap.domain import lifecycle, tokens
from mailup_soap.domain import messages as msg
from mailup_soap.domain.contacts import normalize_email
from mailup_soap.domain.import_readers import read_csv, utf8_lines
from mailup_soap.domain.imports import ImportOptions, ProcessStatus
from mailup_soap.domain.model import (
    ChangeSource,
    MailingList,
    SubscriptionStatus,
    UnsubscribeReason,
)
from mailup_soap.service_layer import imports
from mailup_soap.service_layer.auth import authorize
from mailup_soap.service_layer.deps import Caller, Credentials, Deps
from mailup_soap.service_layer.lists import checked_list, parse_guid
from mailup_soap.service_layer.ports import FetchError, MailerError, MailSession, RecipientRefused
from mailup_soap.service_layer.subscriptions import apply_step
from mailup_soap.service_layer.unit_of_work import AbstractUnitOfWork

log = logging.getLogger("mailup_soap.sending")

SEND_TASK = "mailup:run_delivery"
SEND_QUEUE = "send"
# Recipients claimed and recorded per transaction: large enough that the two round trips
# vanish beside the SMTP work, small enough that a crash re-sends little.
BATCH = 500
TRACK_PATH = "/frontend/t"
# When an account's sliding hour is full, its delivery looks again this much later.
HOURLY_RETRY = dt.timedelta(minutes=5)


@dataclasses.dataclass(frozen=True)
class TrackLink:
    account_id: int
    list_id: int
    message_id: int
    delivery_id: int
    recipient_id: int
    url: str | None = None


# -- messages --------------------------------------------------------------------------


def _message(deps: Deps, cred: Credentials, list_id: int, message_id: int,
             ) -> tuple[int, msg.Message]:
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        checked_list(uow, caller, list_id, None)
        found = uow.sending.message(caller.account_id, message_id)
    if found is None or found.list_id != list_id:
        raise errors.MessageNotFound(message_id)
    return caller.account_id, found


def _content(deps: Deps, subject: str | None, kind: str | None, content: str | None,
             options: list[tuple[str, str]]) -> tuple[str, msg.ContentType, str,
                                                      msg.MessageOptions]:
    """Subject, type, HTML and options of a new or edited message; a URL message's page is
    fetched here (once: the message keeps the HTML, like a copy of the page)."""
    if not (subject or "").strip():
        raise errors.InvalidArgument("subject", "empty")
    if not (content or "").strip():
        raise errors.InvalidArgument("content", "empty")
    source = msg.content_source(kind)
    opts = msg.message_options(dict(options))
    body = content or ""
    if source is msg.Source.URL:
        if deps.page_fetcher is None:
            raise errors.InvalidArgument("type", "URL messages are not enabled")
        try:
            body = deps.page_fetcher.fetch(body.strip())
        except FetchError as exc:
            raise errors.InvalidArgument("content", f"the page could not be fetched: {exc}"
                                         ) from None
    elif source is msg.Source.FILE:
        body = msg.file_content(body)
    ctype = msg.ContentType.TEXT if source is msg.Source.TEXT else msg.ContentType.HTML
    return (subject or "").strip()[:500], ctype, body, opts


def _caller_list(deps: Deps, cred: Credentials, list_id: int) -> int:
    """The caller's account, once the accessKey and the list are checked."""
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        checked_list(uow, caller, list_id, None)
        return caller.account_id


def create_newsletter(deps: Deps, cred: Credentials, list_id: int, subject: str | None,
                      kind: str | None, content: str | None,
                      options: list[tuple[str, str]]) -> int:
    # Credentials first: nobody without an accessKey makes this server fetch a URL.
    account_id = _caller_list(deps, cred, list_id)
    subject_, type_, html, opts = _content(deps, subject, kind, content, options)
    with deps.uow() as uow:
        message_id = uow.sending.add_message(account_id, list_id, subject_, type_, html, opts,
                                             deps.clock.now())
        uow.commit()
        return message_id


def edit_newsletter(deps: Deps, cred: Credentials, list_id: int, message_id: int,
                    subject: str | None, kind: str | None, content: str | None,
                    options: list[tuple[str, str]]) -> msg.Message:
    account_id, _ = _message(deps, cred, list_id, message_id)
    subject_, type_, html, opts = _content(deps, subject, kind, content, options)
    with deps.uow() as uow:
        uow.sending.update_message(account_id, message_id, subject_, type_, html, opts,
                                   deps.clock.now())
        uow.commit()
        found = uow.sending.message(account_id, message_id)
    assert found is not None
    return found


def newsletters(deps: Deps, cred: Credentials, list_id: int,
                include_clones: bool = True) -> list[msg.Message]:
    """GetNewsletters: every message of the list; GetMessages: those not cloned (spec 3.1)."""
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        checked_list(uow, caller, list_id, None)
        return uow.sending.messages(caller.account_id, list_id, include_clones)


def _list_by_id_or_guid(uow: AbstractUnitOfWork, caller: Caller, list_id: str | None,
                        list_guid: str | None) -> MailingList:
    """CloneMessage and SendMessageNL name the list by id or by GUID (either may be empty)."""
    raw_id = (list_id or "").strip()
    if raw_id:
        if not (raw_id.isascii() and raw_id.isdigit()):
            raise errors.InvalidArgument("listId", "not a list id")
        return checked_list(uow, caller, int(raw_id), list_guid)
    found = uow.lists.by_guid(caller.account_id, parse_guid(list_guid))
    if found is None:
        raise errors.ListGuidMismatch(0)
    return found


def clone_message(deps: Deps, cred: Credentials, list_id: str | None, list_guid: str | None,
                  message_id: int, subject: str | None) -> int:
    """CloneMessage: a copy in the same list (identified by id or GUID), with a new subject
    when one is given; returns the copy's id."""
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        lst = _list_by_id_or_guid(uow, caller, list_id, list_guid)
        original = uow.sending.message(caller.account_id, message_id)
        if original is None or original.list_id != lst.id:
            raise errors.MessageNotFound(message_id)
        copy_id = uow.sending.add_message(
            caller.account_id, lst.id, (subject or "").strip()[:500] or original.subject,
            original.content_type, original.html,
            msg.MessageOptions(original.note, original.dynamic_fields, original.link_tracking),
            deps.clock.now(), cloned_from=original.id)
        uow.commit()
        return copy_id


def newsletter(deps: Deps, cred: Credentials, list_id: int, message_id: int,
               template: bool | None = None) -> msg.Message:
    """A message of the list; with `template` given, it must be (or not be) a template."""
    found = _message(deps, cred, list_id, message_id)[1]
    if template is not None and found.is_template != template:
        raise errors.MessageNotFound(message_id)
    return found


def templates(deps: Deps, cred: Credentials, list_id: int) -> list[msg.Message]:
    """GetTemplates: the list's templates (messages created with the option template=true)."""
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        checked_list(uow, caller, list_id, None)
        return uow.sending.messages(caller.account_id, list_id, templates=True)


# -- credits -----------------------------------------------------------------------------


def credits(deps: Deps, cred: Credentials) -> dict[str, int | None]:
    """GetCredits: what the account may still send, per channel (None: no limit)."""
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        return uow.sending.credits(caller.account_id)


def list_credits(deps: Deps, cred: Credentials,
                 list_id: int) -> tuple[dict[str, int | None], dict[str, int]]:
    """GetCreditsLists: the account's credits and what the list's deliveries took."""
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        checked_list(uow, caller, list_id, None)
        return (uow.sending.credits(caller.account_id),
                uow.sending.usage(caller.account_id, list_id))


def set_credits(deps: Deps, account_id: int, channel: str, value: int | None) -> None:
    """`mailup-soap account credits`: set what an account may still send (None: no limit)."""
    if channel not in ("email", "sms"):
        raise errors.InvalidArgument("channel", "email or sms")
    if value is not None and value < 0:
        raise errors.InvalidArgument("credits", "must be 0 or more")
    with deps.uow() as uow:
        if uow.accounts.get(account_id) is None:
            raise errors.InvalidArgument("account", f"account {account_id} does not exist")
        uow.sending.set_credits(account_id, channel, value)
        uow.commit()


def account_credits(deps: Deps, account_id: int) -> dict[str, int | None]:
    with deps.uow() as uow:
        return uow.sending.credits(account_id)


# -- deliveries ------------------------------------------------------------------------


def send_newsletter(deps: Deps, cred: Credentials, list_id: int, message_id: int,
                    options: list[tuple[str, str]]) -> msg.Delivery:
    """SendNewsletter: the delivery with its recipients fixed now, queued for a worker at
    `deliverydt` (or now)."""
    opts = msg.send_options(dict(options))
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        delivery = _deliver(uow, deps, caller.account_id, list_id, message_id, opts)
        uow.commit()
        return delivery


def _deliver(uow: AbstractUnitOfWork, deps: Deps, account_id: int, list_id: int,
             message_id: int, opts: msg.SendOptions) -> msg.Delivery:
    lst = uow.lists.get(account_id, list_id)
    if lst is None:
        raise errors.ListNotFound(list_id)
    message = uow.sending.message(account_id, message_id)
    if message is None or message.list_id != list_id:
        raise errors.MessageNotFound(message_id)
    if message.is_template:
        raise errors.InvalidArgument("newsletterID", f"{message_id} is a template: clone it "
                                     "(CloneMessage) and send the copy")
    for group_id in (*opts.groups, *opts.exclude_groups):
        group = uow.groups.get(account_id, group_id)
        if group is None or group.list_id != list_id:
            raise errors.GroupNotFound(group_id)
    now = deps.clock.now()
    when = max(opts.delivery_at or now, now)
    from_email = opts.from_email or lst.options.get("owneremail") or deps.mail_from
    from_name = opts.from_name or lst.options.get("nl_sendername") or lst.name
    delivery = uow.sending.create_delivery(account_id, message, opts, from_email, from_name,
                                           when, now)
    charge_credits(uow, account_id, "email", delivery.total)
    _queue(uow, delivery.id, when, now)
    return delivery


def charge_credits(uow: AbstractUnitOfWork, account_id: int, channel: str, count: int) -> None:
    """A delivery takes one credit per recipient when it is created (the caller's unit of
    work: without enough credits, the delivery is not created)."""
    if count and not uow.sending.charge(account_id, channel, count):
        left = uow.sending.credits(account_id)[channel] or 0
        raise errors.NotEnoughCredits(channel, count, left)


def _queue(uow: AbstractUnitOfWork, delivery_id: int, when: dt.datetime,
           now: dt.datetime) -> None:
    uow.jobs.defer_or_move(SEND_TASK, SEND_QUEUE, {"delivery_id": delivery_id},
                           at=when if when > now else None, lock=f"delivery-{delivery_id}")


def _split(options: list[tuple[str, str]]) -> tuple[list[tuple[str, str]],
                                                    list[tuple[str, str]]]:
    """SendNewsletterFast / SendSingleNewsletter options: the message's and the sending's."""
    unknown = [k for k, _ in options if k not in msg.MESSAGE_OPTIONS | msg.SEND_OPTIONS]
    if unknown:
        raise errors.InvalidArgument("options", f"unknown option {unknown[0]!r}")
    return ([(k, v) for k, v in options if k in msg.MESSAGE_OPTIONS],
            [(k, v) for k, v in options if k in msg.SEND_OPTIONS])


def send_newsletter_fast(deps: Deps, cred: Credentials, list_id: int, subject: str | None,
                         kind: str | None, content: str | None,
                         options: list[tuple[str, str]]) -> tuple[int, msg.Delivery]:
    """SendNewsletterFast: create the message and send it, in one call."""
    message_options, send_options = _split(options)
    opts = msg.send_options(dict(send_options))  # checked before anything is created
    message_id = create_newsletter(deps, cred, list_id, subject, kind, content,
                                   message_options)
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        delivery = _deliver(uow, deps, caller.account_id, list_id, message_id, opts)
        uow.commit()
    return message_id, delivery


def send_single(deps: Deps, cred: Credentials, list_id: int, subject: str | None,
                kind: str | None, content: str | None, recipient_email: str | None,
                options: list[tuple[str, str]]) -> tuple[int, msg.Delivery]:
    """SendSingleNewsletter: one message to one address (type ID: content is the id of a
    message of the list). An address new to the list is subscribed first, as MailUp does;
    someone unsubscribed or still pending is not sent to."""
    try:
        email = normalize_email(recipient_email)
    except errors.InvalidContact as exc:
        raise errors.InvalidArgument("recipientEmail", exc.reason) from None
    if email is None:
        raise errors.InvalidArgument("recipientEmail", "empty")
    message_options, send_options = _split(options)
    opts = dataclasses.replace(msg.send_options(dict(send_options) | {"send_to": "ALL"}),
                               send_to=msg.SendTo.RECIPIENTS, recipients=(email.lower(),))
    if (kind or "").strip().upper() == "ID":
        raw = (content or "").strip()
        if not (raw.isascii() and raw.isdigit()):
            raise errors.InvalidArgument("content", "type ID needs a message id")
        message_id = newsletter(deps, cred, list_id, int(raw)).id
    else:
        message_id = create_newsletter(deps, cred, list_id, subject, kind, content,
                                       message_options)
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        lst = checked_list(uow, caller, list_id, None)
        recipient = uow.recipients.find(caller.account_id, email, None)
        if recipient is None:
            recipient = uow.recipients.add(caller.account_id, email, None, {})
        state = uow.lifecycle.state(caller.account_id, list_id, recipient.id)
        if state is None:
            apply_step(uow, deps, lst, recipient, lifecycle.subscribe(None, confirm=False),
                       ChangeSource.API)
        elif state.status is not SubscriptionStatus.SUBSCRIBED:
            raise errors.InvalidArgument("recipientEmail",
                                         f"{email} is {state.status.value} on list {list_id}")
        delivery = _deliver(uow, deps, caller.account_id, list_id, message_id, opts)
        uow.commit()
    return message_id, delivery


# -- queues and schedules (a schedule id is the delivery id) ------------------------------


def _parse_when(date: str | None, time_: str | None) -> dt.datetime:
    text = f"{(date or '').strip()} {(time_ or '').strip() or '00:00'}"
    for pattern in ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%d/%m/%Y %H:%M",
                    "%d/%m/%Y %H:%M:%S", "%Y%m%d %H%M%S"):
        try:
            return dt.datetime.strptime(text, pattern).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
    raise errors.InvalidArgument("deliveryDate", "use yyyy-MM-dd (or dd/MM/yyyy) and HH:mm")


def prepare_schedule(deps: Deps, cred: Credentials, list_id: int, message_id: int,
                     date: str | None, time_: str | None) -> msg.Delivery:
    """PrepareNewsletterSchedule: a delivery to the whole list at that date and time (UTC)."""
    when = _parse_when(date, time_)
    opts = msg.SendOptions(msg.SendTo.ALL, delivery_at=when)
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        delivery = _deliver(uow, deps, caller.account_id, list_id, message_id, opts)
        uow.commit()
        return delivery


def queues(deps: Deps, cred: Credentials, list_id: int) -> list[msg.Delivery]:
    """GetNewsletterQueues: the list's deliveries not completed yet, by schedule."""
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        checked_list(uow, caller, list_id, None)
        return uow.sending.deliveries(caller.account_id, list_id=list_id, statuses=(
            msg.DeliveryStatus.SCHEDULED, msg.DeliveryStatus.SENDING,
            msg.DeliveryStatus.PAUSED))


def schedule_status(deps: Deps, cred: Credentials, message_id: int) -> list[msg.Delivery]:
    """GetNewsletterScheduleStatus: every delivery of the message."""
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        if uow.sending.message(caller.account_id, message_id) is None:
            raise errors.MessageNotFound(message_id)
        return uow.sending.deliveries(caller.account_id, message_id=message_id)


def _pending_delivery(uow: AbstractUnitOfWork, account_id: int, delivery_id: int,
                      list_id: int | None = None,
                      message_id: int | None = None) -> msg.Delivery:
    found = uow.sending.delivery(account_id, delivery_id, lock=True)
    if found is None or (list_id and found.list_id != list_id) or \
            (message_id and found.message_id != message_id):
        raise errors.DeliveryNotFound(delivery_id)
    if found.status is msg.DeliveryStatus.COMPLETED:
        raise errors.InvalidArgument("deliveryID", f"delivery {delivery_id} is completed")
    return found


def add_queue(deps: Deps, cred: Credentials, delivery_id: int, immediate: bool) -> msg.Delivery:
    """AddNewsletterQueue: queue the delivery again, now when `immediate`."""
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        found = _pending_delivery(uow, caller.account_id, delivery_id)
        now = deps.clock.now()
        when = now if immediate else max(found.scheduled_at, now)
        uow.sending.reschedule(delivery_id, when)
        if found.status is msg.DeliveryStatus.PAUSED:
            uow.sending.set_status(delivery_id, msg.DeliveryStatus.SCHEDULED, now)
        _queue(uow, delivery_id, when, now)
        uow.commit()
    return delivery_status(deps, cred, delivery_id)


def schedule_queue(deps: Deps, cred: Credentials, list_id: int, message_id: int,
                   schedule_id: int, deliverydt: str | None, timezone: int) -> msg.Delivery:
    """ScheduleNewsletterQueue: move a delivery not started yet to `deliverydt`
    (yyyyMMddHHmmss, local time `timezone` hours from UTC)."""
    if not -12 <= timezone <= 14:
        raise errors.InvalidArgument("timezone", "hours from UTC, -12..14")
    when = msg.send_options({"send_to": "ALL", "deliverydt": deliverydt or ""}).delivery_at
    if when is None:
        raise errors.InvalidArgument("deliverydt", "must be yyyyMMddHHmmss")
    when -= dt.timedelta(hours=timezone)
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        found = _pending_delivery(uow, caller.account_id, schedule_id, list_id, message_id)
        if found.status is msg.DeliveryStatus.SENDING:
            raise errors.InvalidArgument("scheduleID", "the delivery is sending already")
        now = deps.clock.now()
        uow.sending.reschedule(schedule_id, max(when, now))
        _queue(uow, schedule_id, max(when, now), now)
        uow.commit()
    return delivery_status(deps, cred, schedule_id)


def move_in_queue(deps: Deps, cred: Credentials, schedule_id: int,
                  up: bool) -> list[msg.Delivery]:
    """SetNewsletterQueueOrder: swap the delivery's time with the list's scheduled delivery
    just before it (`up`) or just after; answers the list's queue in its new order."""
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        found = _pending_delivery(uow, caller.account_id, schedule_id)
        queue = uow.sending.deliveries(caller.account_id, list_id=found.list_id,
                                       statuses=(msg.DeliveryStatus.SCHEDULED,))
        ids = [d.id for d in queue]
        if found.id not in ids:
            raise errors.InvalidArgument("scheduleID", "only a scheduled delivery moves")
        where = ids.index(found.id) + (-1 if up else 1)
        if not 0 <= where < len(queue):
            raise errors.InvalidArgument("Up", "the delivery is first" if up
                                         else "the delivery is last")
        other = queue[where]
        now = deps.clock.now()
        for delivery, when in ((found, other.scheduled_at), (other, found.scheduled_at)):
            uow.sending.reschedule(delivery.id, when)
            _queue(uow, delivery.id, when, now)
        uow.commit()
        return uow.sending.deliveries(caller.account_id, list_id=found.list_id,
                                      statuses=(msg.DeliveryStatus.SCHEDULED,))


def remove_queue(deps: Deps, cred: Credentials, list_id: int, message_id: int,
                 delivery_id: int) -> None:
    """RemoveNewsletterQueue: cancel a delivery that is scheduled or paused (one that is
    sending must be stopped first)."""
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        found = _pending_delivery(uow, caller.account_id, delivery_id, list_id, message_id)
        if found.status is msg.DeliveryStatus.SENDING:
            raise errors.InvalidArgument("deliveryID", "the delivery is sending: StopDelivery "
                                         "first")
        uow.sending.delete_delivery(delivery_id)
        uow.commit()


def delivery_status(deps: Deps, cred: Credentials, delivery_id: int) -> msg.Delivery:
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        found = uow.sending.delivery(caller.account_id, delivery_id)
    if found is None:
        raise errors.DeliveryNotFound(delivery_id)
    return found


def stop_delivery(deps: Deps, cred: Credentials) -> list[int]:
    """StopDelivery: pause the account's deliveries; they resume where they stopped."""
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        ids = uow.sending.of_account(caller.account_id, (msg.DeliveryStatus.SCHEDULED,
                                                         msg.DeliveryStatus.SENDING))
        for delivery_id in ids:
            uow.sending.set_status(delivery_id, msg.DeliveryStatus.PAUSED, deps.clock.now())
        uow.commit()
        return ids


def start_delivery(deps: Deps, cred: Credentials) -> list[int]:
    """StartDelivery: resume the account's paused deliveries."""
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        ids = uow.sending.of_account(caller.account_id, (msg.DeliveryStatus.PAUSED,))
        for delivery_id in ids:
            uow.sending.set_status(delivery_id, msg.DeliveryStatus.SENDING, deps.clock.now())
            _queue(uow, delivery_id, deps.clock.now(), deps.clock.now())
        uow.commit()
        return ids


# -- SendMessageNL: recipients from a file on the account's FTP site ---------------------

MESSAGE_NL_TASK = "mailup:run_message_nl"


def send_message_nl(deps: Deps, cred: Credentials, file_name: str | None,
                    separator: str | None, list_id: str | None, list_guid: str | None,
                    message_id: str | None, sender_name: str | None, sender: str | None,
                    subject: str | None, when: dt.datetime | None) -> int:
    """SendMessageNL: import the CSV file `file_name` of the account's FTP site into the
    list (new addresses subscribed, existing ones updated, as the daily sync does), then send
    the message to the file's addresses that are subscribed; at `when`, or now when it is
    past. Returns the delivery id at once; a worker does the import and the sending."""
    delimiter = separator or ";"
    if len(delimiter) != 1 or delimiter in "\r\n\"":
        raise errors.InvalidArgument("separator", "one character")
    raw_message = (message_id or "").strip()
    if not (raw_message.isascii() and raw_message.isdigit()):
        raise errors.InvalidArgument("messageId", "not a message id")
    from_email = (sender or "").strip()
    if from_email:
        from_email = msg.send_options({"send_to": "ALL", "from_email": from_email}).from_email
    if deps.file_drop is None:
        raise errors.InvalidArgument("fileName", "no FTP site configured")
    opts = ImportOptions()
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        lst = _list_by_id_or_guid(uow, caller, list_id, list_guid)
        message = uow.sending.message(caller.account_id, int(raw_message))
        if message is None or message.list_id != lst.id:
            raise errors.MessageNotFound(int(raw_message))
        now = deps.clock.now()
        if (subject or "").strip() and subject.strip() != message.subject:  # type: ignore[union-attr]
            copy_id = uow.sending.add_message(
                caller.account_id, lst.id, (subject or "").strip()[:500], message.content_type,
                message.html, msg.MessageOptions(message.note, message.dynamic_fields,
                                                 message.link_tracking), now,
                cloned_from=message.id)
            message = uow.sending.message(caller.account_id, copy_id)
            assert message is not None
        if uow.imports.running_for_list(caller.account_id, lst.id):
            raise errors.ImportAlreadyRunning(lst.id)
        try:
            with deps.file_drop.open_file(caller.account_id, file_name or "") as raw:
                process_id = imports.create_process(
                    uow, caller.account_id, lst.id,
                    read_csv(utf8_lines(raw), opts, delimiter=delimiter), opts)
        except (FileNotFoundError, ValueError, IsADirectoryError) as exc:
            raise errors.InvalidArgument("fileName", f"{file_name!r}: {exc}") from None
        uow.imports.mark(process_id, ProcessStatus.RUNNING, now)
        send = msg.SendOptions(msg.SendTo.RECIPIENTS)  # nobody until the import is merged
        start = max(when.astimezone(dt.UTC) if when else now, now)
        delivery = uow.sending.create_delivery(
            caller.account_id, message, send,
            from_email or lst.options.get("owneremail") or deps.mail_from,
            (sender_name or "").strip() or lst.options.get("nl_sendername") or lst.name,
            start, now)
        uow.jobs.defer(MESSAGE_NL_TASK, SEND_QUEUE,
                       {"delivery_id": delivery.id, "process_id": process_id},
                       at=start if start > now else None, lock=f"delivery-{delivery.id}")
        uow.commit()
        return delivery.id


def run_message_nl(deps: Deps, delivery_id: int, process_id: int) -> str:
    """The worker's part of SendMessageNL: the import, the recipients, then the sending.
    Safe to re-run at any point."""
    status = imports.run_process(deps, process_id, keep_rows=True)
    with deps.uow() as uow:
        delivery = uow.sending.delivery(None, delivery_id, lock=True)
        if delivery is None:
            return "gone"
        if status is ProcessStatus.COMPLETED:
            uow.sending.add_from_import(delivery, process_id)
        else:
            uow.sending.set_status(delivery_id, msg.DeliveryStatus.COMPLETED, deps.clock.now())
        uow.imports.clear_rows(process_id)
        uow.commit()
    if status is not ProcessStatus.COMPLETED:
        return "import failed"
    return run_delivery(deps, delivery_id)


# -- the engine --------------------------------------------------------------------------


class _Pace:
    """At most `per_second` messages a second across the delivery's connections."""

    def __init__(self, per_second: int) -> None:
        self.interval = 1 / per_second if per_second > 0 else 0.0
        self.next_at = time.monotonic()
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            slot = max(self.next_at, now)
            self.next_at = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


def run_delivery(deps: Deps, delivery_id: int) -> str:
    """The worker's part; returns what became of the delivery. A MailerError (the SMTP
    server unreachable) propagates after recording what was sent, so the job is retried."""
    if deps.bulk_mailer is None:
        raise RuntimeError("no SMTP configured for deliveries")
    with deps.uow() as uow:
        delivery = uow.sending.delivery(None, delivery_id, lock=True)
        if delivery is None or delivery.status in (msg.DeliveryStatus.PAUSED,
                                                   msg.DeliveryStatus.COMPLETED):
            return delivery.status.value if delivery else "gone"
        if delivery.scheduled_at > deps.clock.now() + dt.timedelta(seconds=1):
            return "not due"  # rescheduled later: that reschedule queued its own job
        uow.sending.set_status(delivery_id, msg.DeliveryStatus.SENDING, deps.clock.now())
        message = uow.sending.message(delivery.account_id, delivery.message_id)
        uow.commit()
    assert message is not None
    sessions = [deps.bulk_mailer.open_session() for _ in range(max(1, deps.send_connections))]
    pace = _Pace(deps.send_per_second)
    try:
        with concurrent.futures.ThreadPoolExecutor(len(sessions)) as pool:
            while True:
                with deps.uow() as uow:
                    current = uow.sending.delivery(None, delivery_id, lock=True)
                    if current is None or current.status is msg.DeliveryStatus.PAUSED:
                        return current.status.value if current else "gone"
                    room = BATCH
                    if deps.send_per_hour:
                        room = min(room, deps.send_per_hour - uow.sending.sent_since(
                            current.account_id, deps.clock.now() - dt.timedelta(hours=1)))
                    if room <= 0:  # the account's hour is full: try again in a while
                        uow.jobs.defer(SEND_TASK, SEND_QUEUE, {"delivery_id": delivery_id},
                                       at=deps.clock.now() + HOURLY_RETRY,
                                       lock=f"delivery-{delivery_id}")
                        uow.commit()
                        return "hourly limit"
                    batch = uow.sending.claim(current, room)
                    if not batch:
                        uow.sending.set_status(delivery_id, msg.DeliveryStatus.COMPLETED,
                                               deps.clock.now())
                        uow.commit()
                        return "completed"
                    uow.commit()
                outgoing = [(a, build_message(deps, current, message, a)) for a in batch]
                chunks = [outgoing[i::len(sessions)] for i in range(len(sessions))]
                results = list(pool.map(_send_chunk, sessions, chunks, [pace] * len(chunks)))
                sent = [rid for r in results for rid in r[0]]
                failed = [f for r in results for f in r[1]]
                with deps.uow() as uow:
                    uow.sending.mark(delivery_id, sent, failed, deps.clock.now())
                    uow.commit()
                broken = [r[2] for r in results if r[2] is not None]
                if broken:
                    raise broken[0]
    finally:
        for session in sessions:
            session.close()


def _send_chunk(session: MailSession,
                chunk: list[tuple[msg.Addressee, tuple[bytes, str]]],
                pace: _Pace) -> tuple[list[int], list[tuple[int, str]], MailerError | None]:
    sent: list[int] = []
    failed: list[tuple[int, str]] = []
    for addressee, (email, envelope_from) in chunk:
        pace.wait()
        try:
            session.send(email, envelope_from, addressee.email)
        except RecipientRefused as exc:
            failed.append((addressee.recipient_id, str(exc)))
        except MailerError as exc:
            return sent, failed, exc  # the rest of the chunk stays pending
        else:
            sent.append(addressee.recipient_id)
    return sent, failed, None


def _track_url(deps: Deps, kind: str, link: TrackLink) -> str:
    payload = {"a": link.account_id, "l": link.list_id, "m": link.message_id,
               "d": link.delivery_id, "r": link.recipient_id}
    if link.url is not None:
        payload["u"] = link.url  # type: ignore[assignment]
    token = tokens.make(deps.secret_key, f"track-{kind}", payload)
    return f"{deps.public_url.rstrip('/')}{TRACK_PATH}/{kind}?t={urllib.parse.quote(token)}"


def build_message(deps: Deps, delivery: msg.Delivery, message: msg.Message,
                  addressee: msg.Addressee) -> tuple[bytes, str]:
    """One recipient's email (bytes) and its VERP envelope sender."""
    base = TrackLink(delivery.account_id, delivery.list_id, message.id, delivery.id,
                     addressee.recipient_id)
    unsubscribe = _track_url(deps, "u", base)
    one_click = _track_url(deps, "oneclick", base)
    html = msg.render_html(message, addressee,
                           lambda url: _track_url(deps, "c", dataclasses.replace(base, url=url)),
                           _track_url(deps, "o", base), unsubscribe)
    text = msg.render_text(message, addressee, unsubscribe)
    subject = message.subject
    if message.dynamic_fields:
        subject = msg.merge_fields(subject, addressee, escape=False)
    domain = deps.bounce_domain or delivery.from_email.rpartition("@")[2] or "localhost"
    mailto = tokens.make(deps.secret_key, "track-mailto",
                         {"d": delivery.id, "r": addressee.recipient_id})
    tag = f"{delivery.id}.{addressee.recipient_id}.{secrets.token_hex(6)}"
    headers = [
        ("From", msg.address(delivery.from_name, delivery.from_email)),
        ("To", addressee.email),
        ("Subject", msg.header_text(subject)),
        ("Date", format_datetime(deps.clock.now())),
        ("Message-ID", f"<{tag}@{domain}>"),
        ("List-Unsubscribe", f"<mailto:unsubscribe@{domain}?subject="
                             f"{urllib.parse.quote(mailto)}>,\r\n <{one_click}>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("X-MailUp-Delivery", str(delivery.id)),
    ]
    return (msg.mime(headers, text, html, f"=_{tag}"),
            f"bounces+{delivery.id}-{addressee.recipient_id}@{domain}")


# -- tracking and unsubscription ---------------------------------------------------------


def read_link(deps: Deps, kind: str, token: str) -> TrackLink:
    payload = tokens.read(deps.secret_key, f"track-{kind}", token)
    try:
        return TrackLink(int(payload["a"]), int(payload["l"]), int(payload["m"]),
                         int(payload["d"]), int(payload["r"]), payload.get("u"))
    except (KeyError, TypeError, ValueError):
        raise errors.InvalidToken("malformed token") from None


def track(deps: Deps, kind: str, token: str, ip: str) -> TrackLink:
    """An open (`o`) or a click (`c`): recorded; a click's URL is the one signed into the
    link, so the redirect goes nowhere else."""
    link = read_link(deps, kind, token)
    with deps.uow() as uow:
        uow.sending.track(link.account_id, link.delivery_id, link.recipient_id,
                          "open" if kind == "o" else "click", link.url, ip, deps.clock.now())
        uow.commit()
    return link


def unsubscribe_from_message(deps: Deps, kind: str, token: str) -> bool:
    """The unsubscribe link's button (`u`, reason 2) or a List-Unsubscribe one-click POST
    (`oneclick`, reason 32). True when the recipient was subscribed or pending."""
    link = read_link(deps, kind, token)
    reason = (UnsubscribeReason.UNSUBSCRIBE_LINK if kind == "u"
              else UnsubscribeReason.LIST_UNSUBSCRIBE_LINK)
    return _unsubscribe(deps, link, reason)


_MAILTO_TOKEN = re.compile(r"[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{20,}")


def unsubscribe_by_mail(deps: Deps, subject: str) -> bool:
    """A List-Unsubscribe mail (reason 64): its subject carries the signed token of the
    mailto link (a reply may have added "Re:" and the like around it). True when someone was
    unsubscribed; a subject without a valid token raises InvalidToken."""
    found = _MAILTO_TOKEN.search(subject or "")
    payload = tokens.read(deps.secret_key, "track-mailto", found.group(0) if found else "")
    with deps.uow() as uow:
        delivery = uow.sending.delivery(None, int(payload.get("d", 0)))
    if delivery is None:
        return False
    link = TrackLink(delivery.account_id, delivery.list_id, delivery.message_id, delivery.id,
                     int(payload.get("r", 0)))
    return _unsubscribe(deps, link, UnsubscribeReason.LIST_UNSUBSCRIBE_MAIL)


def _unsubscribe(deps: Deps, link: TrackLink, reason: UnsubscribeReason) -> bool:
    with deps.uow() as uow:
        lst = uow.lists.get(link.account_id, link.list_id)
        recipient = uow.recipients.get(link.account_id, link.recipient_id)
        if lst is None or recipient is None:
            return False
        state = uow.lifecycle.state(link.account_id, link.list_id, link.recipient_id)
        current = lifecycle.Current(state.status, state.reason) if state else None
        step = lifecycle.unsubscribe(current)
        apply_step(uow, deps, lst, recipient, step, ChangeSource.RECIPIENT, reason=int(reason))
        if step.outcome is lifecycle.Outcome.CHANGED:
            uow.sending.set_optout_message(link.account_id, link.list_id, link.recipient_id,
                                           link.message_id)
        uow.commit()
        return step.outcome is lifecycle.Outcome.CHANGED
