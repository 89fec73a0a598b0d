"""Import processes: their parameters, the status flags of spec 2.5 as lifecycle transitions,
and the statistics GetProcessDetails reports."""
from __future__ import annotations

import dataclasses
import datetime as dt
import enum

from mailup_soap.domain import lifecycle
from mailup_soap.domain.lifecycle import Current, Outcome, Transition
from mailup_soap.domain.model import (
    ChangeSource,
    EventType,
    SubscriptionStatus,
    UnsubscribeReason,
)


class ProcessStatus(enum.IntEnum):
    """GetProcessDetails StatusCode (spec 2.1)."""

    QUEUED = 1  # created by NewImportProcess, not started
    RUNNING = 2
    COMPLETED = 3
    FAILED = 4


class Channels(enum.IntEnum):
    """importType modulo 3: which contact data a row brings."""

    EMAIL = 1
    SMS = 2
    BOTH = 3


@dataclasses.dataclass(frozen=True)
class ImportOptions:
    import_type: int = 3  # 1..3: empty fields leave values alone; 4..6: empty fields clear them
    mobile_input_type: int = 1  # 1: prefix inside Number; 2: Prefix attribute + Number
    as_pending: bool = False
    confirm_email: bool = False
    as_opt_out: bool = False
    force_opt_in: bool = False
    replace_groups: bool = False
    group_ids: tuple[int, ...] = ()
    confirm_message_id: int = 0  # idConfirmNL: an email of the list; 0 the built-in request

    @property
    def confirmation_message(self) -> int:
        """The email sent as the confirmation request: read only with ConfirmEmail."""
        return self.confirm_message_id if self.confirm_email else 0

    @property
    def channels(self) -> Channels:
        return Channels((self.import_type - 1) % 3 + 1)

    @property
    def empty_clears(self) -> bool:
        return self.import_type >= 4

    def problems(self) -> list[str]:
        found = []
        if not 1 <= self.import_type <= 6:
            found.append("importType must be 1..6")
        if self.mobile_input_type not in (1, 2):
            found.append("mobileInputType must be 1 or 2")
        return found


def _to(status: SubscriptionStatus, event: EventType, email: bool = False) -> Transition:
    return Transition(Outcome.CHANGED, status, event, send_confirmation=email)


_UNCHANGED = Transition(Outcome.ALREADY)


def transition(current: Current | None, opts: ImportOptions) -> Transition:
    """What an import does to one recipient's subscription (spec 2.5 and section 10): an
    existing recipient's status changes only when a flag asks, and a hard bounce or a spam
    complaint (reasons 8, 16) is never undone."""
    if current is None:
        if opts.as_opt_out:
            return _to(SubscriptionStatus.UNSUBSCRIBED, EventType.UNSUBSCRIBED)
        if opts.confirm_email:
            return _to(SubscriptionStatus.PENDING, EventType.SUBSCRIPTION_REQUESTED, True)
        if opts.as_pending:
            return _to(SubscriptionStatus.PENDING, EventType.SUBSCRIPTION_REQUESTED)
        return _to(SubscriptionStatus.SUBSCRIBED, EventType.SUBSCRIPTION_CONFIRMED)
    status = current.status
    final = current.reason in lifecycle.FINAL_REASONS
    if opts.as_opt_out and not (opts.confirm_email or opts.force_opt_in):
        if status is SubscriptionStatus.SUBSCRIBED and not opts.as_pending:
            return _to(SubscriptionStatus.UNSUBSCRIBED, EventType.UNSUBSCRIBED)
        if status is SubscriptionStatus.PENDING and opts.as_pending:
            return _to(SubscriptionStatus.UNSUBSCRIBED, EventType.UNSUBSCRIBED)
        return _UNCHANGED
    if opts.confirm_email:
        if status is SubscriptionStatus.SUBSCRIBED:
            return _to(SubscriptionStatus.PENDING, EventType.SUBSCRIPTION_REQUESTED, True)
        if status is SubscriptionStatus.PENDING:
            return Transition(Outcome.ALREADY, send_confirmation=True)
        if opts.force_opt_in and not final:
            return _to(SubscriptionStatus.PENDING, EventType.SUBSCRIPTION_REQUESTED, True)
        return _UNCHANGED
    if opts.force_opt_in and status is SubscriptionStatus.UNSUBSCRIBED and not final:
        return _to(SubscriptionStatus.SUBSCRIBED, EventType.SUBSCRIPTION_CONFIRMED)
    if opts.as_pending and status is SubscriptionStatus.PENDING:
        return _to(SubscriptionStatus.SUBSCRIBED, EventType.SUBSCRIPTION_CONFIRMED)
    return _UNCHANGED


