"""Lists and groups: the Manage service's use cases and the list side of Send and Import."""
from __future__ import annotations

import uuid

import pytest

from mailup_soap import errors
from mailup_soap.domain import list_options
from mailup_soap.domain.model import ChangeSource, EventType, SubscriptionStatus
from mailup_soap.service_layer import lists
from mailup_soap.service_layer.deps import AccessKey, Deps
from tests.fakes import FakeStore, fake_deps, make_account, random_name


def _list_id(deps: Deps, cred: AccessKey, *, options: lists.Options = (),
             auto_id: str | None = None) -> int:
    return lists.create_list(deps, cred, random_name("list"), options=options,
                             auto_id=auto_id).id


# -- lists ----------------------------------------------------------------------------------


def test_a_new_list_gets_the_next_id_of_its_account_and_a_guid() -> None:
    deps = fake_deps()
    cred = make_account(deps).login(deps)

    first = lists.create_list(deps, cred, "News")
    second = lists.create_list(deps, cred, "Offers")

    assert (first.id, second.id) == (1, 2)
    assert first.guid != second.guid
    assert [lst.name for lst in lists.get_lists(deps, cred)] == ["News", "Offers"]


def test_list_ids_are_counted_per_account() -> None:
    deps = fake_deps()
    cred_a = make_account(deps).login(deps)
    cred_b = make_account(deps).login(deps)
    lists.create_list(deps, cred_a, "A1")
    lists.create_list(deps, cred_a, "A2")

    created = lists.create_list(deps, cred_b, "B1")

    assert created.id == 1


def test_a_new_list_starts_with_the_account_default_options() -> None:
    deps = fake_deps()
    cred = make_account(deps).login(deps)

    created = lists.create_list(deps, cred, "News", default_settings="Default")

    assert created.options == list_options.DEFAULTS


def test_the_list_name_is_stored_without_surrounding_spaces() -> None:
    deps = fake_deps()
    cred = make_account(deps).login(deps)

    created = lists.create_list(deps, cred, "  News  ")

    assert lists.get_lists(deps, cred)[0].name == created.name == "News"


@pytest.mark.parametrize("name", [None, "", "   ", "x" * 201])
def test_a_list_needs_a_name_of_at_most_200_characters(name: str | None) -> None:
    store = FakeStore()
    deps = fake_deps(store)
    cred = make_account(deps).login(deps)

    with pytest.raises(errors.InvalidArgument):
        lists.create_list(deps, cred, name)

    assert store.state.lists == {}


def test_create_list_with_another_list_id_as_default_settings_copies_its_options() -> None:
    deps = fake_deps()
    cred = make_account(deps).login(deps)
    model = lists.create_list(deps, cred, "Model", options=[
        ("owneremail", "owner@example.test"), ("format", "text"), ("kbmax", "300")])

    copy = lists.create_list(deps, cred, "Copy", default_settings=f" {model.id} ")

    assert copy.options == model.options
    assert lists.get_lists(deps, cred)[1].options["owneremail"] == "owner@example.test"


def test_explicit_options_win_over_the_copied_ones() -> None:
    deps = fake_deps()
    cred = make_account(deps).login(deps)
    model = lists.create_list(deps, cred, "Model", options=[("format", "text"),
                                                             ("kbmax", "300")])

    copy = lists.create_list(deps, cred, "Copy", default_settings=str(model.id),
                             options=[("format", "html")])

    assert copy.options == model.options | {"format": "html"}


def test_default_settings_naming_an_unknown_list_is_list_not_found() -> None:
    deps = fake_deps()
    cred = make_account(deps).login(deps)

    with pytest.raises(errors.ListNotFound):
        lists.create_list(deps, cred, "Copy", default_settings="77")


def test_default_settings_that_is_neither_default_nor_an_id_is_refused() -> None:
    deps = fake_deps()
    cred = make_account(deps).login(deps)

    with pytest.raises(errors.InvalidArgument):
        lists.create_list(deps, cred, "Copy", default_settings="template-1")


def test_default_settings_cannot_copy_a_list_of_another_account() -> None:
    deps = fake_deps()
    cred_a = make_account(deps).login(deps)
    cred_b = make_account(deps).login(deps)
    secret = lists.create_list(deps, cred_a, "A", options=[("owneremail", "a@example.test")])

    with pytest.raises(errors.ListNotFound):
        lists.create_list(deps, cred_b, "B", default_settings=str(secret.id))


