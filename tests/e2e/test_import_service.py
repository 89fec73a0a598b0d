"""WSMailUpImport over real HTTP: zeep from MailUp's reference WSDL, raw XML where zeep can't."""
from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests
from lxml import etree

from mailup_soap.domain.model import AccountStatus
from mailup_soap.service_layer.deps import Deps
from tests.conftest import AccountInfo, new_account
from tests.e2e.conftest import (
    IMPORT,
    PATHS,
    ServiceFactory,
    auth_header,
    login,
    new_list,
    parse,
    reference_client,
)

pytestmark = pytest.mark.e2e


def _code(result: str) -> int:
    doc = parse(result)
    assert doc.tag == "mailupMessage", result
    return int(doc.findtext("mailupBody/ReturnCode") or "")


def _nl_lists(imp: Any, account: AccountInfo) -> list[tuple[str, str, str, list[tuple[str, str]]]]:
    doc = parse(imp.GetNlLists(_soapheaders=[auth_header(account)]))
    assert doc.findtext("mailupBody/ReturnCode") == "0"
    return [(lst.get("idList"), lst.get("listGUID"), lst.get("listName"),
             [(g.get("idGroup"), g.get("groupName")) for g in lst.iter("Group")])
            for lst in doc.iter("List")]


def test_get_nl_lists_shows_every_list_with_its_guid_and_groups(
        soap: ServiceFactory, account: AccountInfo) -> None:
    imp = soap("Import")
    first_id, first_guid = new_list(soap, account, "News & offers")
    second_id, second_guid = new_list(soap, account, 'Say "hi"')
    group = _code(imp.CreateGroup(idList=first_id, listGUID=first_guid, newGroupName="VIP",
                                  _soapheaders=[auth_header(account)]))

    lists = _nl_lists(imp, account)

    assert sorted(lists) == sorted([
        (str(first_id), first_guid, "News & offers", [(str(group), "VIP")]),
        (str(second_id), second_guid, 'Say "hi"', []),
    ])


def test_create_group_returns_the_new_id_and_the_same_id_for_an_existing_name(
        soap: ServiceFactory, account: AccountInfo) -> None:
    imp = soap("Import")
    list_id, guid = new_list(soap, account)
    header = [auth_header(account)]

    first = _code(imp.CreateGroup(idList=list_id, listGUID=guid, newGroupName="A",
                                  _soapheaders=header))
    second = _code(imp.CreateGroup(idList=list_id, listGUID=guid, newGroupName="B",
                                   _soapheaders=header))
    again = _code(imp.CreateGroup(idList=list_id, listGUID=guid.upper(), newGroupName="A",
                                  _soapheaders=header))
    no_guid = _code(imp.CreateGroup(idList=list_id, listGUID="", newGroupName="C",
                                    _soapheaders=header))

    assert first > 0 and second > 0 and first != second
    assert again == first
    assert no_guid > 0 and no_guid not in (first, second)
    assert [g for *_, g in _nl_lists(imp, account)] == [
        sorted([(str(first), "A"), (str(second), "B"), (str(no_guid), "C")])]


@pytest.mark.parametrize(("case", "expected"), [
    ("guid_mismatch", -101), ("unknown_list", -101), ("malformed_guid", -102),
    ("empty_name", -302), ("no_list", -301)])
def test_create_group_list_and_name_errors_answer_the_documented_codes(
        soap: ServiceFactory, account: AccountInfo, case: str, expected: int) -> None:
    imp = soap("Import")
    list_id, guid = new_list(soap, account)
    args: dict[str, object] = {"idList": list_id, "listGUID": guid, "newGroupName": "G"}
    changes: dict[str, dict[str, object]] = {"guid_mismatch": {"listGUID": str(uuid.uuid4())},
             "unknown_list": {"idList": list_id + 1000},
             "malformed_guid": {"listGUID": "not-a-guid"},
             "empty_name": {"newGroupName": ""},
             "no_list": {"idList": 0}}
    args |= changes[case]

    code = _code(imp.CreateGroup(**args, _soapheaders=[auth_header(account)]))

    assert code == expected
    assert [g for *_, g in _nl_lists(imp, account)] == [[]]


def test_wrong_password_answers_minus_1002(soap: ServiceFactory, account: AccountInfo) -> None:
    result = soap("Import").GetNlLists(_soapheaders=[auth_header(account, "wrong-password")])

    assert _code(result) == -1002
    assert parse(result).find("mailupBody/Lists") is None


def test_the_console_user_is_not_a_web_service_user_and_answers_minus_1001(
        soap: ServiceFactory, account: AccountInfo) -> None:
    element = reference_client("Import").get_element(  # type: ignore[no-untyped-call]
        IMPORT + "Authentication")

    result = soap("Import").GetNlLists(
        _soapheaders=[element(User=account.console_user, Password=account.password)])
    unknown = soap("Import").GetNlLists(
        _soapheaders=[element(User="a1", Password=account.password)])

    assert _code(result) == -1001
    assert _code(unknown) == -1001


