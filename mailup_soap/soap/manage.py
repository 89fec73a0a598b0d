"""MailupManage: lists and groups (all 13 operations)."""
from __future__ import annotations

from typing import Any

from lxml.builder import E

from mailup_soap.service_layer import lists
from mailup_soap.service_layer.deps import Credentials, Deps
from mailup_soap.soap import payloads
from mailup_soap.soap.operations import Op
from mailup_soap.soap.results import Result
from mailup_soap.soap.session_ops import SESSION_OPS
from mailup_soap.soap.types import ArrayOfOption, Bool, Int, String, option_pairs

KEY = ("accessKey", String)


def get_lists(deps: Deps, cred: Credentials) -> Result:
    return Result([payloads.lists_element(lists.get_lists(deps, cred))])


def get_lists_user(deps: Deps, cred: Credentials, idUser: int) -> Result:
    found = lists.get_lists_with_groups(deps, cred, user_id=idUser)
    return Result([payloads.lists_element(item.mailing_list for item in found)])


def get_id_user(deps: Deps, cred: Credentials) -> Result:
    return Result([E.idUser(str(lists.caller_user_id(deps, cred)))])


def get_groups(deps: Deps, cred: Credentials, listID: int) -> Result:
    return Result([payloads.list_with_groups_element(lists.get_groups(deps, cred, listID))])


def _create_group(deps: Deps, cred: Credentials, listID: int, groupName: str | None,
                  groupNotes: str | None) -> Result:
    done = lists.create_group(deps, cred, listID, groupName, groupNotes)
    item = lists.ListWithGroups(done.mailing_list, [done.group])
    return Result([payloads.list_with_groups_element(item)])


def _update_group(deps: Deps, cred: Credentials, groupID: int, options: Any) -> Result:
    return Result([payloads.group_element(lists.update_group(deps, cred, groupID,
                                                             option_pairs(options)))])


def _delete_group(deps: Deps, cred: Credentials, listID: int, groupID: int,
                  deleteUsers: bool) -> Result:
    lists.delete_group(deps, cred, listID, groupID, bool(deleteUsers))
    return Result()


def _create_list(deps: Deps, cred: Credentials, name: str | None, defaultSettings: str | None,
                 copyTemplate: bool, options: Any) -> Result:
    # copyTemplate: there are no message templates before the Send issue; accepted and ignored.
    created = lists.create_list(deps, cred, name, options=option_pairs(options),
                                default_settings=defaultSettings)
    return Result([payloads.list_element(created)])


def _update_list(deps: Deps, cred: Credentials, listID: int, options: Any) -> Result:
    return Result([payloads.list_element(lists.update_list(deps, cred, listID,
                                                           option_pairs(options)))])


def _delete_list(deps: Deps, cred: Credentials, listID: int) -> Result:
    lists.delete_list(deps, cred, listID)
    return Result()


OPERATIONS = [
    *SESSION_OPS,
    Op("GetLists", [KEY], get_lists),
    Op("GetIdUser", [KEY], get_id_user),
    Op("GetListsUser", [KEY, ("idUser", Int)], get_lists_user),
    Op("GetGroups", [KEY, ("listID", Int)], get_groups),
    Op("CreateGroup", [KEY, ("listID", Int), ("groupName", String), ("groupNotes", String)],
       _create_group, root="CreateGroupsResult"),
    Op("UpdateGroup", [KEY, ("groupID", Int), ("options", ArrayOfOption)], _update_group),
    Op("DeleteGroup", [KEY, ("listID", Int), ("groupID", Int), ("deleteUsers", Bool)],
       _delete_group),
    Op("CreateList", [KEY, ("name", String), ("defaultSettings", String), ("copyTemplate", Bool),
                      ("options", ArrayOfOption)], _create_list),
    Op("UpdateList", [KEY, ("listID", Int), ("options", ArrayOfOption)], _update_list),
    Op("DeleteList", [KEY, ("listID", Int)], _delete_list),
]
