"""The status flags of an import (spec 2.5 and section 10) as lifecycle transitions, and the
import options' own rules (spec 2.1), and MAILUP_IMPORT_LANES."""
from __future__ import annotations

import itertools

import pytest

from mailup_soap.config import ConfigurationError, load_settings
from mailup_soap.domain.imports import Channels, ImportOptions, transition, transition_table
from mailup_soap.domain.lifecycle import Current, Outcome, Transition
from mailup_soap.domain.model import EventType, SubscriptionStatus, UnsubscribeReason

PENDING = Current(SubscriptionStatus.PENDING)
SUBSCRIBED = Current(SubscriptionStatus.SUBSCRIBED)
UNSUBSCRIBED = Current(SubscriptionStatus.UNSUBSCRIBED, UnsubscribeReason.ADMIN)
FINAL = [Current(SubscriptionStatus.UNSUBSCRIBED, UnsubscribeReason.HARD_BOUNCE),
         Current(SubscriptionStatus.UNSUBSCRIBED, UnsubscribeReason.SPAM_COMPLAINT)]
NOT_FINAL_UNSUBSCRIBED = [Current(SubscriptionStatus.UNSUBSCRIBED, r) for r in UnsubscribeReason
                          if r not in (UnsubscribeReason.HARD_BOUNCE,
                                       UnsubscribeReason.SPAM_COMPLAINT)]

UNCHANGED = Transition(Outcome.ALREADY)
TO_SUBSCRIBED = Transition(Outcome.CHANGED, SubscriptionStatus.SUBSCRIBED,
                           EventType.SUBSCRIPTION_CONFIRMED)
TO_PENDING_WITH_EMAIL = Transition(Outcome.CHANGED, SubscriptionStatus.PENDING,
                                   EventType.SUBSCRIPTION_REQUESTED, send_confirmation=True)
TO_PENDING_SILENTLY = Transition(Outcome.CHANGED, SubscriptionStatus.PENDING,
                                 EventType.SUBSCRIPTION_REQUESTED)
TO_UNSUBSCRIBED = Transition(Outcome.CHANGED, SubscriptionStatus.UNSUBSCRIBED,
                             EventType.UNSUBSCRIBED)


def flags(confirm: bool = False, opt_out: bool = False, pending: bool = False,
          force: bool = False) -> ImportOptions:
    """The four columns of the spec 2.5 table, in its order."""
    return ImportOptions(confirm_email=confirm, as_opt_out=opt_out, as_pending=pending,
                         force_opt_in=force)


ALL_FLAGS = [flags(*combo) for combo in itertools.product((False, True), repeat=4)]


# -- the spec 2.5 table, row by row, on existing recipients ----------------------------------

# (row, options, {existing status: expected transition})
TABLE = [
    ("no status change (default)", flags(),
     {"pending": UNCHANGED, "subscribed": UNCHANGED, "unsubscribed": UNCHANGED}),
    ("pending -> subscribed", flags(pending=True),
     {"pending": TO_SUBSCRIBED, "subscribed": UNCHANGED, "unsubscribed": UNCHANGED}),
    ("unsubscribed -> subscribed", flags(force=True),
     {"pending": UNCHANGED, "subscribed": UNCHANGED, "unsubscribed": TO_SUBSCRIBED}),
    ("subscribed -> pending, confirmation also to the pending", flags(confirm=True),
     {"pending": Transition(Outcome.ALREADY, send_confirmation=True),
      "subscribed": TO_PENDING_WITH_EMAIL, "unsubscribed": UNCHANGED}),
    ("unsubscribed -> pending", flags(confirm=True, force=True),
     {"unsubscribed": TO_PENDING_WITH_EMAIL, "subscribed": TO_PENDING_WITH_EMAIL}),
    ("unsubscribed -> pending (asPending: any)", flags(confirm=True, pending=True, force=True),
     {"unsubscribed": TO_PENDING_WITH_EMAIL, "subscribed": TO_PENDING_WITH_EMAIL}),
    ("subscribed -> unsubscribed", flags(opt_out=True),
     {"pending": UNCHANGED, "subscribed": TO_UNSUBSCRIBED, "unsubscribed": UNCHANGED}),
    ("pending -> unsubscribed", flags(opt_out=True, pending=True),
     {"pending": TO_UNSUBSCRIBED, "unsubscribed": UNCHANGED}),
]
STATE = {"pending": PENDING, "subscribed": SUBSCRIBED, "unsubscribed": UNSUBSCRIBED}


