"""Lists, groups, fields and users: the Manage service and the list-side of Send and Import."""
from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterable

from mailup_soap import errors
from mailup_soap.domain import list_options, tokens
from mailup_soap.domain.model import ChangeSource, Field, Group, MailingList, truncate_group_name
from mailup_soap.service_layer.auth import authorize
from mailup_soap.service_layer.deps import Caller, Credentials, Deps
from mailup_soap.service_layer.unit_of_work import AbstractUnitOfWork

LIST_NAME_MAX = 200
Options = Iterable[tuple[str, object]]


@dataclasses.dataclass(frozen=True)
class ListWithGroups:
    mailing_list: MailingList
    groups: list[Group]


@dataclasses.dataclass(frozen=True)
class GroupCreated:
    mailing_list: MailingList
    group: Group
    created: bool  # False when a group with that name already existed


def _list(uow: AbstractUnitOfWork, caller: Caller, list_id: int) -> MailingList:
    found = uow.lists.get(caller.account_id, list_id)
    if found is None:
        raise errors.ListNotFound(list_id)
    return found


def parse_guid(raw: str | None) -> uuid.UUID:
    try:
        return uuid.UUID((raw or "").strip())
    except ValueError:
        raise errors.ListGuidInvalid(raw or "") from None


def checked_list(uow: AbstractUnitOfWork, caller: Caller, list_id: int,
                  guid: str | None) -> MailingList:
    """Import-style lookup: the list must exist and, when a GUID is given, match it."""
    if list_id <= 0:
        raise errors.ListNotSpecified()
    found = _list(uow, caller, list_id)
    if guid is not None and guid.strip() and parse_guid(guid) != found.guid:
        raise errors.ListGuidMismatch(list_id)
    return found


def _clean_name(name: str | None, what: str) -> str:
    value = (name or "").strip()
    if not value:
        raise errors.InvalidArgument(what, "must not be empty")
    if len(value) > LIST_NAME_MAX:
        raise errors.InvalidArgument(what, f"longer than {LIST_NAME_MAX} characters")
    return value


def get_lists(deps: Deps, cred: Credentials) -> list[MailingList]:
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        return uow.lists.all(caller.account_id)


def get_lists_with_groups(deps: Deps, cred: Credentials,
                          user_id: int | None = None) -> list[ListWithGroups]:
    """Every list of the account with its groups; `user_id` must be a user of that account."""
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        if user_id is not None and uow.users.get(caller.account_id, user_id) is None:
            raise errors.UserNotFound(user_id)
        lists = uow.lists.all(caller.account_id)
        groups = uow.groups.for_lists(caller.account_id, [lst.id for lst in lists])
        return [ListWithGroups(lst, [g for g in groups if g.list_id == lst.id]) for lst in lists]


def create_list(deps: Deps, cred: Credentials, name: str | None, *, options: Options = (),
                default_settings: str | None = None, auto_id: str | None = None) -> MailingList:
    """Create a list. `default_settings` is "default" (account defaults) or a list id whose
    options are copied; explicit options win over both."""
    clean = _clean_name(name, "name")
    wanted = list_options.validate_options(options)
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        base = dict(list_options.DEFAULTS)
        source = (default_settings or "default").strip().lower()
        if source not in ("", "default"):
            if not source.isdigit():
                raise errors.InvalidArgument("defaultSettings", "must be 'default' or a list id")
            base = dict(_list(uow, caller, int(source)).options)
        new = MailingList(caller.account_id, uow.accounts.next_list_id(caller.account_id),
                          uuid.uuid4(), clean, base | wanted, (auto_id or "").strip())
        uow.lists.add(new)
        uow.commit()
        return new


def update_list(deps: Deps, cred: Credentials, list_id: int, options: Options) -> MailingList:
    wanted = list_options.validate_options(options)
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        current = _list(uow, caller, list_id)
        merged = current.options | wanted
        uow.lists.set_options(caller.account_id, list_id, merged)
        uow.commit()
        return dataclasses.replace(current, options=merged)


def _delete_list(uow: AbstractUnitOfWork, caller: Caller, deps: Deps, list_id: int) -> None:
    uow.subscriptions.remove_list(caller.account_id, list_id, ChangeSource.API, deps.clock.now())
    uow.lists.delete(caller.account_id, list_id)


def delete_list(deps: Deps, cred: Credentials, list_id: int) -> None:
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        _list(uow, caller, list_id)
        _delete_list(uow, caller, deps, list_id)
        uow.commit()


def delete_lists_by_auto_id(deps: Deps, cred: Credentials, list_id: int,
                            auto_id: str | None) -> list[int]:
    """Send.DeleteList(_st): list_id > 0 deletes that list, otherwise every list of `auto_id`."""
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        if list_id > 0:
            targets = [_list(uow, caller, list_id)]
        else:
            if not (auto_id or "").strip():
                raise errors.InvalidArgument("autoId", "required when listId <= 0")
            targets = uow.lists.by_auto_id(caller.account_id, (auto_id or "").strip())
        for target in targets:
            _delete_list(uow, caller, deps, target.id)
        uow.commit()
        return [t.id for t in targets]


