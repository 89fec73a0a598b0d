"""The subscription state machine: every path that changes a subscription goes through it."""
from __future__ import annotations

import pytest

from mailup_soap.domain import lifecycle
from mailup_soap.domain.lifecycle import Current, Outcome, Transition
from mailup_soap.domain.model import EventType, SubscriptionStatus, UnsubscribeReason

PENDING = Current(SubscriptionStatus.PENDING)
SUBSCRIBED = Current(SubscriptionStatus.SUBSCRIBED)
REQUESTED = Transition(Outcome.CHANGED, SubscriptionStatus.PENDING,
                       EventType.SUBSCRIPTION_REQUESTED, send_confirmation=True)
CONFIRMED = Transition(Outcome.CHANGED, SubscriptionStatus.SUBSCRIBED,
                       EventType.SUBSCRIPTION_CONFIRMED)
FINAL = [UnsubscribeReason.HARD_BOUNCE, UnsubscribeReason.SPAM_COMPLAINT]
NOT_FINAL = [r for r in UnsubscribeReason if r not in FINAL]


def unsubscribed(reason: int | None) -> Current:
    return Current(SubscriptionStatus.UNSUBSCRIBED, reason)


# -- subscribe -------------------------------------------------------------------------------


def test_a_new_subscription_with_confirm_becomes_pending_and_sends_a_confirmation() -> None:
    step = lifecycle.subscribe(None, confirm=True)

    assert step == REQUESTED


def test_a_new_subscription_without_confirm_is_subscribed_at_once() -> None:
    step = lifecycle.subscribe(None, confirm=False)

    assert step == CONFIRMED
    assert not step.send_confirmation


@pytest.mark.parametrize("confirm", [True, False])
def test_subscribing_someone_already_subscribed_changes_nothing(confirm: bool) -> None:
    step = lifecycle.subscribe(SUBSCRIBED, confirm=confirm)

    assert step == Transition(Outcome.ALREADY)


def test_subscribing_a_pending_recipient_with_confirm_resends_the_confirmation() -> None:
    step = lifecycle.subscribe(PENDING, confirm=True)

    assert step == Transition(Outcome.ALREADY, send_confirmation=True)
    assert step.status is None and step.event is None


def test_subscribing_a_pending_recipient_without_confirm_subscribes_them() -> None:
    step = lifecycle.subscribe(PENDING, confirm=False)

    assert step == CONFIRMED


@pytest.mark.parametrize("confirm", [True, False])
@pytest.mark.parametrize("reason", FINAL)
def test_a_hard_bounce_or_spam_complaint_is_never_resubscribed(
        reason: UnsubscribeReason, confirm: bool) -> None:
    step = lifecycle.subscribe(unsubscribed(reason), confirm=confirm)

    assert step == Transition(Outcome.REFUSED)


@pytest.mark.parametrize("reason", [8, 16])
def test_final_reasons_are_recognised_as_plain_integers_from_the_database(reason: int) -> None:
    step = lifecycle.subscribe(unsubscribed(reason), confirm=False)

    assert step.outcome is Outcome.REFUSED


@pytest.mark.parametrize("confirm", [True, False])
@pytest.mark.parametrize("reason", [*NOT_FINAL, None])
def test_an_unsubscribed_recipient_must_confirm_again_whatever_confirm_says(
        reason: int | None, confirm: bool) -> None:
    step = lifecycle.subscribe(unsubscribed(reason), confirm=confirm)

    assert step == REQUESTED


def test_only_hard_bounce_and_spam_complaint_are_final() -> None:
    assert {8, 16} == lifecycle.FINAL_REASONS


# -- confirm ---------------------------------------------------------------------------------


def test_confirming_a_pending_subscription_subscribes_the_recipient() -> None:
    assert lifecycle.confirm(PENDING) == CONFIRMED


def test_confirming_twice_answers_already() -> None:
    assert lifecycle.confirm(SUBSCRIBED) == Transition(Outcome.ALREADY)


def test_confirming_without_a_subscription_is_unknown() -> None:
    assert lifecycle.confirm(None) == Transition(Outcome.UNKNOWN)


@pytest.mark.parametrize("reason", [UnsubscribeReason.UNSUBSCRIBE_LINK,
                                    UnsubscribeReason.HARD_BOUNCE])
def test_an_old_confirmation_link_cannot_undo_an_unsubscription(reason: int) -> None:
    assert lifecycle.confirm(unsubscribed(reason)) == Transition(Outcome.REFUSED)


# -- unsubscribe, remove, profile change ----------------------------------------------------


@pytest.mark.parametrize("current", [PENDING, SUBSCRIBED])
def test_unsubscribing_a_pending_or_subscribed_recipient_records_the_unsubscription(
        current: Current) -> None:
    step = lifecycle.unsubscribe(current)

    assert step == Transition(Outcome.CHANGED, SubscriptionStatus.UNSUBSCRIBED,
                              EventType.UNSUBSCRIBED)


def test_unsubscribing_twice_answers_already() -> None:
    step = lifecycle.unsubscribe(unsubscribed(UnsubscribeReason.ADMIN))

    assert step == Transition(Outcome.ALREADY)


def test_unsubscribing_without_a_subscription_is_unknown() -> None:
    assert lifecycle.unsubscribe(None) == Transition(Outcome.UNKNOWN)


@pytest.mark.parametrize("current", [PENDING, SUBSCRIBED, unsubscribed(8), unsubscribed(0)])
def test_removing_deletes_the_subscription_whatever_its_state(current: Current) -> None:
    step = lifecycle.remove(current)

    assert step == Transition(Outcome.CHANGED, None, EventType.REMOVED)


def test_removing_without_a_subscription_is_unknown() -> None:
    assert lifecycle.remove(None) == Transition(Outcome.UNKNOWN)


@pytest.mark.parametrize("current", [PENDING, SUBSCRIBED, unsubscribed(2)])
def test_a_profile_change_keeps_the_status_and_records_the_change(current: Current) -> None:
    step = lifecycle.profile_change(current)

    assert step == Transition(Outcome.CHANGED, current.status, EventType.PROFILE_CHANGED)


def test_a_profile_change_without_a_subscription_is_unknown() -> None:
    assert lifecycle.profile_change(None) == Transition(Outcome.UNKNOWN)


def test_transitions_send_a_confirmation_only_when_a_request_is_made() -> None:
    steps = [lifecycle.confirm(PENDING), lifecycle.unsubscribe(SUBSCRIBED),
             lifecycle.remove(SUBSCRIBED), lifecycle.profile_change(SUBSCRIBED)]

    assert not any(step.send_confirmation for step in steps)
