"""Email messages and their deliveries: create, edit, clone messages and templates; send
them to a list (all subscribers, some addresses, some groups, the addresses of a file);
schedules, queues and credits. The worker's side is in delivery_engine.py, the links inside
the messages in tracking.py."""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

from mailup_soap import errors
from mailup_soap.domain import lifecycle
from mailup_soap.domain import messages as msg
from mailup_soap.domain.contacts import normalize_email
from mailup_soap.domain.import_readers import read_csv, utf8_lines
from mailup_soap.domain.imports import ImportOptions, ProcessStatus
from mailup_soap.domain.model import (
    ChangeSource,
    MailingList,
    SubscriptionStatus,
    within_years,
)
from mailup_soap.service_layer import import_runner, imports
from mailup_soap.service_layer.auth import authorize
from mailup_soap.service_layer.delivery_engine import SEND_QUEUE, SEND_TASK, delivery_lock
from mailup_soap.service_layer.delivery_repos import DeliveryStates
from mailup_soap.service_layer.deps import Caller, Credentials, Deps
from mailup_soap.service_layer.lists import checked_list, parse_guid
from mailup_soap.service_layer.ports import FetchError
from mailup_soap.service_layer.subscriptions import apply_step
from mailup_soap.service_layer.unit_of_work import AbstractUnitOfWork

# -- messages --------------------------------------------------------------------------


def _message(deps: Deps, cred: Credentials, list_id: int, message_id: int,
             ) -> tuple[int, msg.Message]:
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        checked_list(uow, caller, list_id, None)
        found = uow.sending.message(caller.account_id, message_id, list_id)
    if found is None:
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
    # TEXT is deprecated and MailUp treats it as HTML (spec 3.1): clients send HTML with it.
    return (subject or "").strip()[:500], msg.ContentType.HTML, body, opts


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
    if opts.clear_stats:
        uow.sending.clear_stats(account_id, message.id)
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
                           at=when if when > now else None, lock=delivery_lock(delivery_id))


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
    """SendNewsletterFast: create the message and send it, in one transaction (a send that
    is refused leaves no message behind)."""
    message_options, send_options = _split(options)
    opts = msg.send_options(dict(send_options))
    _caller_list(deps, cred, list_id)  # credentials first: a URL is fetched next
    subject_, type_, html, message_opts = _content(deps, subject, kind, content,
                                                   message_options)
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        message_id = uow.sending.add_message(caller.account_id, list_id, subject_, type_, html,
                                             message_opts, deps.clock.now())
        delivery = _deliver(uow, deps, caller.account_id, list_id, message_id, opts)
        uow.commit()
    return message_id, delivery


def send_single(deps: Deps, cred: Credentials, list_id: int, subject: str | None,
                kind: str | None, content: str | None, recipient_email: str | None,
                options: list[tuple[str, str]]) -> tuple[int, msg.Delivery]:
    """SendSingleNewsletter: one message to one address (type ID: content is the id of a
    message of the list). An address new to the list is subscribed first, as MailUp does;
    someone unsubscribed or still pending is not sent to. One transaction: a refused send
    creates nothing (no message, no recipient)."""
    try:
        email = normalize_email(recipient_email)
    except errors.InvalidContact as exc:
        raise errors.InvalidArgument("recipientEmail", exc.reason) from None
    if email is None:
        raise errors.InvalidArgument("recipientEmail", "empty")
    message_options, send_options = _split(options)
    opts = dataclasses.replace(msg.send_options(dict(send_options) | {"send_to": "ALL"}),
                               send_to=msg.SendTo.RECIPIENTS, recipients=(email.lower(),))
    existing_id = None  # type ID: a message of the list; otherwise one is made
    if (kind or "").strip().upper() == "ID":
        raw = (content or "").strip()
        if not (raw.isascii() and raw.isdigit()):
            raise errors.InvalidArgument("content", "type ID needs a message id")
        existing_id = int(raw)
    else:
        _caller_list(deps, cred, list_id)  # credentials first: a URL is fetched next
        new_message = _content(deps, subject, kind, content, message_options)
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        lst = checked_list(uow, caller, list_id, None)
        message_id = existing_id if existing_id is not None else uow.sending.add_message(
            caller.account_id, list_id, *new_message, deps.clock.now())
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
            when = dt.datetime.strptime(text, pattern).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
        return within_years("deliveryDate", when)
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


