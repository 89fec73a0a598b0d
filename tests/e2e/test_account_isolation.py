"""One account can never see or change another's lists, groups or users through any service."""
from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from mailup_soap.service_layer.deps import Deps
from tests.conftest import AccountInfo, new_account
from tests.e2e.conftest import ServiceFactory, auth_header, login, parse

pytestmark = pytest.mark.e2e


@dataclasses.dataclass(frozen=True)
class Owned:
    account: AccountInfo
    key: str
    list_id: int
    guid: str
    group_id: int
    user_id: int
    auto_id: str


def _setup(soap: ServiceFactory, account: AccountInfo, auto_id: str, count: int) -> Owned:
    """`count` lists (the last one returned) and `count` groups in it (the last returned)."""
    key = login(soap, account)
    for i in range(count):
        created = parse(soap("Send").CreateList_st(accessKey=key, name=f"List {i} of {auto_id}",
                                                   autoId=auto_id))
    lst = created.find("Lists/List")
    assert lst is not None
    list_id = int(lst.get("Id") or 0)
    for i in range(count):
        group = parse(soap("Manage").CreateGroup(accessKey=key, listID=list_id,
                                                 groupName=f"Mine {i}", groupNotes="notes"))
    user = parse(soap("Manage").GetIdUser(accessKey=key))
    return Owned(account, key, list_id, lst.get("Guid") or "",
                 max(int(g.findtext("groupID") or 0) for g in group.iter("group")),
                 int(user.findtext("idUser") or 0), auto_id)


def _snapshot(soap: ServiceFactory, owned: Owned) -> Any:
    doc = parse(soap("Import").GetNlLists(_soapheaders=[auth_header(owned.account)]))
    lists = parse(soap("Manage").GetLists(accessKey=owned.key))
    groups = parse(soap("Manage").GetGroups(accessKey=owned.key, listID=owned.list_id))
    return ([(lst.get("idList"), lst.get("listGUID"), lst.get("listName"),
              [(g.get("idGroup"), g.get("groupName")) for g in lst.iter("Group")])
             for lst in doc.iter("List")],
            [(lst.findtext("listID"), lst.findtext("listName")) for lst in lists.iter("list")],
            [(g.findtext("groupID"), g.findtext("groupName"), g.findtext("groupNotes"))
             for g in groups.iter("group")])


@pytest.fixture
def two(soap: ServiceFactory, deps: Deps) -> tuple[Owned, Owned]:
    """A and B. List and group ids are numbered per account (like MailUp's), so A gets more
    lists and groups than B: A's ids then name nothing of B's, and every success would be a
    leak into A."""
    a = _setup(soap, new_account(deps), "tenant-a", count=3)
    b = _setup(soap, new_account(deps), "tenant-b", count=1)
    assert a.list_id > b.list_id and a.group_id > b.group_id
    return a, b


def _options(**pairs: object) -> dict[str, object]:
    return {"Option": [{"Key": k, "Value": str(v)} for k, v in pairs.items()]}


def _manage_attempts(soap: ServiceFactory, a: Owned, b: Owned) -> dict[str, str]:
    m = soap("Manage")
    return {
        "GetGroups": m.GetGroups(accessKey=b.key, listID=a.list_id),
        "CreateGroup": m.CreateGroup(accessKey=b.key, listID=a.list_id, groupName="Evil",
                                     groupNotes=""),
        "UpdateGroup": m.UpdateGroup(accessKey=b.key, groupID=a.group_id,
                                     options=_options(name="Renamed", notes="pwned")),
        "DeleteGroup(own list id)": m.DeleteGroup(accessKey=b.key, listID=b.list_id,
                                                  groupID=a.group_id, deleteUsers=True),
        "DeleteGroup": m.DeleteGroup(accessKey=b.key, listID=a.list_id, groupID=a.group_id,
                                     deleteUsers=True),
        "UpdateList": m.UpdateList(accessKey=b.key, listID=a.list_id,
                                   options=_options(description="pwned")),
        "DeleteList": m.DeleteList(accessKey=b.key, listID=a.list_id),
        "GetListsUser": m.GetListsUser(accessKey=b.key, idUser=a.user_id),
    }