@pytest.mark.parametrize(("row", "opts", "expected"), TABLE, ids=[row[0] for row in TABLE])
def test_each_row_of_the_flag_table_changes_existing_recipients_as_the_spec_says(
        row: str, opts: ImportOptions, expected: dict[str, Transition]) -> None:
    got = {status: transition(STATE[status], opts) for status in expected}

    assert got == expected


def test_the_default_import_changes_no_existing_recipient_whatever_the_reason() -> None:
    for current in [PENDING, SUBSCRIBED, *NOT_FINAL_UNSUBSCRIBED, *FINAL]:
        assert transition(current, ImportOptions()) == UNCHANGED, current


def test_force_opt_in_resubscribes_any_unsubscription_but_a_bounce_or_complaint() -> None:
    for current in NOT_FINAL_UNSUBSCRIBED:
        assert transition(current, flags(force=True)) == TO_SUBSCRIBED, current


@pytest.mark.parametrize("current", FINAL, ids=["hard bounce 8", "spam complaint 16"])
@pytest.mark.parametrize("opts", ALL_FLAGS, ids=lambda o: (
    f"confirm={o.confirm_email:d},optout={o.as_opt_out:d},"
    f"pending={o.as_pending:d},force={o.force_opt_in:d}"))
def test_a_hard_bounce_or_spam_complaint_is_never_undone_by_any_flag_combination(
        current: Current, opts: ImportOptions) -> None:
    step = transition(current, opts)

    assert step.status in (None, SubscriptionStatus.UNSUBSCRIBED)
    assert not step.send_confirmation


@pytest.mark.parametrize("opts", [flags(force=True), flags(confirm=True, force=True),
                                  flags(confirm=True, pending=True, force=True)])
def test_reasons_8_and_16_stay_unsubscribed_even_with_force_opt_in(
        opts: ImportOptions) -> None:
    assert [transition(c, opts) for c in FINAL] == [UNCHANGED, UNCHANGED]


def test_every_change_carries_the_event_of_its_new_status() -> None:
    expected_event = {SubscriptionStatus.PENDING: EventType.SUBSCRIPTION_REQUESTED,
                      SubscriptionStatus.SUBSCRIBED: EventType.SUBSCRIPTION_CONFIRMED,
                      SubscriptionStatus.UNSUBSCRIBED: EventType.UNSUBSCRIBED}
    for opts in ALL_FLAGS:
        for current in [None, PENDING, SUBSCRIBED, UNSUBSCRIBED, *FINAL]:
            step = transition(current, opts)
            if step.outcome is Outcome.CHANGED:
                assert step.status is not None
                assert step.event is expected_event[step.status], (current, opts)
                assert current is None or step.status is not current.status
            else:
                assert step.event is None and step.status is None


# -- new recipients --------------------------------------------------------------------------


def test_a_new_recipient_is_subscribed_by_default() -> None:
    assert transition(None, ImportOptions()) == TO_SUBSCRIBED


def test_a_new_recipient_is_pending_with_a_confirmation_email_under_confirm_email() -> None:
    assert transition(None, flags(confirm=True)) == TO_PENDING_WITH_EMAIL
    assert transition(None, flags(confirm=True, pending=True)) == TO_PENDING_WITH_EMAIL


def test_a_new_recipient_is_pending_without_an_email_under_as_pending() -> None:
    assert transition(None, flags(pending=True)) == TO_PENDING_SILENTLY