def test_lists_are_found_and_deleted_by_auto_id() -> None:
    deps = fake_deps()
    cred = make_account(deps).login(deps)
    crm = random_name("crm")
    first = _list_id(deps, cred, auto_id=crm)
    second = _list_id(deps, cred, auto_id=f" {crm} ")
    other = _list_id(deps, cred)

    found = lists.lists_by_auto_id(deps, cred, crm)
    deleted = lists.delete_lists_by_auto_id(deps, cred, 0, crm)

    assert [lst.id for lst in found] == [first, second]
    assert deleted == [first, second]
    assert [lst.id for lst in lists.get_lists(deps, cred)] == [other]


def test_deleting_by_auto_id_needs_an_auto_id_when_no_list_id_is_given() -> None:
    deps = fake_deps()
    cred = make_account(deps).login(deps)
    _list_id(deps, cred)

    with pytest.raises(errors.InvalidArgument):
        lists.delete_lists_by_auto_id(deps, cred, 0, "  ")

    assert len(lists.get_lists(deps, cred)) == 1


def test_deleting_by_a_positive_list_id_ignores_the_auto_id() -> None:
    deps = fake_deps()
    cred = make_account(deps).login(deps)
    target = _list_id(deps, cred, auto_id="crm-1")
    kept = _list_id(deps, cred, auto_id="crm-1")

    deleted = lists.delete_lists_by_auto_id(deps, cred, target, "crm-1")

    assert deleted == [target]
    assert [lst.id for lst in lists.get_lists(deps, cred)] == [kept]


def test_deleting_a_list_removes_its_groups_and_subscriptions_with_an_event_each() -> None:
    store = FakeStore()
    deps = fake_deps(store)
    acct = make_account(deps)
    cred = acct.login(deps)
    list_id = _list_id(deps, cred)
    lists.create_group(deps, cred, list_id, "VIP")
    rid = store.add_recipient(acct.id, "ada@example.test")
    store.subscribe(acct.id, list_id, rid)

    lists.delete_list(deps, cred, list_id)

    assert lists.get_lists(deps, cred) == []
    assert store.state.groups == {} and store.state.subscriptions == {}
    assert [(e.type, e.source, e.email) for e in store.state.events] == [
        (EventType.REMOVED, ChangeSource.API, "ada@example.test")]


def test_deleting_an_unknown_list_is_list_not_found() -> None:
    deps = fake_deps()
    cred = make_account(deps).login(deps)

    with pytest.raises(errors.ListNotFound):
        lists.delete_list(deps, cred, 3)


def test_a_deleted_list_id_is_never_reused() -> None:
    deps = fake_deps()
    cred = make_account(deps).login(deps)
    first = _list_id(deps, cred)
    lists.delete_list(deps, cred, first)

    assert _list_id(deps, cred) == first + 1


# -- groups ---------------------------------------------------------------------------------


def test_create_group_adds_a_group_to_the_list() -> None:
    deps = fake_deps()
    cred = make_account(deps).login(deps)
    list_id = _list_id(deps, cred)

    done = lists.create_group(deps, cred, list_id, "  VIP ", " best customers ")

    assert done.created and done.mailing_list.id == list_id
    assert (done.group.name, done.group.notes) == ("VIP", "best customers")
    assert lists.get_groups(deps, cred, list_id).groups == [done.group]


def test_create_group_with_an_existing_name_returns_the_existing_group() -> None:
    store = FakeStore()
    deps = fake_deps(store)
    cred = make_account(deps).login(deps)
    list_id = _list_id(deps, cred)
    first = lists.create_group(deps, cred, list_id, "VIP", "first")
    commits = store.commits

    again = lists.create_group(deps, cred, list_id, "VIP", "second")

    assert not again.created
    assert again.group == first.group
    assert store.commits == commits
    assert len(lists.get_groups(deps, cred, list_id).groups) == 1


def test_the_same_group_name_may_exist_in_two_lists() -> None:
    deps = fake_deps()
    cred = make_account(deps).login(deps)
    one, two = _list_id(deps, cred), _list_id(deps, cred)

    first = lists.create_group(deps, cred, one, "VIP")
    second = lists.create_group(deps, cred, two, "VIP")

    assert second.created and second.group.id != first.group.id


def test_group_ids_are_counted_per_account_across_its_lists() -> None:
    deps = fake_deps()
    cred_a = make_account(deps).login(deps)
    cred_b = make_account(deps).login(deps)
    one, two = _list_id(deps, cred_a), _list_id(deps, cred_a)

    ids = [lists.create_group(deps, cred_a, one, "g1").group.id,
           lists.create_group(deps, cred_a, two, "g2").group.id,
           lists.create_group(deps, cred_b, _list_id(deps, cred_b), "g1").group.id]

    assert ids == [1, 2, 1]


