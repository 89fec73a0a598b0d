"""The delivery engine a worker runs for each email delivery.

A delivery's recipients are fixed when it is created; the engine sends them in batches: each
batch is claimed in one transaction, sent over SMTP connections kept open across messages
(several in parallel, paced by the account's rate limits), and recorded in another. A worker
killed mid-batch leaves that batch pending, so the retried job sends it again: only the
messages in flight at the kill may go twice, and nobody recorded as sent is sent again.
Recipients no longer subscribed when their turn comes are skipped."""
from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import secrets
import threading
import time
import urllib.parse
from collections.abc import Mapping
from email.utils import format_datetime

from mailup_soap.domain import bounces, tokens
from mailup_soap.domain import messages as msg
from mailup_soap.service_layer.deps import Deps
from mailup_soap.service_layer.ports import MailerError, MailSession, RecipientRefused
from mailup_soap.service_layer.tracking import TrackLink, track_url

SEND_TASK = "mailup:run_delivery"
SEND_QUEUE = "send"


def delivery_lock(delivery_id: int) -> str:
    """The procrastinate lock of a delivery's jobs (its sending, SendMessageNL's send job):
    one at a time, in order."""
    return f"delivery-{delivery_id}"


# Recipients claimed and recorded per transaction: large enough that the two round trips
# vanish beside the SMTP work, small enough that a crash re-sends little.
BATCH = 500
# When an account's sliding hour is full, its delivery looks again this much later.
HOURLY_RETRY = dt.timedelta(minutes=5)


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


@dataclasses.dataclass(frozen=True)
class ListSettings:
    """What the list's options (Manage's CreateList / UpdateList) change in its messages."""

    reply_to: str = ""  # `replyto`: the Reply-To header
    tracking: bool = True  # `tracking`: 0 leaves out the open pixel and the click links

    @classmethod
    def of(cls, options: Mapping[str, str]) -> ListSettings:
        return cls(options.get("replyto", ""), options.get("tracking", "1") != "0")


def run_delivery(deps: Deps, delivery_id: int) -> str:
    """The worker's part; returns what became of the delivery. A MailerError (the SMTP
    server unreachable) propagates after recording what was sent, so the job is retried."""
    if deps.bulk_mailer is None:
        raise RuntimeError("no SMTP configured for deliveries")
    started = _start(deps, delivery_id)
    if isinstance(started, str):
        return started
    message, settings = started
    sessions = [deps.bulk_mailer.open_session() for _ in range(max(1, deps.send_connections))]
    pace = _Pace(deps.send_per_second)
    try:
        with concurrent.futures.ThreadPoolExecutor(len(sessions)) as pool:
            while True:
                claimed = _claim(deps, delivery_id)
                if isinstance(claimed, str):
                    return claimed
                current, batch = claimed
                outgoing, unwritable = _build_all(deps, current, message, batch, settings)
                chunks = [outgoing[i::len(sessions)] for i in range(len(sessions))]
                results = list(pool.map(_send_chunk, sessions, chunks, [pace] * len(chunks)))
                sent = [rid for r in results for rid in r[0]]
                failed = unwritable + [f for r in results for f in r[1]]
                with deps.uow() as uow:
                    uow.sending.mark(delivery_id, sent, failed, deps.clock.now())
                    uow.commit()
                broken = [r[2] for r in results if r[2] is not None]
                if broken:
                    raise broken[0]
    finally:
        for session in sessions:
            session.close()


def _start(deps: Deps, delivery_id: int) -> tuple[msg.Message, ListSettings] | str:
    """The delivery marked sending, with its message and its list's settings; or what
    became of it when it does not run now."""
    with deps.uow() as uow:
        delivery = uow.sending.delivery(None, delivery_id, lock=True)
        if delivery is None:
            return "gone"
        if left := delivery.why_not_run(deps.clock.now()):
            return left
        uow.sending.set_status(delivery_id, msg.DeliveryStatus.SENDING, deps.clock.now())
        message = uow.sending.message(delivery.account_id, delivery.message_id)
        lst = uow.lists.get(delivery.account_id, delivery.list_id)
        uow.commit()
    assert message is not None
    settings = ListSettings.of(lst.options if lst else {})
    if not settings.tracking:
        message = dataclasses.replace(message, link_tracking=False)
    return message, settings


def _claim(deps: Deps, delivery_id: int) -> tuple[msg.Delivery, list[msg.Addressee]] | str:
    """The delivery and its next batch of recipients, as many as the account's hourly limit
    leaves room for; or what became of the delivery: paused, gone, completed, or queued
    again for when the account's hour has room."""
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
                           at=deps.clock.now() + HOURLY_RETRY, lock=delivery_lock(delivery_id))
            uow.commit()
            return "hourly limit"
        batch = uow.sending.claim(current, room)
        if not batch:
            uow.sending.set_status(delivery_id, msg.DeliveryStatus.COMPLETED, deps.clock.now())
            uow.commit()
            return "completed"
        uow.commit()
        return current, batch


def _build_all(deps: Deps, delivery: msg.Delivery, message: msg.Message,
               batch: list[msg.Addressee], settings: ListSettings
               ) -> tuple[list[tuple[msg.Addressee, tuple[bytes, str]]], list[tuple[int, str]]]:
    """The batch's messages, and the recipients whose message cannot be written (an address
    stored before it was checked as it is now, say): each fails alone, not the batch."""
    outgoing, unwritable = [], []
    for addressee in batch:
        try:
            outgoing.append((addressee, build_message(deps, delivery, message, addressee,
                                                      settings)))
        except UnicodeEncodeError as exc:  # a header that cannot be ASCII
            unwritable.append((addressee.recipient_id, f"the message cannot be written: {exc}"))
    return outgoing, unwritable


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


def build_message(deps: Deps, delivery: msg.Delivery, message: msg.Message,
                  addressee: msg.Addressee, settings: ListSettings = ListSettings()
                  ) -> tuple[bytes, str]:
    """One recipient's email (bytes) and its VERP envelope sender."""
    base = TrackLink(delivery.account_id, delivery.list_id, message.id, delivery.id,
                     addressee.recipient_id)
    unsubscribe = track_url(deps, "u", base)
    one_click = track_url(deps, "oneclick", base)
    html = msg.render_html(message, addressee,
                           lambda url: track_url(deps, "c", dataclasses.replace(base, url=url)),
                           track_url(deps, "o", base) if settings.tracking else None,
                           unsubscribe)
    text = msg.render_text(message, addressee, unsubscribe)
    subject = msg.render_subject(message, addressee)
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
    if settings.reply_to:
        headers.append(("Reply-To", settings.reply_to))
    return (msg.mime(headers, text, html, f"=_{tag}"),
            bounces.verp_address(deps.secret_key, delivery.id, addressee.recipient_id, domain))
