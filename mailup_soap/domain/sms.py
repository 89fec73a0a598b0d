"""SMS messages and deliveries: the send options, the sender id, numbers, and how long a text
may be (GSM-7 or UCS-2, at most 10 concatenated parts)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping

from mailup_soap import errors
from mailup_soap.domain import contacts
from mailup_soap.domain import messages as msg

# -- length rules ----------------------------------------------------------------------------
#
# One SMS carries 160 GSM-7 septets or 70 UCS-2 units; a concatenated one loses 7 septets (3
# UCS-2 units) per part to the header that joins them: 153 and 67. A text with any character
# outside the GSM-7 alphabet goes as UCS-2. Past 10 parts operators and handsets drop parts,
# so longer texts are refused.

MAX_PARTS = 10
GSM_SINGLE, GSM_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67

_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM_EXTENDED = set("^{}\\[~]|€\f")  # escape + char: two septets each


@dataclasses.dataclass(frozen=True)
class Length:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    parts: int


def is_gsm(text: str) -> bool:
    return all(c in _GSM_BASIC or c in _GSM_EXTENDED for c in text)


def _parts(sizes: list[int], single: int, per_part: int) -> int:
    """Parts needed when no character may be split across two parts."""
    if sum(sizes) <= single:
        return 1 if sizes else 0
    parts, used = 1, 0
    for size in sizes:
        if used + size > per_part:
            parts, used = parts + 1, 0
        used += size
    return parts


def measure(text: str) -> Length:
    if is_gsm(text):
        sizes = [2 if c in _GSM_EXTENDED else 1 for c in text]
        return Length("GSM-7", sum(sizes), _parts(sizes, GSM_SINGLE, GSM_PART))
    sizes = [2 if ord(c) > 0xFFFF else 1 for c in text]  # surrogate pairs
    return Length("UCS-2", sum(sizes), _parts(sizes, UCS2_SINGLE, UCS2_PART))


def check_length(name: str, text: str) -> Length:
    length = measure(text)
    if length.parts > MAX_PARTS:
        limit = GSM_PART if length.encoding == "GSM-7" else UCS2_PART
        raise errors.InvalidArgument(name, f"{length.parts} SMS parts ({length.encoding}); at "
                                           f"most {MAX_PARTS} of {limit} characters")
    return length


def checked_text(name: str, raw: str | None) -> str:
    text = (raw or "").strip()
    if not text:
        raise errors.InvalidArgument(name, "empty")
    check_length(name, text)
    return text


# -- senders, numbers, options ---------------------------------------------------------------

# An alphanumeric sender id has at most 11 characters (GSM 03.40); a numeric one is a phone
# number, up to 16 digits with an optional "+".
_ALPHA_SENDER = re.compile(r"[A-Za-z0-9 ._-]{1,11}")
_NUMERIC_SENDER = re.compile(r"\+?[0-9]{3,16}")


def sender_id(raw: str) -> str:
    value = raw.strip()
    if _NUMERIC_SENDER.fullmatch(value):
        return value
    if _ALPHA_SENDER.fullmatch(value) and re.search(r"[A-Za-z]", value):
        return value
    raise errors.InvalidArgument("sender", "at most 11 letters and digits, or a phone number")


def number(raw: str | None, name: str = "numero") -> str:
    """A mobile number as recipients store it: "+<digits>"."""
    try:
        found = contacts.normalize_mobile(raw)
    except errors.InvalidContact:
        found = None
    if found is None:
        raise errors.InvalidArgument(name, f"{raw!r} is not a mobile number with its "
                                           "international prefix")
    return found[1]


@dataclasses.dataclass(frozen=True)
class SmsSendOptions:
    """SendSMS options: like SendNewsletter's, `recipients` being numbers, and `sender`."""

    send_to: msg.SendTo
    numbers: tuple[str, ...] = ()  # for RECIPIENTS
    groups: tuple[int, ...] = ()  # for GROUPS
    exclude_groups: tuple[int, ...] = ()
    sender: str = ""  # "": the configured default
    delivery_at: dt.datetime | None = None  # None: now