def test_a_new_recipient_is_unsubscribed_under_as_opt_out_whatever_else_is_set() -> None:
    for opts in ALL_FLAGS:
        if opts.as_opt_out:
            assert transition(None, opts) == TO_UNSUBSCRIBED, opts


def test_a_new_recipient_is_subscribed_under_force_opt_in_alone() -> None:
    assert transition(None, flags(force=True)) == TO_SUBSCRIBED


# -- the table the bulk merge joins ----------------------------------------------------------


@pytest.mark.parametrize("opts", ALL_FLAGS)
def test_the_bulk_transition_table_is_the_rule_applied_to_each_state(
        opts: ImportOptions) -> None:
    table = transition_table(opts)

    assert set(table) == {"new", "pending", "subscribed", "unsubscribed", "final"}
    assert table["new"] == transition(None, opts)
    assert table["pending"] == transition(PENDING, opts)
    assert table["subscribed"] == transition(SUBSCRIBED, opts)
    assert table["unsubscribed"] == transition(UNSUBSCRIBED, opts)
    assert table["final"].status in (None, SubscriptionStatus.UNSUBSCRIBED)
    for current in FINAL:
        assert transition(current, opts) == table["final"]


# -- the options themselves (spec 2.1) -------------------------------------------------------


@pytest.mark.parametrize(("import_type", "channels", "empty_clears"), [
    (1, Channels.EMAIL, False), (2, Channels.SMS, False), (3, Channels.BOTH, False),
    (4, Channels.EMAIL, True), (5, Channels.SMS, True), (6, Channels.BOTH, True)])
def test_import_type_chooses_the_channels_and_whether_empty_fields_clear(
        import_type: int, channels: Channels, empty_clears: bool) -> None:
    opts = ImportOptions(import_type=import_type)

    assert (opts.channels, opts.empty_clears) == (channels, empty_clears)
    assert opts.problems() == []


def test_the_default_options_import_both_channels_keeping_values_on_empty_fields() -> None:
    opts = ImportOptions()

    assert (opts.import_type, opts.mobile_input_type) == (3, 1)
    assert (opts.channels, opts.empty_clears) == (Channels.BOTH, False)
    assert not (opts.as_pending or opts.confirm_email or opts.as_opt_out or opts.force_opt_in
                or opts.replace_groups)


@pytest.mark.parametrize("import_type", [0, 7, -1, 100])
def test_an_import_type_outside_1_to_6_is_a_problem(import_type: int) -> None:
    assert ImportOptions(import_type=import_type).problems() == ["importType must be 1..6"]


@pytest.mark.parametrize("mobile_input_type", [0, 3, -1])
def test_a_mobile_input_type_other_than_1_or_2_is_a_problem(mobile_input_type: int) -> None:
    assert ImportOptions(mobile_input_type=mobile_input_type).problems() == [
        "mobileInputType must be 1 or 2"]


def test_both_bad_options_are_reported_together() -> None:
    assert ImportOptions(import_type=9, mobile_input_type=5).problems() == [
        "importType must be 1..6", "mobileInputType must be 1 or 2"]


@pytest.mark.parametrize("mobile_input_type", [1, 2])
def test_mobile_input_types_1_and_2_are_fine(mobile_input_type: int) -> None:
    assert ImportOptions(mobile_input_type=mobile_input_type).problems() == []


def test_the_lanes_an_import_merges_in_are_read_from_the_environment() -> None:
    base = {"DATABASE_URL": "postgresql://u@h/db"}

    assert load_settings(base).import_lanes == 2
    assert load_settings(base | {"MAILUP_IMPORT_LANES": "1"}).import_lanes == 1
    assert load_settings(base | {"MAILUP_IMPORT_LANES": "16"}).import_lanes == 16
    for bad, said in [("0", "must be positive"), ("17", "must be at most 16"),
                      ("two", "must be an integer")]:
        with pytest.raises(ConfigurationError, match=f"MAILUP_IMPORT_LANES {said}"):
            load_settings(base | {"MAILUP_IMPORT_LANES": bad})
