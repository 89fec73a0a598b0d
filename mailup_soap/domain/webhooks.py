"""Webhooks: configuration, MailUp placeholders, legacy RC4+Base64, Standard Webhooks
signatures and the retry schedule. Pure functions; delivery lives in the service layer."""
from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import re
import secrets
import urllib.parse
from collections.abc import Mapping

from mailup_soap.domain.model import PERSONAL_FIELD_COUNT, ChangeSource, EventType

# After the first (immediate) attempt fails, the next ones wait this long (issue #3).
RETRY_SCHEDULE = (dt.timedelta(seconds=5), dt.timedelta(minutes=5), dt.timedelta(minutes=30),
                  dt.timedelta(hours=2), dt.timedelta(hours=5), dt.timedelta(hours=10),
                  dt.timedelta(hours=14), dt.timedelta(hours=20), dt.timedelta(hours=24))
MAX_ATTEMPTS = 1 + len(RETRY_SCHEDULE)

# MailUp names accepted as aliases of our lifecycle events in a webhook's event filter.
EVENT_ALIASES: dict[str, EventType] = {
    "SUBSCRIBE": EventType.SUBSCRIPTION_CONFIRMED,
    "UNSUBSCRIBE": EventType.UNSUBSCRIBED,
    "DELETE": EventType.REMOVED,
    "CHANGEPROFILE": EventType.PROFILE_CHANGED,
    "SUBSCRIBE_REQUEST": EventType.SUBSCRIPTION_REQUESTED,
}

DEFAULT_PARAMS: dict[str, str] = {
    "event": "[EventType]", "source": "[EventSource]", "date": "[EventDate]",
    "console": "[IdConsole]", "list": "[IdList]", "email": "[Email]", "prefix": "[Prefix]",
    "number": "[Number]", "reason": "[Reason]", "groups": "[Groups]",
}

PLACEHOLDER = re.compile(r"\[([A-Za-z]+[0-9]*)\]")


@dataclasses.dataclass(frozen=True)
class Webhook:
    id: int
    account_id: int
    list_id: int
    url: str
    method: str  # GET or POST
    events: frozenset[EventType]
    sources: frozenset[ChangeSource]
    params: Mapping[str, str]
    active: bool
    secret: str  # whsec_<base64>: the Standard Webhooks signing secret
    rc4_key: str = ""


@dataclasses.dataclass(frozen=True)
class EventData:
    """What placeholders are filled from: an event row with its recipient snapshot."""

    id: int
    account_id: int
    list_id: int
    type: EventType
    source: ChangeSource
    occurred_at: dt.datetime
    email: str = ""
    prefix: str = ""
    number: str = ""
    reason: int | None = None
    message_id: int | None = None
    groups: tuple[int, ...] = ()
    fields: Mapping[int, str] = dataclasses.field(default_factory=dict)


def parse_events(names: list[str]) -> frozenset[EventType]:
    """Lifecycle names or MailUp names (SUBSCRIBE, UNSUBSCRIBE, DELETE, CHANGEPROFILE)."""
    result = set()
    for raw in names:
        name = raw.strip()
        if name.upper() in EVENT_ALIASES:
            result.add(EVENT_ALIASES[name.upper()])
        else:
            try:
                result.add(EventType(name.lower()))
            except ValueError:
                raise ValueError(f"unknown webhook event {name!r}") from None
    return frozenset(result)


def parse_sources(names: list[str]) -> frozenset[ChangeSource]:
    by_name = {s.value.upper(): s for s in ChangeSource}
    try:
        return frozenset(by_name[n.strip().upper()] for n in names)
    except KeyError as exc:
        raise ValueError(f"unknown webhook source {exc.args[0]!r}") from None


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def placeholder_values(event: EventData) -> dict[str, str]:
    """MailUp's placeholders (spec section 8) for one event."""
    values = {
        "EventDate": event.occurred_at.isoformat(timespec="milliseconds"),
        "IdConsole": str(event.account_id), "IdList": str(event.list_id),
        "IdNL": "" if event.message_id is None else str(event.message_id),
        "EventType": event.type.mailup_name, "EventSource": event.source.value,
        "Reason": "" if event.reason is None else str(event.reason),
        "Email": event.email, "Prefix": event.prefix, "Number": event.number,
        "Groups": ",".join(str(g) for g in event.groups),
        "Channel": "0" if event.email else "1",  # Mail=0, Sms=1
    }
    for i in range(1, PERSONAL_FIELD_COUNT + 1):
        values[f"Field{i:02d}"] = event.fields.get(i, "")
    return values


def render_params(params: Mapping[str, str], event: EventData) -> list[tuple[str, str]]:
    values = placeholder_values(event)
    return [(name, PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template))
            for name, template in (params or DEFAULT_PARAMS).items()]


def rc4(key: bytes, data: bytes) -> bytes:
    """RC4, for MailUp's legacy encrypted webhooks only (receivers decrypt with it)."""
    state = list(range(256))
    j = 0
    for i in range(256):
        j = (j + state[i] + key[i % len(key)]) % 256
        state[i], state[j] = state[j], state[i]
    out = bytearray()
    i = j = 0
    for byte in data:
        i = (i + 1) % 256
        j = (j + state[i]) % 256
        state[i], state[j] = state[j], state[i]
        out.append(byte ^ state[(state[i] + state[j]) % 256])
    return bytes(out)


def encrypt_query(query: str, key: str) -> str:
    """The whole query string, RC4-encrypted and Base64-encoded, URL-encoded (spec section 8)."""
    blob = base64.b64encode(rc4(key.encode("utf-8"), query.encode("utf-8"))).decode()
    return urllib.parse.quote(blob, safe="")


def sign(secret: str, msg_id: str, timestamp: int, payload: bytes) -> str:
    """Standard Webhooks: v1,<base64 HMAC-SHA256 of "id.timestamp.payload">."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + payload
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


@dataclasses.dataclass(frozen=True)
class OutgoingRequest:
    method: str
    url: str
    body: bytes
    headers: dict[str, str]


def build_request(hook: Webhook, event: EventData, msg_id: str,
                  now: dt.datetime) -> OutgoingRequest:
    """The HTTP request of one delivery attempt. GET carries the parameters in the query
    string, POST as a form body; with an RC4 key the encrypted blob is the whole query string.
    The signature covers the body, or the query string when there is no body."""
    query = urllib.parse.urlencode(render_params(hook.params, event))
    body = b""
    if hook.rc4_key:
        query = encrypt_query(query, hook.rc4_key)
    elif hook.method == "POST":
        body, query = query.encode(), ""
    url = hook.url + (("&" if "?" in hook.url else "?") + query if query else "")
    timestamp = int(now.timestamp())
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
               "webhook-signature": sign(hook.secret, msg_id, timestamp, body or query.encode()),
               "User-Agent": "mailup-soap-webhooks"}
    if body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    return OutgoingRequest(hook.method, url, body, headers)


def next_attempt_delay(attempts_made: int) -> dt.timedelta | None:
    """Wait before attempt number attempts_made + 1, or None when the schedule is spent."""
    index = attempts_made - 1
    return RETRY_SCHEDULE[index] if 0 <= index < len(RETRY_SCHEDULE) else None
