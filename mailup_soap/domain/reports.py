"""What the Report service's statistics say (spec 5): the opens and clicks of a list's
messages, by message (ReportByMessage) and by recipient (ReportByUser)."""
from __future__ import annotations

import dataclasses
import datetime as dt

from mailup_soap.domain.model import SubscriptionStatus, UnsubscribeReason

BOUNCE_REASONS = frozenset({UnsubscribeReason.HARD_BOUNCE, UnsubscribeReason.SOFT_BOUNCES})


@dataclasses.dataclass(frozen=True)
class UrlClicks:
    """The clicks on one link: all of them, and how many each address made."""

    url: str
    total: int
    by_email: tuple[tuple[str, int], ...]


@dataclasses.dataclass(frozen=True)
class MessageReport:
    clicks: tuple[UrlClicks, ...]
    opens_total: int
    opens_by_email: tuple[tuple[str, int], ...]


@dataclasses.dataclass(frozen=True)
class Hit:
    """One open (url None) or click of a recipient."""

    at: dt.datetime
    ip: str
    message_id: int
    subject: str
    url: str | None = None


@dataclasses.dataclass(frozen=True)
class Subscriber:
    """A recipient found by email address, as one list sees them."""

    recipient_id: int
    has_mobile: bool
    status: SubscriptionStatus
    reason: int | None
    unsubscribed_at: dt.datetime | None
    bounced_at: dt.datetime | None  # the last bounce read back from the list's messages
    fields: dict[int, str]

    @property
    def sms_status(self) -> SubscriptionStatus | None:
        """None (not registered by SMS) without a mobile number."""
        return self.status if self.has_mobile else None

    @property
    def last_bounce(self) -> dt.datetime | None:
        """The last bounce read back, else the date of an unsubscription for bounces (an
        import or the FTP sync may give one, with no bounce of ours behind it)."""
        if self.bounced_at is not None:
            return self.bounced_at
        if self.status is SubscriptionStatus.UNSUBSCRIBED and self.reason in BOUNCE_REASONS:
            return self.unsubscribed_at
        return None

    @property
    def has_stats(self) -> bool:
        """MailUp returns no statistics for an unsubscribed address."""
        return self.status is not SubscriptionStatus.UNSUBSCRIBED


@dataclasses.dataclass(frozen=True)
class UserReport:
    subscriber: Subscriber | None  # None: not registered in the list
    clicks: tuple[Hit, ...] = ()
    opens: tuple[Hit, ...] = ()
