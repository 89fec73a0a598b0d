"""Email messages and their deliveries: create, edit, clone messages and templates; send
them to a list (all subscribers, some addresses, some groups); credits. Queues and schedules
are in queues.py, a send to the addresses of a file (SendMessageNL) in message_nl.py, the
worker's side in delivery_engine.py, the links inside the messages in tracking.py."""
from __future__ import annotations

import dataclasses
import datetime as dt

from mailup_soap import errors
from mailup_soap.domain import lifecycle
from mailup_soap.domain import messages as msg
from mailup_soap.domain.contacts import normalize_email
from mailup_soap.domain.model import ChangeSource, MailingList, SubscriptionStatus
from mailup_soap.service_layer.auth import authorize
from mailup_soap.service_layer.delivery_engine import SEND_QUEUE, SEND_TASK, delivery_lock
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
    raw_id = (list_id or "").strip()
    if raw_id:
        if not (raw_id.isascii() and raw_id.isdigit()):
            raise errors.InvalidArgument("listId", "not a list id")
        return checked_list(uow, caller, int(raw_id), list_guid)
    found = uow.lists.by_guid(caller.account_id, parse_guid(list_guid))
    if found is None:
        raise errors.ListGuidMismatch(0)
    return found


def list_message(uow: AbstractUnitOfWork, caller: Caller, list_id: str | None,
                 list_guid: str | None, message_id: int) -> tuple[MailingList, msg.Message]:
    """CloneMessage and SendMessageNL: the list they name by id or by GUID (either may be
    empty), and its message `message_id`."""
    lst = _list_by_id_or_guid(uow, caller, list_id, list_guid)
    message = uow.sending.message(caller.account_id, message_id)
    if message is None or message.list_id != lst.id:
        raise errors.MessageNotFound(message_id)
    return lst, message


def copy_message(uow: AbstractUnitOfWork, original: msg.Message, subject: str,
                 now: dt.datetime) -> int:
    """A copy of the message in its list, under `subject` (its own when empty); its id."""
    return uow.sending.add_message(
        original.account_id, original.list_id, subject.strip()[:500] or original.subject,
        original.content_type, original.html,
        msg.MessageOptions(original.note, original.dynamic_fields, original.link_tracking),
        now, cloned_from=original.id)


def clone_message(deps: Deps, cred: Credentials, list_id: str | None, list_guid: str | None,
                  message_id: int, subject: str | None) -> int:
    """CloneMessage: a copy in the same list (identified by id or GUID), with a new subject
    when one is given; returns the copy's id."""
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        original = list_message(uow, caller, list_id, list_guid, message_id)[1]
        copy_id = copy_message(uow, original, subject or "", deps.clock.now())
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
        delivery = deliver(uow, deps, caller.account_id, list_id, message_id, opts)
        uow.commit()
        return delivery


def deliver(uow: AbstractUnitOfWork, deps: Deps, account_id: int, list_id: int,
            message_id: int, opts: msg.SendOptions) -> msg.Delivery:
    """A delivery of the list's message `message_id` to the recipients `opts` picks,
    charged and queued for a worker, in the caller's unit of work."""
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
    queue_delivery(uow, delivery.id, when, now)
    return delivery


def charge_credits(uow: AbstractUnitOfWork, account_id: int, channel: str, count: int) -> None:
    """A delivery takes one credit per recipient when it is created (the caller's unit of
    work: without enough credits, the delivery is not created)."""
    if count and not uow.sending.charge(account_id, channel, count):
        left = uow.sending.credits(account_id)[channel] or 0
        raise errors.NotEnoughCredits(channel, count, left)


def queue_delivery(uow: AbstractUnitOfWork, delivery_id: int, when: dt.datetime,
                   now: dt.datetime) -> None:
    """The delivery's sending job at `when` (now when it is past); a job of the delivery
    still waiting moves there instead."""
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
        delivery = deliver(uow, deps, caller.account_id, list_id, message_id, opts)
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
        delivery = deliver(uow, deps, caller.account_id, list_id, message_id, opts)
        uow.commit()
    return message_id, delivery