def _send_attempts(soap: ServiceFactory, a: Owned, b: Owned) -> dict[str, str]:
    s = soap("Send")
    return {
        "GetGroups": s.GetGroups(accessKey=b.key, listID=a.list_id),
        "GetListsUser": s.GetListsUser(accessKey=b.key, idUser=a.user_id),
        "DeleteList": s.DeleteList(accessKey=b.key, listId=a.list_id, autoId=""),
        "DeleteList_st": s.DeleteList_st(accessKey=b.key, listId=a.list_id, autoId=""),
    }


@pytest.mark.parametrize("service", ["Manage", "Send"])
def test_an_access_key_of_another_account_gets_an_error_for_every_id_of_this_one(
        soap: ServiceFactory, two: tuple[Owned, Owned], service: str) -> None:
    a, b = two
    before = _snapshot(soap, a)

    attempts = (_manage_attempts if service == "Manage" else _send_attempts)(soap, a, b)

    codes = {op: parse(result).findtext("errorCode") for op, result in attempts.items()}
    assert all(code not in (None, "0") for code in codes.values()), codes
    assert _snapshot(soap, a) == before


def test_send_delete_list_by_auto_id_and_get_list_identity_never_reach_another_account(
        soap: ServiceFactory, two: tuple[Owned, Owned]) -> None:
    a, b = two
    send = soap("Send")
    before = _snapshot(soap, a)

    identity = parse(send.GetListIdentity_st(accessKey=b.key, autoId=a.auto_id))
    deleted = parse(send.DeleteList_st(accessKey=b.key, listId=0, autoId=a.auto_id))

    assert identity.findall("Lists/List") == []
    assert deleted.findall("Lists/List") == []
    assert _snapshot(soap, a) == before


def test_the_import_user_of_another_account_gets_an_error_for_this_accounts_ids(
        soap: ServiceFactory, two: tuple[Owned, Owned]) -> None:
    a, b = two
    imp = soap("Import")
    before = _snapshot(soap, a)

    results = {
        "CreateGroup": imp.CreateGroup(idList=a.list_id, listGUID=a.guid, newGroupName="Evil",
                                       _soapheaders=[auth_header(b.account)]),
        "CreateGroup(no guid)": imp.CreateGroup(idList=a.list_id, listGUID="",
                                                newGroupName="Evil",
                                                _soapheaders=[auth_header(b.account)]),
        "GetNlListsUser": imp.GetNlListsUser(userId=a.user_id,
                                             _soapheaders=[auth_header(b.account)]),
        "GetIdUser": imp.GetIdUser(userName=a.account.console_user,
                                   _soapheaders=[auth_header(b.account)]),
    }

    codes = {op: int(parse(r).findtext("mailupBody/ReturnCode") or 0) for op, r in results.items()}
    assert all(code < 0 for code in codes.values()), codes
    assert _snapshot(soap, a) == before


def test_get_lists_of_one_account_never_shows_another_accounts_lists(
        soap: ServiceFactory, two: tuple[Owned, Owned]) -> None:
    _, b = two

    views = [parse(soap("Manage").GetLists(accessKey=b.key)),
             parse(soap("Send").GetLists(accessKey=b.key))]
    nl = parse(soap("Import").GetNlLists(_soapheaders=[auth_header(b.account)]))

    for view in views:
        assert [lst.findtext("listGUID") for lst in view.iter("list")] == [b.guid]
    assert [lst.get("listGUID") for lst in nl.iter("List")] == [b.guid]


def test_another_accounts_password_does_not_log_in_to_this_account(
        soap: ServiceFactory, two: tuple[Owned, Owned]) -> None:
    a, b = two

    cross = parse(soap("Manage").LoginFromId(user=a.account.console_user, pwd=b.account.password,
                                             consoleId=a.account.console_id))
    wrong_console = parse(soap("Manage").LoginFromId(user=a.account.console_user,
                                                     pwd=a.account.password,
                                                     consoleId=b.account.console_id))

    assert cross.findtext("errorCode") not in (None, "0") and not cross.findtext("accessKey")
    assert wrong_console.findtext("errorCode") not in (None, "0")
    assert not wrong_console.findtext("accessKey")