def pause_all(states: DeliveryStates, account_id: int, now: dt.datetime) -> list[int]:
    """Pause the account's scheduled and sending deliveries of one channel (email, SMS)."""
    ids = states.of_account(account_id, (msg.DeliveryStatus.SCHEDULED,
                                         msg.DeliveryStatus.SENDING))
    for delivery_id in ids:
        states.set_status(delivery_id, msg.DeliveryStatus.PAUSED, now)
    return ids


def resume_all(states: DeliveryStates, account_id: int, now: dt.datetime,
               queue: Callable[[int, dt.datetime], None]) -> list[int]:
    """Resume the account's paused deliveries of one channel where they stopped (`queue`
    their jobs); one paused before it started goes back to its schedule."""
    paused = states.paused(account_id)
    for delivery in paused:
        status = (msg.DeliveryStatus.SCHEDULED if delivery.started_at is None
                  else msg.DeliveryStatus.SENDING)
        states.set_status(delivery.id, status, now)
        queue(delivery.id, max(delivery.scheduled_at, now))
    return [d.id for d in paused]


def stop_delivery(deps: Deps, cred: Credentials) -> list[int]:
    """StopDelivery: pause the account's deliveries; they resume where they stopped."""
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        ids = pause_all(uow.sending, caller.account_id, deps.clock.now())
        uow.commit()
        return ids


def start_delivery(deps: Deps, cred: Credentials) -> list[int]:
    """StartDelivery: resume the account's paused deliveries (see resume_all)."""
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        now = deps.clock.now()
        ids = resume_all(uow.sending, caller.account_id, now,
                         lambda delivery_id, when: _queue(uow, delivery_id, when, now))
        uow.commit()
        return ids


# -- SendMessageNL: recipients from a file on the account's FTP site ---------------------

MESSAGE_NL_TASK = "mailup:run_message_nl"
MESSAGE_NL_IMPORT_TASK = "mailup:import_message_nl"
# At its sending time, while the daily sync or `mailup-soap import` merges into the list: the
# send job looks again this much later, for as long as that lasts.
LIST_BUSY_RETRY = dt.timedelta(minutes=1)