def lists_by_auto_id(deps: Deps, cred: Credentials, auto_id: str | None) -> list[MailingList]:
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        return uow.lists.by_auto_id(caller.account_id, (auto_id or "").strip())


def create_group(deps: Deps, cred: Credentials, list_id: int, name: str | None,
                 notes: str | None = None, *, list_guid: str | None = None) -> GroupCreated:
    """Create a group in a list; a name that exists already returns the existing group."""
    clean = truncate_group_name(name or "")
    if not clean:
        raise errors.GroupNameMissing()
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        target = checked_list(uow, caller, list_id, list_guid)
        existing = uow.groups.by_name(caller.account_id, list_id, clean)
        if existing is not None:
            return GroupCreated(target, existing, created=False)
        group = Group(caller.account_id, uow.accounts.next_group_id(caller.account_id), list_id,
                      clean, (notes or "").strip())
        uow.groups.add(group)
        uow.commit()
        return GroupCreated(target, group, created=True)


_GROUP_OPTION_KEYS = {"name": "name", "groupname": "name", "notes": "notes", "groupnotes": "notes"}


def update_group(deps: Deps, cred: Credentials, group_id: int, options: Options) -> Group:
    """Rename a group or change its notes (option keys `name`/`groupName`, `notes`/`groupNotes`)."""
    changes: dict[str, str] = {}
    for key, value in options:
        attr = _GROUP_OPTION_KEYS.get((key or "").strip().lower())
        if attr is None:
            raise errors.InvalidOption(key, "unknown option (use name or notes)")
        changes[attr] = "" if value is None else str(value).strip()
    if "name" in changes:
        changes["name"] = truncate_group_name(changes["name"])
        if not changes["name"]:
            raise errors.GroupNameMissing()
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        group = uow.groups.get(caller.account_id, group_id)
        if group is None:
            raise errors.GroupNotFound(group_id)
        updated = dataclasses.replace(group, name=changes.get("name", group.name),
                                      notes=changes.get("notes", group.notes))
        clash = uow.groups.by_name(caller.account_id, group.list_id, updated.name)
        if clash is not None and clash.id != group_id:
            raise errors.InvalidArgument("name", f"group {clash.id} already has that name")
        uow.groups.update(updated)
        uow.commit()
        return updated


def delete_group(deps: Deps, cred: Credentials, list_id: int, group_id: int,
                 delete_users: bool) -> int:
    """Delete a group; with `delete_users` its members also leave the list (and the account
    when they are in no other list). Returns the number of subscriptions removed."""
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        group = uow.groups.get(caller.account_id, group_id)
        if group is None or group.list_id != list_id:
            raise errors.GroupNotFound(group_id)
        removed = 0
        if delete_users:
            removed = uow.subscriptions.remove_group_members(
                caller.account_id, list_id, group_id, ChangeSource.API, deps.clock.now())
        uow.groups.delete(caller.account_id, group_id)
        uow.commit()
        return removed


def get_groups(deps: Deps, cred: Credentials, list_id: int) -> ListWithGroups:
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        target = _list(uow, caller, list_id)
        return ListWithGroups(target, uow.groups.for_lists(caller.account_id, [list_id]))


def get_fields(deps: Deps, cred: Credentials) -> list[Field]:
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        return uow.fields.all(caller.account_id)


def caller_user_id(deps: Deps, cred: Credentials) -> int:
    """The id of the user the credentials belong to (GetIdUser / GetIdWsUser)."""
    with deps.uow() as uow:
        return authorize(uow, deps, cred).user_id


def user_id_by_name(deps: Deps, cred: Credentials, username: str | None) -> int:
    """Import.GetIdUser: the id of a user of the caller's account, by user name."""
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        user = uow.users.by_username((username or "").strip().lower())
        if user is None or user.account_id != caller.account_id:
            raise errors.UserNotFound(username)
        return user.id


# GetUserAccess / CheckUserHash: MailUp documents neither. Ours: GetUserAccess hands out a
# signed hash naming the account and the user (a CRM can pass it along, e.g. in a link), and
# CheckUserHash tells whether a hash is one of those, for that user, and still fresh.
USER_HASH_HOURS = 24


def user_access(deps: Deps, cred: Credentials, user_id: int) -> tuple[str, list[ListWithGroups]]:
    """The user's hash and the lists the user works with (all of the account's)."""
    found = get_lists_with_groups(deps, cred, user_id=user_id)
    with deps.uow() as uow:
        account_id = authorize(uow, deps, cred).account_id
    issued = int(deps.clock.now().timestamp())
    return tokens.make(deps.secret_key, "user-access",
                       {"a": account_id, "u": user_id, "t": issued}), found


def check_user_hash(deps: Deps, cred: Credentials, user_id: int, user_hash: str | None) -> bool:
    with deps.uow() as uow:
        account_id = authorize(uow, deps, cred).account_id
    try:
        payload = tokens.read(deps.secret_key, "user-access", user_hash or "")
    except errors.InvalidToken:
        return False
    age = deps.clock.now().timestamp() - float(payload.get("t", 0))
    return (payload.get("a"), payload.get("u")) == (account_id, user_id) and \
        0 <= age <= USER_HASH_HOURS * 3600
