"""Lifecycle jobs on the real PostgreSQL: pruning stale pending subscriptions, and the account
the frontend serves on an unknown host."""
from __future__ import annotations

import dataclasses
import datetime as dt
import secrets

import pytest
import sqlalchemy as sa

from mailup_soap import errors
from mailup_soap.db import tables as t
from mailup_soap.domain.lifecycle import Outcome
from mailup_soap.domain.model import SubscriptionStatus
from mailup_soap.service_layer import auth, lists, subscriptions
from mailup_soap.service_layer.deps import AccessKey, Deps
from tests.conftest import AccountInfo

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.current = dt.datetime.now(dt.UTC)

    def now(self) -> dt.datetime:
        return self.current


def _list_with_registered_ip(deps: Deps, account: AccountInfo) -> int:
    key = AccessKey(auth.login(deps, account.console_user, account.password,
                               console_id=account.console_id))
    subscriptions.register_caller(deps, account.ws_user, account.password, "FrontEnd",
                                  "192.0.2.1")
    return lists.create_list(deps, key, "L").id


def test_pending_subscriptions_older_than_the_limit_are_removed_with_an_event(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    clock = Clock()
    timed = dataclasses.replace(deps, clock=clock, pending_days=7)
    list_id = _list_with_registered_ip(timed, account)
    old, fresh = (subscriptions.Contact(f"{n}.{secrets.token_hex(4)}@example.test", None)
                  for n in ("old", "fresh"))
    subscriptions.subscribe(timed, account.console_id, "192.0.2.1", [list_id], old)
    clock.current += dt.timedelta(days=6)
    subscriptions.subscribe(timed, account.console_id, "192.0.2.1", [list_id], fresh)
    clock.current += dt.timedelta(days=1, minutes=1)

    removed = subscriptions.prune_pending(timed)

    assert removed >= 1
    assert subscriptions.status(timed, account.console_id, "192.0.2.1", list_id, None,
                                old) is None
    assert subscriptions.status(timed, account.console_id, "192.0.2.1", list_id, None,
                                fresh) is not None
    with engine.connect() as conn:
        events = conn.execute(sa.select(t.events.c.type, t.events.c.email).where(
            t.events.c.account_id == account.console_id).order_by(t.events.c.id)).all()
    assert [e.type for e in events] == ["subscription_requested", "subscription_requested",
                                        "removed"]
    assert events[-1].email == old.email


def test_a_confirmation_link_for_an_older_request_confirms_nothing(
        deps: Deps, account: AccountInfo) -> None:
    clock = Clock()
    timed = dataclasses.replace(deps, clock=clock)
    list_id = _list_with_registered_ip(timed, account)
    contact = subscriptions.Contact(f"x.{secrets.token_hex(4)}@example.test", None)
    subscriptions.subscribe(timed, account.console_id, "192.0.2.1", [list_id], contact)
    with timed.uow() as uow:
        recipient = uow.recipients.find(account.console_id, contact.email, None)
        assert recipient is not None
        first = uow.lifecycle.state(account.console_id, list_id, recipient.id)
    assert first is not None and first.requested_at is not None
    old_token = subscriptions.confirmation_token(timed, account.console_id, list_id,
                                                 recipient.id, first.requested_at)
    with timed.uow() as uow:  # a second request re-stamps the pending subscription
        clock.current += dt.timedelta(hours=1)
        uow.lifecycle.put(account.console_id, list_id, recipient.id,
                          first.status, clock.current)
        uow.commit()

    with pytest.raises(errors.InvalidToken, match="older request"):
        subscriptions.confirm(timed, old_token)
    tampered = old_token[:-2] + ("A" if old_token[-2] != "A" else "B") + old_token[-1]
    with pytest.raises(errors.InvalidToken):
        subscriptions.confirm(timed, tampered)
    assert subscriptions.status(timed, account.console_id, "192.0.2.1", list_id, None,
                                contact).value == "pending"  # type: ignore[union-attr]


def test_a_link_for_several_lists_confirms_each_list_its_request_still_stands(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    """ConfirmListID's one link: a list whose request was made again since keeps it
    pending (as a one-list link would); the others are confirmed."""
    clock = Clock()
    timed = dataclasses.replace(deps, clock=clock)
    first_id = _list_with_registered_ip(timed, account)
    key = AccessKey(auth.login(timed, account.console_user, account.password,
                               console_id=account.console_id))
    second_id = lists.create_list(timed, key, "M").id
    contact = subscriptions.Contact(f"z.{secrets.token_hex(4)}@example.test", None)
    subscriptions.subscribe(timed, account.console_id, "192.0.2.1", [first_id, second_id],
                            contact, confirm_list_id=second_id)
    with timed.uow() as uow:
        recipient = uow.recipients.find(account.console_id, contact.email, None)
        assert recipient is not None
        states = [uow.lifecycle.state(account.console_id, i, recipient.id)
                  for i in (first_id, second_id)]
    with engine.connect() as conn:
        jobs = conn.execute(sa.text(
            "SELECT args FROM procrastinate_jobs WHERE task_name = :task "
            "AND (args->>'recipient_id')::bigint = :r"),
            {"task": subscriptions.CONFIRM_TASK, "r": recipient.id}).scalars().all()
    assert [(j["list_id"], j["lists"]) for j in jobs] == [(second_id, [first_id, second_id])]
    requests = [(i, s.requested_at) for i, s in zip((first_id, second_id), states,
                                                    strict=True) if s and s.requested_at]
    token = subscriptions.lists_confirmation_token(timed, account.console_id, recipient.id,
                                                   requests)
    with timed.uow() as uow:  # the second list's request is made again
        clock.current += dt.timedelta(hours=1)
        uow.lifecycle.put(account.console_id, second_id, recipient.id,
                          SubscriptionStatus.PENDING, clock.current)
        uow.commit()

    assert subscriptions.confirm(timed, token) is Outcome.CHANGED
    assert [subscriptions.status(timed, account.console_id, "192.0.2.1", i, None, contact)
            for i in (first_id, second_id)] == [SubscriptionStatus.SUBSCRIBED,
                                                SubscriptionStatus.PENDING]
    assert subscriptions.confirm(timed, token) is Outcome.ALREADY  # the first one's
    only_second = subscriptions.lists_confirmation_token(
        timed, account.console_id, recipient.id, [requests[1], requests[1]])
    with pytest.raises(errors.InvalidToken, match="older request"):
        subscriptions.confirm(timed, only_second)


def test_subscribe_from_an_unregistered_address_changes_nothing(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    list_id = _list_with_registered_ip(deps, account)
    contact = subscriptions.Contact(f"y.{secrets.token_hex(4)}@example.test", None)

    with pytest.raises(errors.IpNotRegistered):
        subscriptions.subscribe(deps, account.console_id, "198.51.100.7", [list_id], contact)

    with engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(t.recipients).where(
            t.recipients.c.account_id == account.console_id)).scalar_one()
    assert count == 0
    assert Outcome.CHANGED is subscriptions.subscribe(
        deps, account.console_id, "192.0.2.1", [list_id], contact)
