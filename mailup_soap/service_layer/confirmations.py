"""The emails a list sends about a subscription itself, each by a worker: the double opt-in
request for a subscription that became pending, and the notice of an unsubscription when the
list's `sendemailoptout` option asks for it."""
from __future__ import annotations

import logging
import urllib.parse
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from mailup_soap.domain import messages as msg
from mailup_soap.domain.model import MailingList, Recipient, SubscriptionState, SubscriptionStatus
from mailup_soap.service_layer.deps import Deps
from mailup_soap.service_layer.ports import Mailer
from mailup_soap.service_layer.subscriptions import lists_confirmation_token

log = logging.getLogger("mailup_soap.confirmations")

CONFIRM_PATH = "/frontend/confirm.aspx"


def confirm_url(deps: Deps, token: str) -> str:
    return f"{deps.public_url.rstrip('/')}{CONFIRM_PATH}?t={urllib.parse.quote(token)}"


def send_confirmation(deps: Deps, account_id: int, list_id: int, recipient_id: int,
                      sender_email: str = "", sender_name: str = "",
                      lists: list[int] | None = None, message_id: int | None = None) -> bool:
    """Email the confirmation link if the subscription is still pending; False otherwise.
    With `lists` (ConfirmListID, spec 6.1), one email in `list_id`'s name whose link
    confirms those of the lists still pending. With `message_id` (an import's
    `idConfirmNL`), that email of the list is the request. A MailerError propagates so
    that the job is retried."""
    found = _still(deps, account_id, list_id, recipient_id, SubscriptionStatus.PENDING, lists)
    pending = [(named, state.requested_at) for named, state in found[2]
               if state.requested_at is not None] if found else []
    if found is None or not pending:
        return False
    lst, recipient, _ = found
    email = recipient.email or ""
    link = confirm_url(deps, lists_confirmation_token(
        deps, account_id, recipient_id, [(named.id, at) for named, at in pending]))
    own = _own_message(deps, account_id, list_id, message_id) if message_id else None
    html = None
    if own is not None:
        subject, html, text = msg.render_confirmation(
            own, msg.Addressee(recipient.id, email, recipient.fields), link)
    else:
        names = _names([named.name for named, _ in pending])
        subject = f"Please confirm your subscription to {names}"
        text = (f"Someone (hopefully you) asked to subscribe {email} to {names}.\n\n"
                f"To confirm, open this link and press the button:\n{link}\n\n"
                "If it was not you, ignore this message: nothing happens without your "
                "confirmation.\n")
    message = _message(deps, lst, email, subject, sender_email, sender_name)
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    _mailer(deps).send(message)
    return True


def _own_message(deps: Deps, account_id: int, list_id: int,
                 message_id: int) -> msg.Message | None:
    """The list's email chosen as its confirmation request (checked when the import was
    created). Should it not be found any more, the built-in request goes instead: the
    recipient still gets a link."""
    with deps.uow() as uow:
        found = uow.sending.message(account_id, message_id, list_id)
    if found is None:
        log.warning("confirmation request: email %d of list %d not found; sending the "
                    "built-in request", message_id, list_id)
        return None
    return found


def _names(names: list[str]) -> str:
    """`A`, `A and B`, `A, B and C`."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def send_unsubscribed_notice(deps: Deps, account_id: int, list_id: int,
                             recipient_id: int) -> bool:
    """Tell the recipient they are unsubscribed, if they still are; False otherwise. A
    MailerError propagates so that the job is retried."""
    found = _still(deps, account_id, list_id, recipient_id, SubscriptionStatus.UNSUBSCRIBED)
    if found is None:
        return False
    lst, recipient, _ = found
    email = recipient.email or ""
    message = _message(deps, lst, email, f"You are unsubscribed from {lst.name}")
    message.set_content(
        f"{email} is unsubscribed from {lst.name}: it will receive no more of its "
        "messages.\n\nIf you did not ask for this, you can subscribe again where you first "
        "did.\n")
    _mailer(deps).send(message)
    return True


def _still(deps: Deps, account_id: int, list_id: int, recipient_id: int,
           status: SubscriptionStatus, lists: list[int] | None = None
           ) -> tuple[MailingList, Recipient, list[tuple[MailingList, SubscriptionState]]] | None:
    """The list, the recipient (who has an address), and each of `lists` (by default the
    list alone) whose subscription still has that status, with it (the job may run after it
    changed again); None when the recipient has no address or no such subscription is
    left."""
    _mailer(deps)  # a worker without one fails at once, not after reading
    with deps.uow() as uow:
        lst = uow.lists.get(account_id, list_id)
        recipient = uow.recipients.get(account_id, recipient_id)
        found = []
        for other in [list_id] if lists is None else lists:
            named = lst if other == list_id else uow.lists.get(account_id, other)
            state = uow.lifecycle.state(account_id, other, recipient_id)
            if named is not None and state is not None and state.status is status:
                found.append((named, state))
    if lst is None or recipient is None or not recipient.email or not found:
        return None
    return lst, recipient, found


def _mailer(deps: Deps) -> Mailer:
    if deps.mailer is None:
        raise RuntimeError("no Mailer configured")
    return deps.mailer


def _message(deps: Deps, lst: MailingList, to: str, subject: str, sender_email: str = "",
             sender_name: str = "") -> EmailMessage:
    """From the given sender, else the list's (`owneremail`, `nl_sendername`), else ours."""
    message = EmailMessage()
    sender = sender_email or lst.options.get("owneremail") or deps.mail_from
    message["From"] = formataddr((sender_name or lst.options.get("nl_sendername", lst.name),
                                  sender))
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    return message
