"""WSMailUpImport: lists, groups and users now; import processes in the Import issue."""
from __future__ import annotations

from lxml.builder import E

from mailup_soap.service_layer import lists
from mailup_soap.service_layer.deps import Credentials, Deps
from mailup_soap.soap import payloads
from mailup_soap.soap.operations import Op
from mailup_soap.soap.results import Result
from mailup_soap.soap.types import Bool, Int, String

LIST = [("idList", Int), ("listGUID", String)]
FLAGS = [("importType", Int), ("mobileInputType", Int), ("asPending", Bool),
         ("ConfirmEmail", Bool), ("asOptOut", Bool), ("forceOptIn", Bool), ("replaceGroups", Bool)]


def _get_nl_lists(deps: Deps, cred: Credentials) -> Result:
    return Result([payloads.nl_lists_element(lists.get_lists_with_groups(deps, cred))])


def _get_nl_lists_user(deps: Deps, cred: Credentials, userId: int) -> Result:
    found = lists.get_lists_with_groups(deps, cred, user_id=userId)
    return Result([payloads.nl_lists_element(found)])


def _get_id_user(deps: Deps, cred: Credentials, userName: str | None) -> Result:
    return Result([E.IdUser(str(lists.user_id_by_name(deps, cred, userName)))])


def _get_id_ws_user(deps: Deps, cred: Credentials) -> Result:
    return Result([E.IdWsUser(str(lists.caller_user_id(deps, cred)))])


def _create_group(deps: Deps, cred: Credentials, idList: int, listGUID: str | None,
                  newGroupName: str | None) -> Result:
    done = lists.create_group(deps, cred, idList, newGroupName, list_guid=listGUID)
    return Result(code=done.group.id)  # ReturnCode carries the group id (spec 2)


OPERATIONS = [
    Op("GetIdWsUser", [], _get_id_ws_user),
    Op("GetIdUser", [("userName", String)], _get_id_user),
    Op("GetNlLists", [], _get_nl_lists),
    Op("GetNlListsUser", [("userId", Int)], _get_nl_lists_user),
    Op("CreateGroup", [*LIST, ("newGroupName", String)], _create_group, error_base=-300),
    # Implemented by the Import issue; until then they answer Server.NotImplemented.
    Op("NewImportProcess", [*LIST, ("xmlDoc", String), ("idGroups", String), *FLAGS,
                            ("idConfirmNL", Int)], error_base=-400),
    Op("StartImportProcesses", [("listsIDs", String), ("listsGUIDs", String), ("xmlDoc", String),
                                ("groupsIDs", String), *FLAGS], error_base=-400),
    Op("GetProcessDetails", [*LIST, ("idProcess", Int)], error_base=-500),
    Op("StartProcess", [*LIST, ("idProcess", Int)], error_base=-600),
]
