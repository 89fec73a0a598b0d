"""Accounts, users, lists, groups, recipients and subscriptions."""
from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import uuid

from mailup_soap import errors

# The years a date in a request may name: shifted by a time zone or a day, it stays a date
# Python and PostgreSQL both hold (0001-01-01 at +05:00 is no datetime at all).
EARLIEST_YEAR, LATEST_YEAR = 1900, 9000


def within_years(name: str, when: dt.datetime) -> dt.datetime:
    if not EARLIEST_YEAR <= when.year <= LATEST_YEAR:
        raise errors.InvalidArgument(name, f"the year must be {EARLIEST_YEAR}..{LATEST_YEAR}")
    return when


# Field ids 1..39 are positional personal fields ("campoN").
PERSONAL_FIELD_COUNT = 39
# MailUp truncates group names longer than this (spec section 10).
GROUP_NAME_MAX = 50


class AccountStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    INACTIVE = "inactive"
    EXPIRED = "expired"


class UserKind(enum.StrEnum):
    CONSOLE = "console"  # m<console id>: logs in to the console and the accessKey services
    WEB_SERVICE = "ws"  # a<console id>: the Import service's Authentication header user

    @property
    def prefix(self) -> str:
        return "m" if self is UserKind.CONSOLE else "a"


class SubscriptionStatus(enum.StrEnum):
    PENDING = "pending"
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"


class ChangeSource(enum.StrEnum):
    """Who caused a subscription change; the webhook `[EventSource]`."""

    API = "API"
    CONSOLE = "Console"
    RECIPIENT = "Recipient"


class EventType(enum.StrEnum):
    """Lifecycle events, written in the same transaction as the change they describe."""

    SUBSCRIPTION_REQUESTED = "subscription_requested"  # now pending
    SUBSCRIPTION_CONFIRMED = "subscription_confirmed"  # subscribed
    UNSUBSCRIBED = "unsubscribed"
    REMOVED = "removed"  # cancellation: subscription deleted
    PROFILE_CHANGED = "profile_changed"

    @property
    def mailup_name(self) -> str:
        """The MailUp webhook event name (spec section 8)."""
        return _MAILUP_EVENT[self]


_MAILUP_EVENT = {
    # MailUp has no name for a pending request; MailUp receivers only know the other four.
    EventType.SUBSCRIPTION_REQUESTED: "SUBSCRIBE_REQUEST",
    EventType.SUBSCRIPTION_CONFIRMED: "SUBSCRIBE",
    EventType.UNSUBSCRIBED: "UNSUBSCRIBE",
    EventType.REMOVED: "DELETE",
    EventType.PROFILE_CHANGED: "CHANGEPROFILE",
}


class UnsubscribeReason(enum.IntEnum):
    """MailUp unsubscription reason codes (spec section 7.2)."""

    ADMIN = 0
    UNSUBSCRIBE_LINK = 2
    IMPORTED = 4
    HARD_BOUNCE = 8
    SPAM_COMPLAINT = 16
    LIST_UNSUBSCRIBE_LINK = 32
    LIST_UNSUBSCRIBE_MAIL = 64
    BAD_SYNTAX = 81
    BAD_DOMAIN = 82
    ABANDONED = 83
    INACTIVE = 128
    BLOCKED = 256
    SOFT_BOUNCES = 512
    BLOCKED_MTA = 2561
    BLOCKED_CONTENT = 2562
    BLOCKED_MTA_CONFIG = 2563


@dataclasses.dataclass(frozen=True)
class Account:
    id: int  # the console id: 1234 for users m1234 / a1234
    name: str
    status: AccountStatus
    console_host: str
    ws_enabled: bool = True
    ws_active: bool = True


@dataclasses.dataclass(frozen=True)
class User:
    id: int
    account_id: int
    username: str
    kind: UserKind
    password_hash: str


@dataclasses.dataclass(frozen=True)
class MailingList:
    account_id: int
    id: int
    guid: uuid.UUID
    name: str
    options: dict[str, str]
    auto_id: str = ""
    created_at: dt.datetime | None = None


@dataclasses.dataclass(frozen=True)
class Group:
    account_id: int
    id: int
    list_id: int
    name: str
    notes: str = ""


@dataclasses.dataclass(frozen=True)
class Field:
    id: int
    name: str


@dataclasses.dataclass(frozen=True)
class Session:
    """An issued accessKey, known by its hash only."""

    key_hash: str
    account_id: int
    user_id: int
    expires_at: dt.datetime


def username_for(kind: UserKind, console_id: int) -> str:
    return f"{kind.prefix}{console_id}"


def console_id_from_username(username: str) -> int | None:
    """`m1234` / `a1234` -> 1234, as MailUp clients derive it; None when it has no digits."""
    digits = "".join(ch for ch in username if ch.isdigit())
    return int(digits) if digits else None


def truncate_group_name(name: str) -> str:
    return name.strip()[:GROUP_NAME_MAX]


@dataclasses.dataclass(frozen=True)
class Recipient:
    account_id: int
    id: int
    email: str | None
    mobile_prefix: str | None
    mobile_number: str | None
    fields: dict[int, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class SubscriptionState:
    status: SubscriptionStatus
    reason: int | None
    requested_at: dt.datetime | None