# The states a bulk merge distinguishes; `transition` is evaluated once per state and the
# result joined in SQL, so the bulk engine and the per-recipient paths share one rule.
STATES: dict[str, Current | None] = {
    "new": None,
    "pending": Current(SubscriptionStatus.PENDING),
    "subscribed": Current(SubscriptionStatus.SUBSCRIBED),
    "unsubscribed": Current(SubscriptionStatus.UNSUBSCRIBED, UnsubscribeReason.ADMIN),
    "final": Current(SubscriptionStatus.UNSUBSCRIBED, UnsubscribeReason.HARD_BOUNCE),
}


def transition_table(opts: ImportOptions) -> dict[str, Transition]:
    return {key: transition(state, opts) for key, state in STATES.items()}


class RowStatus(enum.StrEnum):
    """The optional `status` column of the daily sync's CSV: what the CRM says a row's
    subscription is. Explicit, so it may do what the import flags alone never do."""

    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    PENDING = "pending"
    DELETE = "delete"


REMOVE = Transition(Outcome.CHANGED, None, EventType.REMOVED)


def row_transition(row_status: RowStatus, current: Current | None) -> Transition:
    """One row's status column applied to the recipient's subscription. A hard bounce or a
    spam complaint (reasons 8, 16) is never undone, not even removed: that record is what
    keeps the address from being subscribed again."""
    if current is not None and current.reason in lifecycle.FINAL_REASONS:
        return _UNCHANGED
    status = current.status if current else None
    if row_status is RowStatus.SUBSCRIBE:
        if status is SubscriptionStatus.SUBSCRIBED:
            return _UNCHANGED
        return _to(SubscriptionStatus.SUBSCRIBED, EventType.SUBSCRIPTION_CONFIRMED)
    if row_status is RowStatus.UNSUBSCRIBE:
        if status is SubscriptionStatus.UNSUBSCRIBED:
            return _UNCHANGED
        return _to(SubscriptionStatus.UNSUBSCRIBED, EventType.UNSUBSCRIBED)
    if row_status is RowStatus.PENDING:
        # Double opt-in for someone new; nobody subscribed or unsubscribed is asked again.
        if current is None:
            return _to(SubscriptionStatus.PENDING, EventType.SUBSCRIPTION_REQUESTED, True)
        return _UNCHANGED
    return REMOVE if current is not None else _UNCHANGED


def row_status_tables(opts: ImportOptions) -> dict[str, dict[str, Transition]]:
    """`transition_table` for rows without a status (the process's flags), and one table per
    status value, keyed by the value."""
    tables = {"": transition_table(opts)}
    for row_status in RowStatus:
        tables[row_status.value] = {key: row_transition(row_status, state)
                                    for key, state in STATES.items()}
    return tables


@dataclasses.dataclass(frozen=True)
class ImportProcess:
    id: int
    account_id: int
    list_id: int
    status: ProcessStatus
    options: ImportOptions
    rows_staged: int
    rows_done: int
    counts: ProcessCounts
    confirmations: int
    created_at: dt.datetime
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    error: str | None
    source: ChangeSource
    by_list_job: bool = False  # merged by a job under the list's lock (see _start)
    delivery_id: int | None = None  # held for a SendMessageNL, which starts it when it sends
    # Merged in lanes (db.import_batch.LANE_OF_ROW): how far each got. None until its first
    # run decides how many.
    lanes_done: tuple[int, ...] | None = None
    # Valid rows giving a contact by mobile number alone; None if stored before it was
    # counted (migration 0015).
    rows_by_number: int | None = None


@dataclasses.dataclass(frozen=True)
class ProcessCounts:
    total: int = 0
    new_email: int = 0
    new_mobile: int = 0
    existing_email: int = 0
    existing_mobile: int = 0
    opt_out_email: int = 0
    opt_out_mobile: int = 0
    rejected_email: int = 0
    rejected_mobile: int = 0
    rejected_other: int = 0