def test_a_missing_authentication_header_is_an_error_code_not_a_fault(
        soap: ServiceFactory) -> None:
    assert _code(soap("Import").GetNlLists()) < 0


@pytest.mark.parametrize(("status", "expected"), [
    (AccountStatus.SUSPENDED, -1003), (AccountStatus.INACTIVE, -1004),
    (AccountStatus.EXPIRED, -1005)])
def test_accounts_that_are_not_active_answer_their_status_code(
        soap: ServiceFactory, deps: Deps, status: AccountStatus, expected: int) -> None:
    blocked = new_account(deps, status=status)

    assert _code(soap("Import").GetNlLists(_soapheaders=[auth_header(blocked)])) == expected
    assert _code(soap("Import").CreateGroup(idList=1, listGUID="", newGroupName="G",
                                            _soapheaders=[auth_header(blocked)])) == expected


def test_get_id_ws_user_and_get_id_user_answer_the_ids_of_the_two_users(
        soap: ServiceFactory, account: AccountInfo) -> None:
    imp = soap("Import")
    header = [auth_header(account)]
    console_key = login(soap, account)
    console_id = parse(soap("Manage").GetIdUser(accessKey=console_key)).findtext("idUser")

    ws = parse(imp.GetIdWsUser(_soapheaders=header))
    console = parse(imp.GetIdUser(userName=account.console_user, _soapheaders=header))
    unknown = parse(imp.GetIdUser(userName="m1", _soapheaders=header))

    assert ws.findtext("mailupBody/ReturnCode") == "0"
    assert console.findtext("mailupBody/ReturnCode") == "0"
    assert console.findtext("mailupBody/IdUser") == console_id
    assert int(ws.findtext("mailupBody/IdWsUser") or 0) > 0
    assert ws.findtext("mailupBody/IdWsUser") != console_id
    assert int(unknown.findtext("mailupBody/ReturnCode") or 0) < 0


def test_get_nl_lists_user_answers_the_lists_for_a_user_of_the_account(
        soap: ServiceFactory, account: AccountInfo) -> None:
    imp = soap("Import")
    header = [auth_header(account)]
    list_id, _ = new_list(soap, account)
    user_id = int(parse(imp.GetIdUser(userName=account.console_user, _soapheaders=header))
                  .findtext("mailupBody/IdUser") or 0)

    found = parse(imp.GetNlListsUser(userId=user_id, _soapheaders=header))
    missing = parse(imp.GetNlListsUser(userId=user_id + 10_000_000, _soapheaders=header))

    assert found.findtext("mailupBody/ReturnCode") == "0"
    assert [lst.get("idList") for lst in found.iter("List")] == [str(list_id)]
    assert int(missing.findtext("mailupBody/ReturnCode") or 0) < 0


def _raw_get_nl_lists(namespace: str, account: AccountInfo, password: str | None = None) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        f'<soap:Header><Authentication xmlns="{namespace}"><User>{account.ws_user}</User>'
        f'<Password>{password or account.password}</Password></Authentication></soap:Header>'
        '<soap:Body><GetNlLists xmlns="http://ws.mailupnet.it/"/></soap:Body></soap:Envelope>')


def _result_text(response: requests.Response) -> str:
    doc = etree.fromstring(response.content)
    return "".join(doc.xpath("//*[local-name()='GetNlListsResult']/text()"))


def test_the_authentication_header_in_the_tempuri_namespace_is_accepted(
        server_url: str, soap: ServiceFactory, account: AccountInfo) -> None:
    list_id, _ = new_list(soap, account)
    url = server_url + PATHS["Import"]
    headers = {"Content-Type": "text/xml; charset=utf-8",
               "SOAPAction": '"http://ws.mailupnet.it/GetNlLists"'}

    ok = requests.post(url, data=_raw_get_nl_lists("http://tempuri.org/", account),
                       headers=headers, timeout=30)
    bad = requests.post(url, data=_raw_get_nl_lists("http://tempuri.org/", account, "wrong-pw"),
                        headers=headers, timeout=30)

    assert ok.status_code == 200
    assert [lst.get("idList") for lst in parse(_result_text(ok)).iter("List")] == [str(list_id)]
    assert _code(_result_text(bad)) == -1002


def test_the_soap12_binding_answers_like_soap11(
        soap: ServiceFactory, account: AccountInfo) -> None:
    list_id, guid = new_list(soap, account)
    imp12 = soap("Import", soap12=True)

    group = _code(imp12.CreateGroup(idList=list_id, listGUID=guid, newGroupName="G12",
                                    _soapheaders=[auth_header(account)]))
    lists = _nl_lists(imp12, account)

    assert group > 0
    assert lists == [(str(list_id), guid, "L", [(str(group), "G12")])]
    assert _code(imp12.GetNlLists(_soapheaders=[auth_header(account, "wrong-pw")])) == -1002

