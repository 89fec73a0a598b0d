"""The fake unit of work behaves like a transaction: the unit tests rely on it."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest

from mailup_soap.domain.model import Account, AccountStatus, MailingList
from tests.fakes import FakeClock, FakeHasher, FakeIntegrityError, FakeStore, FakeUnitOfWork


def _account(account_id: int) -> Account:
    return Account(account_id, "Acme", AccountStatus.ACTIVE, f"h{account_id}.example.test")


def test_committed_changes_are_seen_by_the_next_unit_of_work() -> None:
    store = FakeStore()

    with FakeUnitOfWork(store) as uow:
        uow.accounts.add(_account(1))
        uow.commit()

    with FakeUnitOfWork(store) as uow:
        assert uow.accounts.get(1) == _account(1)


def test_leaving_the_block_without_commit_discards_the_changes() -> None:
    store = FakeStore()

    with FakeUnitOfWork(store) as uow:
        uow.accounts.add(_account(1))

    with FakeUnitOfWork(store) as uow:
        assert uow.accounts.get(1) is None
    assert store.commits == 0


def test_an_exception_in_the_block_discards_the_changes() -> None:
    store = FakeStore()

    with pytest.raises(RuntimeError), FakeUnitOfWork(store) as uow:
        uow.accounts.add(_account(1))
        raise RuntimeError("boom")

    assert store.state.accounts == {}


def test_uncommitted_changes_are_invisible_to_a_concurrent_unit_of_work() -> None:
    store = FakeStore()

    with FakeUnitOfWork(store) as writer, FakeUnitOfWork(store) as reader:
        writer.accounts.add(_account(1))
        assert reader.accounts.get(1) is None


def test_id_counters_are_per_account_and_roll_back_with_the_transaction() -> None:
    store = FakeStore()
    with FakeUnitOfWork(store) as uow:
        uow.accounts.add(_account(1))
        uow.accounts.add(_account(2))
        uow.commit()

    with FakeUnitOfWork(store) as uow:
        assert [uow.accounts.next_list_id(1), uow.accounts.next_list_id(1)] == [1, 2]
    with FakeUnitOfWork(store) as uow:
        assert uow.accounts.next_list_id(1) == 1
        assert uow.accounts.next_list_id(2) == 1
        assert uow.accounts.next_group_id(1) == 1


def test_a_list_in_an_unknown_account_violates_the_foreign_key() -> None:
    store = FakeStore()

    with FakeUnitOfWork(store) as uow, pytest.raises(FakeIntegrityError):
        uow.lists.add(MailingList(99, 1, uuid.uuid4(), "News", {}))


def test_the_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock(dt.datetime(2024, 1, 1, tzinfo=dt.UTC))

    clock.advance(minutes=5)

    assert clock.now() == dt.datetime(2024, 1, 1, 0, 5, tzinfo=dt.UTC)
    assert clock.now().tzinfo is dt.UTC


def test_the_fake_hasher_verifies_only_the_right_password() -> None:
    hasher = FakeHasher()

    stored = hasher.hash("s3cret-pw")

    assert hasher.verify(stored, "s3cret-pw")
    assert not hasher.verify(stored, "s3cret-pW")
    assert not hasher.verify("s3cret-pw", "s3cret-pw")