def test_group_names_over_50_characters_are_truncated() -> None:
    deps = fake_deps()
    cred = make_account(deps).login(deps)
    list_id = _list_id(deps, cred)

    done = lists.create_group(deps, cred, list_id, "G" * 50 + "-tail")

    assert done.group.name == "G" * 50


def test_a_long_name_whose_first_50_characters_exist_returns_that_group() -> None:
    deps = fake_deps()
    cred = make_account(deps).login(deps)
    list_id = _list_id(deps, cred)
    first = lists.create_group(deps, cred, list_id, "G" * 50)

    again = lists.create_group(deps, cred, list_id, "G" * 50 + "-other-tail")

    assert not again.created and again.group.id == first.group.id


@pytest.mark.parametrize("name", [None, "", "   "])
def test_a_group_needs_a_name(name: str | None) -> None:
    deps = fake_deps()
    cred = make_account(deps).login(deps)
    list_id = _list_id(deps, cred)

    with pytest.raises(errors.GroupNameMissing):
        lists.create_group(deps, cred, list_id, name)


@pytest.mark.parametrize("list_id", [0, -4])
def test_a_group_needs_a_list(list_id: int) -> None:
    deps = fake_deps()
    cred = make_account(deps).login(deps)

    with pytest.raises(errors.ListNotSpecified):
        lists.create_group(deps, cred, list_id, "VIP")


def test_a_group_in_an_unknown_list_is_list_not_found() -> None:
    deps = fake_deps()
    cred = make_account(deps).login(deps)

    with pytest.raises(errors.ListNotFound):
        lists.create_group(deps, cred, 12, "VIP")


def test_create_group_checks_a_given_list_guid() -> None:
    deps = fake_deps()
    acct = make_account(deps)
    created = lists.create_list(deps, acct.login(deps), "News")

    done = lists.create_group(deps, acct.ws_login, created.id, "VIP",
                              list_guid=str(created.guid).upper())

    assert done.created


def test_create_group_with_the_guid_of_another_list_is_a_mismatch() -> None:
    deps = fake_deps()
    acct = make_account(deps)
    list_id = _list_id(deps, acct.login(deps))

    with pytest.raises(errors.ListGuidMismatch):
        lists.create_group(deps, acct.ws_login, list_id, "VIP", list_guid=str(uuid.uuid4()))


def test_create_group_with_a_malformed_guid_is_list_guid_invalid() -> None:
    deps = fake_deps()
    acct = make_account(deps)
    list_id = _list_id(deps, acct.login(deps))

    with pytest.raises(errors.ListGuidInvalid):
        lists.create_group(deps, acct.ws_login, list_id, "VIP", list_guid="not-a-guid")


def test_update_group_renames_and_changes_notes() -> None:
    deps = fake_deps()
    cred = make_account(deps).login(deps)
    list_id = _list_id(deps, cred)
    group = lists.create_group(deps, cred, list_id, "VIP").group

    updated = lists.update_group(deps, cred, group.id, [("GroupName", " Gold "),
                                                        ("notes", "renamed")])

    assert (updated.name, updated.notes) == ("Gold", "renamed")
    assert lists.get_groups(deps, cred, list_id).groups == [updated]


def test_update_group_with_an_unknown_option_changes_nothing() -> None:
    deps = fake_deps()
    cred = make_account(deps).login(deps)
    list_id = _list_id(deps, cred)
    group = lists.create_group(deps, cred, list_id, "VIP").group

    with pytest.raises(errors.InvalidOption):
        lists.update_group(deps, cred, group.id, [("name", "Gold"), ("colour", "red")])

    assert lists.get_groups(deps, cred, list_id).groups == [group]


def test_update_group_refuses_the_name_of_another_group_of_the_list() -> None:
    deps = fake_deps()
    cred = make_account(deps).login(deps)
    list_id = _list_id(deps, cred)
    lists.create_group(deps, cred, list_id, "VIP")
    other = lists.create_group(deps, cred, list_id, "Gold").group

    with pytest.raises(errors.InvalidArgument):
        lists.update_group(deps, cred, other.id, [("name", "VIP")])


def test_delete_group_removes_only_the_group_by_default() -> None:
    store = FakeStore()
    deps = fake_deps(store)
    acct = make_account(deps)
    cred = acct.login(deps)
    list_id = _list_id(deps, cred)
    group = lists.create_group(deps, cred, list_id, "VIP").group
    rid = store.add_recipient(acct.id, "ada@example.test")
    store.subscribe(acct.id, list_id, rid)
    store.add_member(acct.id, group.id, rid)

    removed = lists.delete_group(deps, cred, list_id, group.id, delete_users=False)

    assert removed == 0
    assert lists.get_groups(deps, cred, list_id).groups == []
    assert (acct.id, list_id, rid) in store.state.subscriptions
    assert store.state.group_members == set()


