"""Real-time subscription changes (the frontend endpoints) and confirmations, all through
the lifecycle state machine, each change recorded as an event in its own transaction."""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from mailup_soap import errors
from mailup_soap.domain import contacts, lifecycle, tokens
from mailup_soap.domain.lifecycle import Outcome, Transition
from mailup_soap.domain.model import (
    AccountStatus,
    ChangeSource,
    MailingList,
    Recipient,
    SubscriptionStatus,
    UnsubscribeReason,
)
from mailup_soap.service_layer import auth
from mailup_soap.service_layer.auth import authorize
from mailup_soap.service_layer.deps import Deps, WsLogin
from mailup_soap.service_layer.lists import parse_guid
from mailup_soap.service_layer.unit_of_work import AbstractUnitOfWork

CONFIRM_TASK = "mailup:send_confirmation"
UNSUBSCRIBED_NOTICE_TASK = "mailup:send_unsubscribed_notice"
MAIL_QUEUE = "mail"
CONFIRM_PURPOSE = "confirm-subscription"


@dataclasses.dataclass(frozen=True)
class Contact:
    email: str | None
    mobile: tuple[str, str] | None
    # A number given without `+` or `00`: completed with the list's `default_prefix` option
    # (spec 6.1) once the list is read, see `mobile_in`.
    local_number: str = ""

    def __post_init__(self) -> None:
        if not self.email and not self.mobile and not self.local_number:
            raise errors.InvalidContact("Email", "an email address or a mobile number is needed")

    def mobile_in(self, lst: MailingList) -> tuple[str, str] | None:
        if not self.local_number:
            return self.mobile
        return contacts.normalize_mobile(self.local_number,
                                         lst.options.get("default_prefix", ""))


@dataclasses.dataclass(frozen=True)
class Sender:
    """Dynsndmail / Dynsndname: who the confirmation email comes from."""

    email: str = ""
    name: str = ""


def account_for_host(deps: Deps, host: str) -> int | None:
    """See `auth.account_for_host`."""
    with deps.uow() as uow:
        found = auth.account_for_host(uow, host)
        return found.id if found else None


def _check_caller(uow: AbstractUnitOfWork, account_id: int, ip: str) -> None:
    account = uow.accounts.get(account_id)
    if account is None or account.status is not AccountStatus.ACTIVE:
        raise errors.AccountNotValid()
    if not uow.frontend_ips.allowed(account_id, ip):
        raise errors.IpNotRegistered(ip)


def _list(uow: AbstractUnitOfWork, account_id: int, list_id: int,
          guid: str | None = None) -> MailingList:
    found = uow.lists.get(account_id, list_id)
    if found is None:
        raise errors.ListNotFound(list_id)
    if guid and guid.strip() and parse_guid(guid) != found.guid:
        raise errors.ListGuidMismatch(list_id)
    return found


def apply_step(uow: AbstractUnitOfWork, deps: Deps, lst: MailingList, recipient: Recipient,
           step: Transition, source: ChangeSource, reason: int | None = None,
           sender: Sender | None = None, *, by_recipient: bool = False,
           confirmation: bool = True) -> None:
    """Carry out a transition: the row, its event, and the confirmation email job (unless
    `confirmation` is False: the caller sends one for several lists); when `by_recipient`
    (the recipient's own unsubscription), the notice of a list whose `sendemailoptout`
    option is on (spec 6.3)."""
    now = deps.clock.now()
    if step.outcome is Outcome.CHANGED:
        assert step.event is not None, "every change has its event"
        if step.status is None:
            uow.lifecycle.record(lst.account_id, lst.id, recipient.id, step.event, source, now)
            uow.lifecycle.delete(lst.account_id, lst.id, recipient.id)
        else:
            uow.lifecycle.put(lst.account_id, lst.id, recipient.id, step.status, now, reason,
                              source)
            uow.lifecycle.record(lst.account_id, lst.id, recipient.id, step.event, source, now,
                                 reason)
    if confirmation and step.send_confirmation and recipient.email:
        _defer_confirmation(uow, lst, recipient, sender)
    if (by_recipient and step.outcome is Outcome.CHANGED and recipient.email
            and step.status is SubscriptionStatus.UNSUBSCRIBED
            and lst.options.get("sendemailoptout") == "1"):
        uow.jobs.defer(UNSUBSCRIBED_NOTICE_TASK, MAIL_QUEUE, {
            "account_id": lst.account_id, "list_id": lst.id, "recipient_id": recipient.id})


