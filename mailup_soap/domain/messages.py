"""Email messages (MailUp "newsletters"), deliveries, and how one message is made for one
recipient: dynamic fields merged, links rewritten for click tracking, an open pixel, an
unsubscribe link, and a text alternative."""
from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import html
import re
from collections.abc import Callable, Mapping

from mailup_soap import errors
from mailup_soap.domain.contacts import is_email
from mailup_soap.domain.model import within_years


class ContentType(enum.StrEnum):
    HTML = "HTML"
    TEXT = "TEXT"  # MailUp: deprecated, treated as HTML (the content is shown as text)


class DeliveryStatus(enum.StrEnum):
    """GetNewsletterDeliveryStatus: SCHEDULED / SENDING / COMPLETED (paused counts as
    SENDING: it resumes where it stopped)."""

    SCHEDULED = "scheduled"
    SENDING = "sending"
    PAUSED = "paused"
    COMPLETED = "completed"

    @property
    def mailup_name(self) -> str:
        return {"scheduled": "SCHEDULED", "completed": "COMPLETED"}.get(self.value, "SENDING")


class SendTo(enum.StrEnum):
    ALL = "ALL"
    RECIPIENTS = "RECIPIENTS"
    GROUPS = "GROUPS"


@dataclasses.dataclass(frozen=True)
class Message:
    id: int
    account_id: int
    list_id: int
    subject: str
    content_type: ContentType
    html: str
    note: str = ""
    dynamic_fields: bool = True
    link_tracking: bool = True
    created_at: dt.datetime | None = None
    is_template: bool = False


@dataclasses.dataclass(frozen=True)
class MessageOptions:
    """CreateNewsletter / EditNewsletter options (spec 3.1)."""

    note: str = ""
    dynamic_fields: bool = True
    link_tracking: bool = True
    template: bool = False  # ours: a template (GetTemplates), cloned before it is sent


@dataclasses.dataclass(frozen=True)
class SendOptions:
    """SendNewsletter options (spec 3.1)."""

    send_to: SendTo
    recipients: tuple[str, ...] = ()  # emails for RECIPIENTS
    groups: tuple[int, ...] = ()  # group ids for GROUPS
    exclude_groups: tuple[int, ...] = ()
    from_email: str = ""
    from_name: str = ""
    delivery_at: dt.datetime | None = None  # None: now
    clear_stats: bool = False  # forget the opens and clicks of the message's earlier sends


# Keyword-only: each channel's own fields come first and stay positional.
@dataclasses.dataclass(frozen=True, kw_only=True)
class Progress:
    """Where an email or SMS delivery stands and what it has done of its recipients: the
    fields and rules both channels share."""

    status: DeliveryStatus
    total: int
    sent: int
    failed: int
    skipped: int
    scheduled_at: dt.datetime
    started_at: dt.datetime | None
    completed_at: dt.datetime | None

    def why_not_run(self, now: dt.datetime) -> str | None:
        """Why a worker that picks the delivery up leaves it alone: paused or completed, or
        not due yet (it was rescheduled later, and that reschedule queued its own job).
        None: run it."""
        if self.status in (DeliveryStatus.PAUSED, DeliveryStatus.COMPLETED):
            return self.status.value
        if self.scheduled_at > now + dt.timedelta(seconds=1):
            return "not due"
        return None

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.skipped

    @property
    def to_send(self) -> int:
        return self.total - self.done

    @property
    def percent(self) -> int:
        return 100 if self.total == 0 else self.done * 100 // self.total

    def seconds_left(self, now: dt.datetime) -> int:
        """At the pace so far; 0 before the first message and once completed."""
        if not (self.started_at and self.done and self.to_send) or self.completed_at:
            return 0
        return int((now - self.started_at).total_seconds() / self.done * self.to_send)


@dataclasses.dataclass(frozen=True)
class Delivery(Progress):
    id: int
    account_id: int
    list_id: int
    message_id: int
    from_email: str
    from_name: str


@dataclasses.dataclass(frozen=True)
class Addressee:
    """One recipient as the delivery engine sees it."""

    recipient_id: int
    email: str
    fields: Mapping[int, str]


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def _bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise errors.InvalidArgument(name, f"must be true or false, got {value!r}")


def message_options(pairs: Mapping[str, str]) -> MessageOptions:
    """`note`, `dyn_fld`, `link_track` (and `emb_img`, accepted: images stay links), and
    ours, `template`."""
    unknown = sorted(set(pairs) - MESSAGE_OPTIONS)
    if unknown:
        raise errors.InvalidArgument("options", f"unknown option {unknown[0]!r}")
    if "emb_img" in pairs:
        _bool("emb_img", pairs["emb_img"])
    return MessageOptions(note=pairs.get("note", "")[:500],
                          dynamic_fields=_bool("dyn_fld", pairs.get("dyn_fld", "true")),
                          link_tracking=_bool("link_track", pairs.get("link_track", "true")),
                          template=_bool("template", pairs.get("template", "false")))