def test_delete_group_with_delete_users_removes_its_members_from_the_list() -> None:
    store = FakeStore()
    deps = fake_deps(store)
    acct = make_account(deps)
    cred = acct.login(deps)
    list_id, other_list = _list_id(deps, cred), _list_id(deps, cred)
    group = lists.create_group(deps, cred, list_id, "VIP").group
    only_here = store.add_recipient(acct.id, "ada@example.test")
    also_elsewhere = store.add_recipient(acct.id, "bob@example.test")
    not_member = store.add_recipient(acct.id, "cy@example.test")
    for rid in (only_here, also_elsewhere, not_member):
        store.subscribe(acct.id, list_id, rid)
    store.subscribe(acct.id, other_list, also_elsewhere, SubscriptionStatus.UNSUBSCRIBED)
    store.add_member(acct.id, group.id, only_here)
    store.add_member(acct.id, group.id, also_elsewhere)

    removed = lists.delete_group(deps, cred, list_id, group.id, delete_users=True)

    assert removed == 2
    assert set(store.state.subscriptions) == {(acct.id, list_id, not_member),
                                              (acct.id, other_list, also_elsewhere)}
    assert set(store.state.recipients) == {also_elsewhere, not_member}
    assert sorted(e.email or "" for e in store.state.events) == ["ada@example.test",
                                                           "bob@example.test"]


def test_delete_group_with_a_group_of_another_list_is_group_not_found() -> None:
    deps = fake_deps()
    cred = make_account(deps).login(deps)
    one, two = _list_id(deps, cred), _list_id(deps, cred)
    group = lists.create_group(deps, cred, one, "VIP").group

    with pytest.raises(errors.GroupNotFound):
        lists.delete_group(deps, cred, two, group.id, delete_users=True)

    assert lists.get_groups(deps, cred, one).groups == [group]


def test_delete_group_with_an_unknown_group_is_group_not_found() -> None:
    deps = fake_deps()
    cred = make_account(deps).login(deps)
    list_id = _list_id(deps, cred)

    with pytest.raises(errors.GroupNotFound):
        lists.delete_group(deps, cred, list_id, 5, delete_users=False)


def test_lists_with_groups_pair_each_list_with_its_own_groups() -> None:
    deps = fake_deps()
    cred = make_account(deps).login(deps)
    one, two = _list_id(deps, cred), _list_id(deps, cred)
    g1 = lists.create_group(deps, cred, one, "a").group
    g2 = lists.create_group(deps, cred, two, "b").group
    g3 = lists.create_group(deps, cred, one, "c").group

    found = lists.get_lists_with_groups(deps, cred)

    assert [(item.mailing_list.id, item.groups) for item in found] == [(one, [g1, g3]),
                                                                        (two, [g2])]


# -- fields and users -----------------------------------------------------------------------


def test_a_new_account_has_the_eleven_default_fields() -> None:
    deps = fake_deps()
    acct = make_account(deps)

    fields = lists.get_fields(deps, acct.ws_login)

    assert [(f.id, f.name) for f in fields[:2]] == [(1, "nome"), (2, "cognome")]
    assert len(fields) == 11


def test_user_ids_are_found_by_name_within_the_account_only() -> None:
    store = FakeStore()
    deps = fake_deps(store)
    acct, other = make_account(deps), make_account(deps)
    console = next(u for u in store.state.users.values() if u.username == acct.console_user)

    assert lists.user_id_by_name(deps, acct.ws_login, acct.console_user.upper()) == console.id
    with pytest.raises(errors.UserNotFound):
        lists.user_id_by_name(deps, acct.ws_login, other.console_user)


def test_the_caller_user_id_is_the_user_who_logged_in() -> None:
    store = FakeStore()
    deps = fake_deps(store)
    acct = make_account(deps)
    ids = {u.username: u.id for u in store.state.users.values()}

    assert lists.caller_user_id(deps, acct.login(deps)) == ids[acct.console_user]
    assert lists.caller_user_id(deps, acct.ws_login) == ids[acct.ws_user]


def test_lists_of_a_user_of_another_account_are_user_not_found() -> None:
    store = FakeStore()
    deps = fake_deps(store)
    acct, other = make_account(deps), make_account(deps)
    stranger = next(u for u in store.state.users.values() if u.username == other.console_user)

    with pytest.raises(errors.UserNotFound):
        lists.get_lists_with_groups(deps, acct.login(deps), user_id=stranger.id)