def send_message_nl(deps: Deps, cred: Credentials, file_name: str | None,
                    separator: str | None, list_id: str | None, list_guid: str | None,
                    message_id: str | None, sender_name: str | None, sender: str | None,
                    subject: str | None, when: dt.datetime | None) -> int:
    """SendMessageNL: import the CSV file `file_name` of the account's FTP site into the
    list (new addresses subscribed, existing ones updated, as the daily sync does), then send
    the message to the file's addresses that are subscribed; at `when`, or now when it is
    past. Returns the delivery id at once; a worker does the import and the sending.

    The file's rows are stored now, as an import process held for the delivery: it stays
    queued (status 1), and only the sending starts it, so a send scheduled days ahead does
    not hold the list's other imports back. An immediate send answers -3 (-601 here) while
    an import of the list runs, as MailUp's does."""
    delimiter = separator or ";"
    if len(delimiter) != 1 or delimiter in "\r\n\"":
        raise errors.InvalidArgument("separator", "one character")
    raw_message = (message_id or "").strip()
    if not (raw_message.isascii() and raw_message.isdigit()):
        raise errors.InvalidArgument("messageId", "not a message id")
    if when is not None:
        within_years("timeDateSending", when)
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
        start = max(when.astimezone(dt.UTC) if when else now, now)
        # A look without the list's lock: nothing is marked running here, and the lock
        # would be held while the file is read below (StartProcess calls would wait).
        if start <= now and uow.imports.running_for_list(caller.account_id, lst.id,
                                                         lock=False):
            raise errors.ImportAlreadyRunning(lst.id)
        if (subject or "").strip() and subject.strip() != message.subject:  # type: ignore[union-attr]
            copy_id = uow.sending.add_message(
                caller.account_id, lst.id, (subject or "").strip()[:500], message.content_type,
                message.html, msg.MessageOptions(message.note, message.dynamic_fields,
                                                 message.link_tracking), now,
                cloned_from=message.id)
            message = uow.sending.message(caller.account_id, copy_id)
            assert message is not None
        send = msg.SendOptions(msg.SendTo.RECIPIENTS)  # nobody until the import is merged
        delivery = uow.sending.create_delivery(
            caller.account_id, message, send,
            from_email or lst.options.get("owneremail") or deps.mail_from,
            (sender_name or "").strip() or lst.options.get("nl_sendername") or lst.name,
            start, now)
        try:
            with deps.file_drop.open_file(caller.account_id, file_name or "") as raw:
                process_id = imports.create_process(
                    uow, caller.account_id, lst.id,
                    read_csv(utf8_lines(raw), opts, delimiter=delimiter), opts,
                    delivery_id=delivery.id)
        except (OSError, ValueError) as exc:  # missing, a folder, a name too long, unreadable
            raise errors.InvalidArgument("fileName", f"{file_name!r}: {exc}") from None
        duplicate = uow.imports.first_duplicate(process_id)
        if duplicate is not None:  # MailUp's SendMessageNL fails on them too
            raise errors.InvalidArgument("fileName", f"{duplicate!r} is in the file twice")
        uow.jobs.defer(MESSAGE_NL_TASK, SEND_QUEUE,
                       {"delivery_id": delivery.id, "process_id": process_id},
                       at=start if start > now else None, lock=delivery_lock(delivery.id))
        uow.commit()
        return delivery.id


def run_message_nl(deps: Deps, delivery_id: int, process_id: int) -> str:
    """The send job, at the sending time: start the file's import as a job under the list's
    import lock (`import_message_nl`), in turn with the list's other imports; that job picks
    the recipients and queues the sending. While the daily sync or `mailup-soap import`
    merges into the list, nothing lines up behind them: the send job looks again a minute
    later."""
    args: dict[str, object] = {"delivery_id": delivery_id, "process_id": process_id}
    with deps.uow() as uow:
        process = uow.imports.get(process_id, lock=True)
        if process is None:
            return "gone"  # its list was deleted
        if process.status is ProcessStatus.QUEUED:
            try:
                imports.start_held(uow, deps, process, MESSAGE_NL_IMPORT_TASK, args)
                outcome = "import started"
            except errors.ImportAlreadyRunning:
                uow.jobs.defer(MESSAGE_NL_TASK, SEND_QUEUE, args,
                               at=deps.clock.now() + LIST_BUSY_RETRY,
                               lock=delivery_lock(delivery_id))
                outcome = "list busy: looking again in a minute"
            uow.commit()
            return outcome
    if process.status is ProcessStatus.RUNNING and not process.by_list_job:
        # Marked running at its call by a version before migration 0014, and its job was
        # running then: nothing else will merge it.
        return import_message_nl(deps, delivery_id, process_id)
    return "import started already"


def import_message_nl(deps: Deps, delivery_id: int, process_id: int) -> str:
    """The import job of a SendMessageNL (under the list's lock): merge the file's rows, add
    its subscribed addresses to the delivery and queue the sending. Safe to re-run."""
    status = import_runner.run_process(deps, process_id, keep_rows=True)
    with deps.uow() as uow:
        delivery = uow.sending.delivery(None, delivery_id, lock=True)
        if delivery is not None and status is ProcessStatus.COMPLETED:
            uow.sending.add_from_import(delivery, process_id)
            uow.jobs.defer(SEND_TASK, SEND_QUEUE, {"delivery_id": delivery_id},
                           lock=delivery_lock(delivery_id))
        elif delivery is not None:
            uow.sending.set_status(delivery_id, msg.DeliveryStatus.COMPLETED, deps.clock.now())
        uow.imports.clear_rows(process_id)
        uow.commit()
    if delivery is None:
        return "gone"
    return "sending queued" if status is ProcessStatus.COMPLETED else "import failed"