_SEND_KEYS = {"send_to", "recipients", "exclude", "deliverydt", "sender", "clear_stats",
              "filters", "filters_as"}


def _unknown(pairs: Mapping[str, str], known: set[str]) -> None:
    unknown = sorted(set(pairs) - known)
    if unknown:
        raise errors.InvalidArgument("options", f"unknown option {unknown[0]!r}")


def _ids(name: str, raw: str) -> tuple[int, ...]:
    parts = [p.strip() for p in raw.split(";") if p.strip()]
    if not all(p.isascii() and p.isdigit() for p in parts):
        raise errors.InvalidArgument(name, "must be ;-separated ids")
    return tuple(int(p) for p in parts)


def send_options(pairs: Mapping[str, str], *, extra: frozenset[str] = frozenset(),
                 ) -> SmsSendOptions:
    """`extra`: keys the caller reads itself (SendSMSFast's `note`)."""
    _unknown(pairs, _SEND_KEYS | extra)
    raw_to = pairs.get("send_to", "").strip().upper()
    if raw_to not in msg.SendTo.__members__:
        raise errors.InvalidArgument("send_to", "must be ALL, RECIPIENTS or GROUPS")
    send_to = msg.SendTo(raw_to)
    if pairs.get("filters", "").strip():
        raise errors.InvalidArgument("filters", "recipient filters are not supported")
    raw = pairs.get("recipients", "")
    numbers: tuple[str, ...] = ()
    groups: tuple[int, ...] = ()
    if send_to is msg.SendTo.RECIPIENTS:
        numbers = tuple(dict.fromkeys(number(p, "recipients") for p in raw.split(";")
                                      if p.strip()))
        if not numbers:
            raise errors.InvalidArgument("recipients", "send_to RECIPIENTS needs numbers")
    elif send_to is msg.SendTo.GROUPS:
        groups = _ids("recipients", raw)
        if not groups:
            raise errors.InvalidArgument("recipients", "send_to GROUPS needs group ids")
    sender = pairs.get("sender", "").strip()
    return SmsSendOptions(send_to, numbers, groups, _ids("exclude", pairs.get("exclude", "")),
                          sender_id(sender) if sender else "",
                          msg.delivery_time(pairs.get("deliverydt", "")))


def single_options(pairs: Mapping[str, str]) -> str:
    """SendSingleSMS / SendDirectSMS options: only `sender`; returns it ("" = default)."""
    _unknown(pairs, {"sender"})
    sender = pairs.get("sender", "").strip()
    return sender_id(sender) if sender else ""


def note_option(pairs: Mapping[str, str]) -> str:
    """CreateSMS options: `note` only."""
    _unknown(pairs, {"note"})
    return pairs.get("note", "").strip()[:500]


# -- messages, deliveries --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Sms:
    id: int  # smsID
    account_id: int
    list_id: int
    subject: str
    text: str
    note: str = ""
    created_at: dt.datetime | None = None


@dataclasses.dataclass(frozen=True)
class SmsDelivery(msg.Progress):
    id: int
    account_id: int
    list_id: int
    sms_id: int | None  # None: SendDirectSMS, the text is on the delivery
    text: str | None
    sender: str


@dataclasses.dataclass(frozen=True)
class SmsAddressee:
    """One number as the SMS engine sees it, with the recipient's fields (if on file)."""

    recipient_id: int
    number: str
    email: str
    fields: Mapping[int, str]


def render(text: str, addressee: SmsAddressee) -> str:
    """The text with `[email]` and `[campoN]` merged; raises InvalidArgument when the merged
    text is past the length limit."""
    merged = msg.merge_fields(text, msg.Addressee(addressee.recipient_id, addressee.email,
                                                  addressee.fields), escape=False)
    check_length("text", merged)
    return merged
