"""The double opt-in email: sent by a worker for each subscription that became pending."""
from __future__ import annotations

import urllib.parse
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from mailup_soap.domain.model import SubscriptionStatus
from mailup_soap.service_layer.deps import Deps
from mailup_soap.service_layer.subscriptions import confirmation_token

CONFIRM_PATH = "/frontend/confirm.aspx"


def confirm_url(deps: Deps, token: str) -> str:
    return f"{deps.public_url.rstrip('/')}{CONFIRM_PATH}?t={urllib.parse.quote(token)}"


def send_confirmation(deps: Deps, account_id: int, list_id: int, recipient_id: int,
                      sender_email: str = "", sender_name: str = "") -> bool:
    """Email the confirmation link if the subscription is still pending; False otherwise.
    A MailerError propagates so that the job is retried."""
    if deps.mailer is None:
        raise RuntimeError("no Mailer configured")
    with deps.uow() as uow:
        lst = uow.lists.get(account_id, list_id)
        recipient = uow.recipients.get(account_id, recipient_id)
        state = uow.lifecycle.state(account_id, list_id, recipient_id)
    if lst is None or recipient is None or not recipient.email or state is None \
            or state.status is not SubscriptionStatus.PENDING or state.requested_at is None:
        return False
    link = confirm_url(deps, confirmation_token(deps, account_id, list_id, recipient_id,
                                                state.requested_at))
    message = EmailMessage()
    sender = sender_email or lst.options.get("owneremail") or deps.mail_from
    message["From"] = formataddr((sender_name or lst.options.get("nl_sendername", lst.name),
                                  sender))
    message["To"] = recipient.email
    message["Subject"] = f"Please confirm your subscription to {lst.name}"
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(
        f"Someone (hopefully you) asked to subscribe {recipient.email} to {lst.name}.\n\n"
        f"To confirm, open this link and press the button:\n{link}\n\n"
        "If it was not you, ignore this message: nothing happens without your confirmation.\n")
    deps.mailer.send(message)
    return True