def _defer_confirmation(uow: AbstractUnitOfWork, lst: MailingList, recipient: Recipient,
                        sender: Sender | None, lists: list[int] | None = None) -> None:
    """The job emailing the confirmation request: `lst`'s, or one request for `lists` in
    `lst`'s name (ConfirmListID, spec 6.1)."""
    sender = sender or Sender()
    args: dict[str, object] = {
        "account_id": lst.account_id, "list_id": lst.id, "recipient_id": recipient.id,
        "sender_email": sender.email, "sender_name": sender.name}
    if lists is not None:
        args["lists"] = lists
    uow.jobs.defer(CONFIRM_TASK, MAIL_QUEUE, args)


def current_of(uow: AbstractUnitOfWork, lst: MailingList,
             recipient: Recipient | None) -> lifecycle.Current | None:
    if recipient is None:
        return None
    state = uow.lifecycle.state(lst.account_id, lst.id, recipient.id)
    return lifecycle.Current.of(state)


def subscribe(deps: Deps, account_id: int, ip: str, list_ids: list[int], contact: Contact,
              *, confirm: bool = True, group_ids: list[int] | None = None,
              fields: dict[int, str] | None = None, sender: Sender | None = None,
              source: ChangeSource = ChangeSource.API,
              confirm_list_id: int | None = None) -> Outcome:
    """Subscribe to one or more lists. CHANGED when any list changed, ALREADY when the
    recipient was subscribed everywhere, REFUSED when a final unsubscription forbids it.
    Each list made pending sends its confirmation request, or, when `confirm_list_id` is
    one of several lists (ConfirmListID), that list sends one request for all of them."""
    if not list_ids:
        raise errors.ListNotSpecified()
    with deps.uow() as uow:
        _check_caller(uow, account_id, ip)
        lists = [_list(uow, account_id, i) for i in dict.fromkeys(list_ids)]
        mobile = contact.mobile_in(lists[0])
        recipient = uow.recipients.find(account_id, contact.email, mobile)
        if recipient is None:
            recipient = uow.recipients.add(account_id, contact.email, mobile, fields or {})
        elif fields:
            uow.recipients.update_fields(account_id, recipient.id, fields)
        in_one = next((lst for lst in lists if lst.id == confirm_list_id), None) \
            if len(lists) > 1 else None
        outcomes, to_confirm = [], []
        for lst in lists:
            step = lifecycle.subscribe(current_of(uow, lst, recipient), confirm)
            if step.outcome is Outcome.REFUSED:
                return Outcome.REFUSED  # nothing is written for any list
            if group_ids:  # before the event: its snapshot carries the groups ([Groups])
                uow.lifecycle.set_groups(account_id, lst.id, recipient.id, group_ids, False)
            apply_step(uow, deps, lst, recipient, step, source, sender=sender,
                       confirmation=in_one is None)
            outcomes.append(step.outcome)
            if step.send_confirmation:
                to_confirm.append(lst.id)
        if in_one is not None and to_confirm and recipient.email:
            _defer_confirmation(uow, in_one, recipient, sender, to_confirm)
        uow.commit()
    return Outcome.CHANGED if Outcome.CHANGED in outcomes else Outcome.ALREADY


def status(deps: Deps, account_id: int, ip: str, list_id: int, guid: str | None,
           contact: Contact) -> SubscriptionStatus | None:
    with deps.uow() as uow:
        _check_caller(uow, account_id, ip)
        lst = _list(uow, account_id, list_id, guid)
        current = current_of(uow, lst, uow.recipients.find(account_id, contact.email,
                                                         contact.mobile_in(lst)))
        return current.status if current else None


def unsubscribe(deps: Deps, account_id: int, ip: str, list_id: int, guid: str | None,
                contact: Contact, reason: UnsubscribeReason = UnsubscribeReason.ADMIN,
                source: ChangeSource = ChangeSource.API) -> Outcome:
    with deps.uow() as uow:
        _check_caller(uow, account_id, ip)
        lst = _list(uow, account_id, list_id, guid)
        recipient = uow.recipients.find(account_id, contact.email, contact.mobile_in(lst))
        step = lifecycle.unsubscribe(current_of(uow, lst, recipient))
        if recipient is not None:
            apply_step(uow, deps, lst, recipient, step, source, reason=int(reason),
                       by_recipient=True)
        uow.commit()
        return step.outcome


