"""One account never sees or changes another account's lists and groups: the same ids in
another account answer ListNotFound / GroupNotFound and leave the owner's data as it was."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from mailup_soap import errors
from mailup_soap.service_layer import lists
from mailup_soap.service_layer.deps import AccessKey, Deps
from tests.fakes import FakeStore, fake_deps, make_account, random_name


@dataclasses.dataclass
class TwoAccounts:
    """Account A owns a list and a group; account B is logged in next to it."""

    deps: Deps
    store: FakeStore
    cred_a: AccessKey
    cred_b: AccessKey
    list_id: int
    group_id: int


Action = Callable[[TwoAccounts], object]


@pytest.fixture
def two() -> TwoAccounts:
    store = FakeStore()
    deps = fake_deps(store)
    cred_a = make_account(deps).login(deps)
    cred_b = make_account(deps).login(deps)
    list_id = lists.create_list(deps, cred_a, random_name("list"),
                               options=[("owneremail", "a@example.test")]).id
    group_id = lists.create_group(deps, cred_a, list_id, "VIP").group.id
    return TwoAccounts(deps, store, cred_a, cred_b, list_id, group_id)


def test_an_account_sees_none_of_another_accounts_lists(two: TwoAccounts) -> None:
    assert lists.get_lists(two.deps, two.cred_b) == []
    assert lists.get_lists_with_groups(two.deps, two.cred_b) == []


def test_an_account_cannot_read_another_accounts_groups(two: TwoAccounts) -> None:
    with pytest.raises(errors.ListNotFound):
        lists.get_groups(two.deps, two.cred_b, two.list_id)


LIST_ACTIONS: dict[str, Action] = {
    "update_list": lambda w: lists.update_list(w.deps, w.cred_b, w.list_id,
                                               [("owneremail", "b@example.test")]),
    "delete_list": lambda w: lists.delete_list(w.deps, w.cred_b, w.list_id),
    "delete_list_st": lambda w: lists.delete_lists_by_auto_id(w.deps, w.cred_b, w.list_id, ""),
    "create_group": lambda w: lists.create_group(w.deps, w.cred_b, w.list_id, "Mine"),
    "copy_settings": lambda w: lists.create_list(w.deps, w.cred_b, "Copy",
                                                 default_settings=str(w.list_id)),
}


@pytest.mark.parametrize("action", LIST_ACTIONS.values(), ids=LIST_ACTIONS.keys())
def test_an_account_cannot_touch_another_accounts_list(two: TwoAccounts, action: Action) -> None:
    before = repr(two.store.state)

    with pytest.raises(errors.ListNotFound):
        action(two)

    assert repr(two.store.state) == before


GROUP_ACTIONS: dict[str, Action] = {
    "update_group": lambda w: lists.update_group(w.deps, w.cred_b, w.group_id,
                                                 [("name", "Stolen")]),
    "delete_group": lambda w: lists.delete_group(w.deps, w.cred_b, w.list_id, w.group_id, True),
}


@pytest.mark.parametrize("action", GROUP_ACTIONS.values(), ids=GROUP_ACTIONS.keys())
def test_an_account_cannot_touch_another_accounts_group(two: TwoAccounts, action: Action) -> None:
    before = repr(two.store.state)

    with pytest.raises(errors.GroupNotFound):
        action(two)

    assert repr(two.store.state) == before


def test_the_same_list_and_group_ids_in_two_accounts_are_different_things(
        two: TwoAccounts) -> None:
    mine = lists.create_list(two.deps, two.cred_b, "Mine")
    group = lists.create_group(two.deps, two.cred_b, mine.id, "VIP")

    assert (mine.id, group.group.id) == (two.list_id, two.group_id)
    assert group.created
    assert [g.name for g in lists.get_groups(two.deps, two.cred_a, two.list_id).groups] == ["VIP"]
