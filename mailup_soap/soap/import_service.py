"""WSMailUpImport: all nine operations (lists, groups, users and import processes)."""
from __future__ import annotations

from lxml import etree
from lxml.builder import E

from mailup_soap.domain.imports import ImportOptions, ImportProcess, ProcessStatus
from mailup_soap.service_layer import imports, lists
from mailup_soap.service_layer.deps import Credentials, Deps
from mailup_soap.soap import faults, payloads
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


def _options(importType: int, mobileInputType: int, asPending: bool, ConfirmEmail: bool,
             asOptOut: bool, forceOptIn: bool, replaceGroups: bool,
             idConfirmNL: int = 0) -> ImportOptions:
    return ImportOptions(importType, mobileInputType, bool(asPending), bool(ConfirmEmail),
                         bool(asOptOut), bool(forceOptIn), bool(replaceGroups),
                         confirm_message_id=idConfirmNL)


def _new_import_process(deps: Deps, cred: Credentials, idList: int, listGUID: str | None,
                        xmlDoc: str | None, idGroups: str | None, **flags: int) -> Result:
    process_id = imports.new_process(deps, cred, idList, listGUID, xmlDoc, idGroups,
                                     _options(**flags))  # type: ignore[arg-type]
    return Result(code=process_id)  # ReturnCode carries idProcess (spec 2)


def _start_process(deps: Deps, cred: Credentials, idList: int, listGUID: str | None,
                   idProcess: int) -> Result:
    imports.start_process(deps, cred, idList, listGUID, idProcess)
    return Result()


def _dotnet(flag: bool) -> str:
    return "True" if flag else "False"


def process_element(process: ImportProcess) -> etree._Element:
    """GetProcessDetails (spec 2.3), plus the rejected-row counts as extra elements."""
    c = process.counts
    confirm = process.options.confirm_email
    return E.ImportProcess(
        E.StartDate(payloads.italian_date(process.started_at)),
        E.EndDate(payloads.italian_date(process.ended_at)),
        E.TotalContacts(str(c.total)), E.NewMobile(str(c.new_mobile)),
        E.NewEmail(str(c.new_email)), E.OptOutMobile(str(c.opt_out_mobile)),
        E.OptOutEmail(str(c.opt_out_email)), E.ExistingMobile(str(c.existing_mobile)),
        E.ExistingEmail(str(c.existing_email)), E.StatusCode(str(int(process.status))),
        E.IsRunning(_dotnet(process.status is ProcessStatus.RUNNING)),
        E.ConfirmationEmail(_dotnet(confirm)),
        E.ConfirmationSent(str(process.confirmations) if confirm else ""),
        E.RejectedEmail(str(c.rejected_email)), E.RejectedMobile(str(c.rejected_mobile)),
        E.RejectedOther(str(c.rejected_other)), idProcess=str(process.id))


def _get_process_details(deps: Deps, cred: Credentials, idList: int, listGUID: str | None,
                         idProcess: int) -> Result:
    process = imports.process_details(deps, cred, idList, listGUID, idProcess)
    return Result([process_element(process)])


def _start_import_processes(deps: Deps, cred: Credentials, listsIDs: str | None,
                            listsGUIDs: str | None, xmlDoc: str | None, groupsIDs: str | None,
                            **flags: int) -> Result:
    done = imports.start_processes(deps, cred, listsIDs, listsGUIDs, xmlDoc, groupsIDs,
                                   _options(**flags))  # type: ignore[arg-type]
    codes = [0 if r.error is None else faults.import_code(r.error, -400) for r in done]
    items = [E.process(E.processID(str(r.process_id)), E.listID(str(r.list_id)),
                       E.ReturnCode(str(code))) for r, code in zip(done, codes, strict=True)]
    # The global code is 0 only when every list succeeded (Magento reads it first).
    return Result([E.processes(*items)], code=next((c for c in codes if c), 0))


OPERATIONS = [
    Op("GetIdWsUser", [], _get_id_ws_user),
    Op("GetIdUser", [("userName", String)], _get_id_user),
    Op("GetNlLists", [], _get_nl_lists),
    Op("GetNlListsUser", [("userId", Int)], _get_nl_lists_user),
    Op("CreateGroup", [*LIST, ("newGroupName", String)], _create_group, error_base=-300),
    Op("NewImportProcess", [*LIST, ("xmlDoc", String), ("idGroups", String), *FLAGS,
                            ("idConfirmNL", Int)], _new_import_process, error_base=-400),
    Op("StartImportProcesses", [("listsIDs", String), ("listsGUIDs", String), ("xmlDoc", String),
                                ("groupsIDs", String), *FLAGS], _start_import_processes,
       error_base=-400),
    Op("GetProcessDetails", [*LIST, ("idProcess", Int)], _get_process_details,
       error_base=-500),
    Op("StartProcess", [*LIST, ("idProcess", Int)], _start_process, error_base=-600),
]
