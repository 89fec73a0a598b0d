"""The subscription state machine, used by every path that changes a subscription
(frontend, SOAP, imports, FTP): each rule returns the new state and the event to record."""
from __future__ import annotations

import dataclasses
import enum

from mailup_soap.domain.model import (
    EventType,
    SubscriptionState,
    SubscriptionStatus,
    UnsubscribeReason,
)

# A hard bounce or a spam complaint is final: nothing re-subscribes them (spec section 10).
FINAL_REASONS = frozenset({UnsubscribeReason.HARD_BOUNCE, UnsubscribeReason.SPAM_COMPLAINT})


class Outcome(enum.Enum):
    CHANGED = "changed"
    ALREADY = "already"  # nothing to do: already in the asked state
    REFUSED = "refused"  # the rules forbid it (a final unsubscription)
    UNKNOWN = "unknown"  # no subscription to act on


@dataclasses.dataclass(frozen=True)
class Current:
    status: SubscriptionStatus
    reason: int | None = None

    @classmethod
    def of(cls, state: SubscriptionState | None) -> Current | None:
        """A stored subscription as the rules read it; None without one."""
        return cls(state.status, state.reason) if state else None


@dataclasses.dataclass(frozen=True)
class Transition:
    outcome: Outcome
    status: SubscriptionStatus | None = None  # None with REMOVED: the subscription is deleted
    event: EventType | None = None
    send_confirmation: bool = False


def subscribe(current: Current | None, confirm: bool) -> Transition:
    """A subscription request (frontend xmlSubscribe, SOAP, a new import row).

    With `confirm` the recipient becomes pending and gets a confirmation email; without, they
    are subscribed at once. Someone who unsubscribed must confirm again whatever `confirm`
    says (their own consent is the only way back), and a hard bounce or spam complaint is
    never undone.
    """
    if current is None:
        return _request() if confirm else _confirmed()
    if current.status is SubscriptionStatus.SUBSCRIBED:
        return Transition(Outcome.ALREADY)
    if current.status is SubscriptionStatus.PENDING:
        return Transition(Outcome.ALREADY, send_confirmation=True) if confirm else _confirmed()
    if current.reason in FINAL_REASONS:
        return Transition(Outcome.REFUSED)
    return _request()


def _request() -> Transition:
    return Transition(Outcome.CHANGED, SubscriptionStatus.PENDING,
                      EventType.SUBSCRIPTION_REQUESTED, send_confirmation=True)


def _confirmed() -> Transition:
    return Transition(Outcome.CHANGED, SubscriptionStatus.SUBSCRIBED,
                      EventType.SUBSCRIPTION_CONFIRMED)


def confirm(current: Current | None) -> Transition:
    """The recipient confirmed (the POST of the confirmation page)."""
    if current is None:
        return Transition(Outcome.UNKNOWN)
    if current.status is SubscriptionStatus.PENDING:
        return _confirmed()
    if current.status is SubscriptionStatus.SUBSCRIBED:
        return Transition(Outcome.ALREADY)
    return Transition(Outcome.REFUSED)


def unsubscribe(current: Current | None) -> Transition:
    if current is None:
        return Transition(Outcome.UNKNOWN)
    if current.status is SubscriptionStatus.UNSUBSCRIBED:
        return Transition(Outcome.ALREADY)
    return Transition(Outcome.CHANGED, SubscriptionStatus.UNSUBSCRIBED, EventType.UNSUBSCRIBED)


def remove(current: Current | None) -> Transition:
    """Cancellation: the subscription is deleted (the recipient stays in the account)."""
    if current is None:
        return Transition(Outcome.UNKNOWN)
    return Transition(Outcome.CHANGED, None, EventType.REMOVED)


def profile_change(current: Current | None) -> Transition:
    if current is None:
        return Transition(Outcome.UNKNOWN)
    return Transition(Outcome.CHANGED, current.status, EventType.PROFILE_CHANGED)
