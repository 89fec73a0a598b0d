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
import secrets
import threading
import time
import urllib.parse
from email.utils import format_datetime

from mailup_soap import errors
from mailup_soap.domain import lifecycle, tokens
from mailup_soap.domain import messages as msg
from mailup_soap.domain.model import ChangeSource, UnsubscribeReason
from mailup_soap.service_layer.auth import authorize
from mailup_soap.service_layer.deps import Credentials, Deps
from mailup_soap.service_layer.lists import checked_list
from mailup_soap.service_layer.ports import MailerError, MailSession, RecipientRefused
from mailup_soap.service_layer.subscriptions import apply_step

log = logging.getLogger("mailup_soap.sending")

SEND_TASK = "mailup:run_delivery"
SEND_QUEUE = "send"
# Recipients claimed and recorded per transaction: large enough that the two round trips
# vanish beside the SMTP work, small enough that a crash re-sends little.
BATCH = 500
TRACK_PATH = "/frontend/t"


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


def _content(subject: str | None, kind: str | None, content: str | None,
             options: list[tuple[str, str]]) -> tuple[str, msg.ContentType, str,
                                                      msg.MessageOptions]:
    if not (subject or "").strip():
        raise errors.InvalidArgument("subject", "empty")
    if not (content or "").strip():
        raise errors.InvalidArgument("content", "empty")
    return ((subject or "").strip()[:500], msg.content_type(kind), content or "",
            msg.message_options(dict(options)))


def create_newsletter(deps: Deps, cred: Credentials, list_id: int, subject: str | None,
                      kind: str | None, content: str | None,
                      options: list[tuple[str, str]]) -> int:
    subject_, type_, html, opts = _content(subject, kind, content, options)
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        checked_list(uow, caller, list_id, None)
        message_id = uow.sending.add_message(caller.account_id, list_id, subject_, type_, html,
                                             opts, deps.clock.now())
        uow.commit()
        return message_id


def edit_newsletter(deps: Deps, cred: Credentials, list_id: int, message_id: int,
                    subject: str | None, kind: str | None, content: str | None,
                    options: list[tuple[str, str]]) -> msg.Message:
    subject_, type_, html, opts = _content(subject, kind, content, options)
    account_id, _ = _message(deps, cred, list_id, message_id)
    with deps.uow() as uow:
        uow.sending.update_message(account_id, message_id, subject_, type_, html, opts,
                                   deps.clock.now())
        uow.commit()
        found = uow.sending.message(account_id, message_id)
    assert found is not None
    return found


def newsletters(deps: Deps, cred: Credentials, list_id: int) -> list[msg.Message]:
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        checked_list(uow, caller, list_id, None)
        return uow.sending.messages(caller.account_id, list_id)


def newsletter(deps: Deps, cred: Credentials, list_id: int, message_id: int) -> msg.Message:
    return _message(deps, cred, list_id, message_id)[1]


# -- deliveries ------------------------------------------------------------------------


def send_newsletter(deps: Deps, cred: Credentials, list_id: int, message_id: int,
                    options: list[tuple[str, str]]) -> msg.Delivery:
    """SendNewsletter: the delivery with its recipients fixed now, queued for a worker at
    `deliverydt` (or now)."""
    opts = msg.send_options(dict(options))
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        lst = checked_list(uow, caller, list_id, None)
        message = uow.sending.message(caller.account_id, message_id)
        if message is None or message.list_id != list_id:
            raise errors.MessageNotFound(message_id)
        for group_id in (*opts.groups, *opts.exclude_groups):
            group = uow.groups.get(caller.account_id, group_id)
            if group is None or group.list_id != list_id:
                raise errors.GroupNotFound(group_id)
        now = deps.clock.now()
        when = max(opts.delivery_at or now, now)
        from_email = opts.from_email or lst.options.get("owneremail") or deps.mail_from
        from_name = opts.from_name or lst.options.get("nl_sendername") or lst.name
        delivery = uow.sending.create_delivery(caller.account_id, message, opts, from_email,
                                               from_name, when, now)
        uow.jobs.defer(SEND_TASK, SEND_QUEUE, {"delivery_id": delivery.id},
                       at=when if when > now else None, lock=f"delivery-{delivery.id}")
        uow.commit()
        return delivery


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
            uow.jobs.defer(SEND_TASK, SEND_QUEUE, {"delivery_id": delivery_id},
                           lock=f"delivery-{delivery_id}")
        uow.commit()
        return ids


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
                    if deps.send_per_hour and uow.sending.sent_since(
                            current.account_id, deps.clock.now() - dt.timedelta(hours=1),
                    ) >= deps.send_per_hour:
                        uow.jobs.defer(SEND_TASK, SEND_QUEUE, {"delivery_id": delivery_id},
                                       at=deps.clock.now() + dt.timedelta(minutes=5),
                                       lock=f"delivery-{delivery_id}")
                        uow.commit()
                        return "hourly limit"
                    batch = uow.sending.claim(current, BATCH)
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