class Source(enum.StrEnum):
    """Where CreateNewsletter's `content` comes from (spec 3.1)."""

    HTML = "HTML"
    TEXT = "TEXT"  # deprecated: the content is HTML, as at MailUp
    URL = "URL"  # content is the address of a page, fetched once when the message is made
    FILE = "FILE"  # content is the HTML file itself, base64-encoded (UTF-8)


def content_source(raw: str | None) -> Source:
    value = (raw or "").strip().upper()
    if value not in Source.__members__:
        raise errors.InvalidArgument("type", "must be HTML, TEXT, URL or FILE")
    return Source(value)


def file_content(content: str) -> str:
    """A FILE message's content: base64 of a UTF-8 HTML file."""
    import base64
    import binascii

    try:
        return base64.b64decode("".join(content.split()), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise errors.InvalidArgument("content", "type FILE needs the file base64-encoded "
                                     "(UTF-8 HTML)") from None


def _ids(name: str, raw: str) -> tuple[int, ...]:
    parts = [p.strip() for p in raw.split(";") if p.strip()]
    if not all(p.isascii() and p.isdigit() for p in parts):
        raise errors.InvalidArgument(name, "must be ;-separated ids")
    return tuple(int(p) for p in parts)


MESSAGE_OPTIONS = frozenset({"note", "dyn_fld", "link_track", "emb_img", "template"})
SEND_OPTIONS = frozenset({"send_to", "recipients", "exclude", "from_email", "from_name",
                          "clear_stats", "deliverydt", "filters", "filters_as"})


def delivery_time(raw: str) -> dt.datetime | None:
    """The `deliverydt` send option (`yyyyMMddHHmmss`, UTC); None when empty (now)."""
    if not raw.strip():
        return None
    try:
        when = dt.datetime.strptime(raw.strip(), "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
    except ValueError:
        raise errors.InvalidArgument("deliverydt", "must be yyyyMMddHHmmss") from None
    return within_years("deliverydt", when)


def send_options(pairs: Mapping[str, str]) -> SendOptions:
    unknown = sorted(set(pairs) - SEND_OPTIONS)
    if unknown:
        raise errors.InvalidArgument("options", f"unknown option {unknown[0]!r}")
    raw_to = pairs.get("send_to", "").strip().upper()
    if raw_to not in SendTo.__members__:
        raise errors.InvalidArgument("send_to", "must be ALL, RECIPIENTS or GROUPS")
    send_to = SendTo(raw_to)
    if pairs.get("filters", "").strip():
        raise errors.InvalidArgument("filters", "recipient filters are not supported")
    clear_stats = _bool("clear_stats", pairs["clear_stats"]) if "clear_stats" in pairs else False
    recipients: tuple[str, ...] = ()
    groups: tuple[int, ...] = ()
    if send_to is SendTo.RECIPIENTS:
        recipients = tuple(e.strip().lower() for e in pairs.get("recipients", "").split(";")
                           if e.strip())
        if not recipients:
            raise errors.InvalidArgument("recipients", "send_to RECIPIENTS needs emails")
    elif send_to is SendTo.GROUPS:
        groups = _ids("recipients", pairs.get("recipients", ""))
        if not groups:
            raise errors.InvalidArgument("recipients", "send_to GROUPS needs group ids")
    when = delivery_time(pairs.get("deliverydt", ""))
    from_email = pairs.get("from_email", "").strip()
    if from_email and not is_email(from_email):
        raise errors.InvalidArgument("from_email", "not an email address")
    from_name = pairs.get("from_name", "").strip()
    if any(c in from_name for c in "\r\n"):
        raise errors.InvalidArgument("from_name", "must be one line")
    return SendOptions(send_to, recipients, groups, _ids("exclude", pairs.get("exclude", "")),
                       from_email, from_name, when, clear_stats)


# -- making one recipient's message -------------------------------------------------------

_FIELD = re.compile(r"\[(email|campo(\d{1,2}))\]", re.IGNORECASE)
_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(https?://[^"']+)\2""", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"[ \t]+")
UNSUBSCRIBE_PLACEHOLDER = "[unsubscribe]"
SUBSCRIBE_PLACEHOLDER = "[subscribe]"  # the confirmation link of a confirmation request


def merge_fields(text: str, addressee: Addressee, escape: bool) -> str:
    """Dynamic fields: `[email]` and `[campoN]` (N = 1..39) with the recipient's values."""
    def value(match: re.Match[str]) -> str:
        number = match.group(2)
        found = addressee.fields.get(int(number), "") if number else addressee.email
        return html.escape(found) if escape else found
    return _FIELD.sub(value, text)


def render_subject(message: Message, addressee: Addressee) -> str:
    if message.dynamic_fields:
        return merge_fields(message.subject, addressee, escape=False)
    return message.subject


def _html_body(message: Message, addressee: Addressee) -> str:
    body = message.html
    if message.content_type is ContentType.TEXT:  # an email stored so by an earlier release
        body = "<pre>" + html.escape(body) + "</pre>"
    if message.dynamic_fields:
        body = merge_fields(body, addressee, escape=True)
    return body


def _placed(body: str, placeholder: str, link: str, appended: str) -> str:
    """`link` where the body has the placeholder, else the body followed by `appended`."""
    return body.replace(placeholder, link) if placeholder in body else body + appended


def render_html(message: Message, addressee: Addressee, click_url: Callable[[str], str],
                open_url: str | None, unsubscribe_url: str) -> str:
    """The HTML part; `open_url`, when given, is the open-tracking pixel's address."""
    body = _html_body(message, addressee)
    if message.link_tracking:
        body = _HREF.sub(lambda m: f"{m.group(1)}{m.group(2)}"
                         f"{html.escape(click_url(html.unescape(m.group(3))))}{m.group(2)}",
                         body)
    link = f'<a href="{html.escape(unsubscribe_url)}">Unsubscribe</a>'
    body = _placed(body, UNSUBSCRIBE_PLACEHOLDER, link, f'\n<p style="font-size:small">{link}</p>')
    if open_url is None:
        return body
    return body + f'\n<img src="{html.escape(open_url)}" width="1" height="1" alt="">'


def _text_body(message: Message, addressee: Addressee) -> str:
    """The message without tags, fields merged, without its unsubscribe placeholder."""
    body = message.html if message.content_type is ContentType.TEXT else html.unescape(
        _TAG.sub("", re.sub(r"(?i)<br\s*/?>|</p>", "\n", message.html)))
    if message.dynamic_fields:
        body = merge_fields(body, addressee, escape=False)
    body = body.replace(UNSUBSCRIBE_PLACEHOLDER, "")
    lines = [_SPACE.sub(" ", line).strip() for line in body.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def render_text(message: Message, addressee: Addressee, unsubscribe_url: str) -> str:
    """The text alternative: the HTML without tags, and the unsubscribe link."""
    text = _text_body(message, addressee)
    return f"{text}\n\n--\nUnsubscribe: {unsubscribe_url}\n"


def render_confirmation(message: Message, addressee: Addressee,
                        confirm_url: str) -> tuple[str, str, str]:
    """A list's own email sent as the confirmation request (NewImportProcess's
    `idConfirmNL`): its subject, HTML and text for `addressee`, the confirmation link where
    `[subscribe]` is (after the body when it is not there). No tracking, and no unsubscribe
    link: nobody is subscribed yet (an `[unsubscribe]` placeholder is left out). The subject
    is one line whatever the fields merged into it hold."""
    link = f'<a href="{html.escape(confirm_url)}">Confirm your subscription</a>'
    body = _html_body(message, addressee).replace(UNSUBSCRIBE_PLACEHOLDER, "")
    text = _text_body(message, addressee)
    return (one_line(render_subject(message, addressee)),
            _placed(body, SUBSCRIBE_PLACEHOLDER, link, f"\n<p>{link}</p>"),
            _placed(text, SUBSCRIBE_PLACEHOLDER, confirm_url,
                    f"\n\nConfirm your subscription: {confirm_url}") + "\n")


# -- the message on the wire -------------------------------------------------------------
#
# Built as bytes from a template rather than with email.message.EmailMessage, whose header
# parsing and refolding cost about 2.5 ms a message (measured): the delivery engine makes one
# message per recipient, so that alone would cap a worker near 400 messages a second.

_CRLF = "\r\n"


def one_line(value: str) -> str:
    """A header's text: line breaks (from merged fields, say) become spaces."""
    return value.replace("\r", " ").replace("\n", " ")


def header_text(value: str) -> str:
    """A header value: as is when printable ASCII, else RFC 2047 encoded (UTF-8)."""
    value = one_line(value)
    if value.isascii() and value.isprintable():
        return value
    from email.header import Header

    return Header(value, "utf-8", maxlinelen=900).encode()


def address(name: str, email: str) -> str:
    from email.utils import formataddr

    return formataddr((name.replace("\r", " ").replace("\n", " "), email))


def _qp(text: str) -> str:
    import binascii

    # Encoded with bare LF line breaks (a CR would be quoted as =0D), sent with CRLF.
    body = text.replace("\r\n", "\n").replace("\r", "\n")
    return binascii.b2a_qp(body.encode("utf-8")).decode("ascii").replace("\n", _CRLF)


def mime(headers: list[tuple[str, str]], text: str, html_body: str, boundary: str) -> bytes:
    """A multipart/alternative message (text, then HTML), quoted-printable UTF-8 parts.
    `headers` values must already be header-safe (see header_text / address)."""
    head = "".join(f"{name}: {value}{_CRLF}" for name, value in headers)
    return (f"{head}MIME-Version: 1.0{_CRLF}"
            f'Content-Type: multipart/alternative; boundary="{boundary}"{_CRLF}{_CRLF}'
            f"--{boundary}{_CRLF}"
            f'Content-Type: text/plain; charset="utf-8"{_CRLF}'
            f"Content-Transfer-Encoding: quoted-printable{_CRLF}{_CRLF}"
            f"{_qp(text)}{_CRLF}"
            f"--{boundary}{_CRLF}"
            f'Content-Type: text/html; charset="utf-8"{_CRLF}'
            f"Content-Transfer-Encoding: quoted-printable{_CRLF}{_CRLF}"
            f"{_qp(html_body)}{_CRLF}"
            f"--{boundary}--{_CRLF}").encode("ascii")