def update(deps: Deps, account_id: int, ip: str, list_id: int, guid: str | None,
           contact: Contact, *, group_ids: list[int], replace: bool,
           fields: dict[int, str]) -> Outcome:
    """Change personal fields and groups of a recipient of the list (CHANGEPROFILE)."""
    with deps.uow() as uow:
        _check_caller(uow, account_id, ip)
        lst = _list(uow, account_id, list_id, guid)
        recipient = uow.recipients.find(account_id, contact.email, contact.mobile_in(lst))
        step = lifecycle.profile_change(current_of(uow, lst, recipient))
        if recipient is None or step.outcome is not Outcome.CHANGED:
            return Outcome.UNKNOWN
        changed = bool(fields) and any(recipient.fields.get(k, "") != v
                                       for k, v in fields.items())
        uow.recipients.update_fields(account_id, recipient.id, fields)
        if group_ids or replace:
            changed |= uow.lifecycle.set_groups(account_id, list_id, recipient.id, group_ids,
                                                replace)
        if changed:
            apply_step(uow, deps, lst, recipient, step, ChangeSource.API)
        uow.commit()
        return step.outcome


WS_NAME_MAX = 100


def register_caller(deps: Deps, user: str, password: str, ws_name: str, ip: str) -> bool:
    """WSActivation.aspx: register the caller's address for the account; False if it was."""
    if len(ws_name) > WS_NAME_MAX:
        raise errors.InvalidArgument("ws_name", f"longer than {WS_NAME_MAX} characters")
    with deps.uow() as uow:
        caller = authorize(uow, deps, WsLogin(user, password))
        added = uow.frontend_ips.register(caller.account_id, ip, ws_name)
        uow.commit()
        return added


def confirmation_token(deps: Deps, account_id: int, list_id: int, recipient_id: int,
                       requested_at: dt.datetime) -> str:
    return tokens.make(deps.secret_key, CONFIRM_PURPOSE, {
        "a": account_id, "l": list_id, "r": recipient_id, "t": requested_at.isoformat()})


def lists_confirmation_token(deps: Deps, account_id: int, recipient_id: int,
                             requests: list[tuple[int, dt.datetime]]) -> str:
    """One link confirming the requests (list id, requested at) of several lists."""
    if len(requests) == 1:
        return confirmation_token(deps, account_id, requests[0][0], recipient_id,
                                  requests[0][1])
    return tokens.make(deps.secret_key, CONFIRM_PURPOSE, {
        "a": account_id, "r": recipient_id,
        "ls": [[list_id, at.isoformat()] for list_id, at in requests]})


def _requests(data: dict[str, Any]) -> list[tuple[int, str]]:
    """The (list id, requested at) pairs a confirmation token names."""
    try:
        pairs = data["ls"] if "ls" in data else [[data["l"], data["t"]]]
        found = [(int(list_id), str(at)) for list_id, at in pairs]
    except (KeyError, TypeError, ValueError):
        raise errors.InvalidToken("malformed token") from None
    if not found:
        raise errors.InvalidToken("malformed token")
    return found


def confirm(deps: Deps, token: str, *, dry_run: bool = False) -> Outcome:
    """The recipient's POST on the confirmation page (pending -> subscribed, source
    Recipient), for each list the link names (one, or several: ConfirmListID). A link for
    an older request of the same recipient confirms nothing in that list. CHANGED when a
    list was confirmed, else ALREADY when one was subscribed already, else REFUSED or
    UNKNOWN; InvalidToken when every list the link names has a newer request. `dry_run`
    only checks the link (the GET that shows the page)."""
    data = tokens.read(deps.secret_key, CONFIRM_PURPOSE, token)
    requests = _requests(data)
    outcomes: list[Outcome | None] = []  # None: an older request's link
    with deps.uow() as uow:
        recipient = uow.recipients.get(int(data["a"]), int(data["r"]))
        for list_id, requested_at in requests:
            lst = uow.lists.get(int(data["a"]), list_id) if recipient else None
            if lst is None or recipient is None:
                outcomes.append(Outcome.UNKNOWN)
                continue
            state = uow.lifecycle.state(lst.account_id, lst.id, recipient.id)
            if state is not None and state.status is SubscriptionStatus.PENDING and (
                    state.requested_at is None
                    or state.requested_at.isoformat() != requested_at):
                outcomes.append(None)
                continue
            step = lifecycle.confirm(lifecycle.Current.of(state))
            if not dry_run:
                apply_step(uow, deps, lst, recipient, step, ChangeSource.RECIPIENT)
            outcomes.append(step.outcome)
        if not dry_run:
            uow.commit()
    for wanted in (Outcome.CHANGED, Outcome.ALREADY, Outcome.REFUSED, Outcome.UNKNOWN):
        if wanted in outcomes:
            return wanted
    raise errors.InvalidToken("this link is for an older request")


def prune_pending(deps: Deps) -> int:
    """Remove subscriptions left pending longer than `deps.pending_days`."""
    now = deps.clock.now()
    with deps.uow() as uow:
        count = uow.lifecycle.prune_pending(now - dt.timedelta(days=deps.pending_days), now)
        uow.commit()
        return count
