"""The Import service's HttpGet and HttpPost bindings (`/Services/WSMailupImport.asmx/<Op>`)."""
from __future__ import annotations

import pytest
import requests
import zeep
from lxml import etree
from zeep.transports import Transport

from tests.conftest import AccountInfo
from tests.e2e.conftest import ServiceFactory, login, parse

pytestmark = pytest.mark.e2e
NS = "{http://ws.mailupnet.it/}"


def _activate(server_url: str, account: AccountInfo) -> None:
    answer = requests.get(server_url + "/frontend/WSActivation.aspx", timeout=10, params={
        "usr": account.ws_user, "pwd": account.password, "nl_url": account.host,
        "ws_name": "WSMailUpImport"})
    assert "<ReturnCode>0</ReturnCode>" in answer.text


def _result(answer: requests.Response) -> etree._Element:
    assert answer.status_code == 200, answer.text
    wrapper = etree.fromstring(answer.content)
    assert wrapper.tag == NS + "string"
    return parse(wrapper.text or "")


def test_get_and_post_answer_registered_callers_like_the_soap_binding(
        server_url: str, soap: ServiceFactory, account: AccountInfo) -> None:
    doc = parse(soap("Manage").CreateList(accessKey=login(soap, account), name="Http",
                                          defaultSettings="default", copyTemplate=False))
    list_id, guid = doc.findtext("list/listID"), doc.findtext("list/listGUID")
    base = server_url + "/Services/WSMailupImport.asmx"
    headers = {"Host": account.host}

    refused = _result(requests.get(base + "/GetNlLists", headers=headers, timeout=10))
    _activate(server_url, account)
    lists = _result(requests.get(base + "/getnllists", headers=headers, timeout=10))
    group = _result(requests.post(base + "/CreateGroup", headers=headers, timeout=10, data={
        "idList": list_id, "listGUID": guid, "newGroupName": "From HTTP"}))
    bad = requests.get(base + "/GetProcessDetails", headers=headers, timeout=10,
                       params={"idList": "one", "listGUID": guid, "idProcess": "1"})
    control = requests.get(base + "/CreateGroup", headers=headers, timeout=10, params={
        "idList": list_id, "listGUID": guid, "newGroupName": "Bad\x00name"})
    after = _result(requests.get(base + "/GetNlLists", headers=headers, timeout=10))

    assert refused.findtext("mailupBody/ReturnCode") == "-1011"
    assert [lst.get("listName") for lst in lists.iter("List")] == ["Http"]
    assert int(group.findtext("mailupBody/ReturnCode") or 0) > 0
    assert bad.status_code == 500 and "idList" in bad.text
    assert control.status_code == 500 and "newGroupName: a control character" in control.text
    assert [g.get("groupName") for g in after.iter("Group")] == ["From HTTP"]


def test_our_import_wsdl_declares_the_http_bindings_and_zeep_can_use_them(
        server_url: str, account: AccountInfo) -> None:
    client = zeep.Client(server_url + "/Services/WSMailupImport.asmx?WSDL",
                         transport=Transport(cache=False))
    bindings = {b.name.localname for b in client.wsdl.bindings.values()}
    _activate(server_url, account)
    get = client.bind("WSMailUpImport", "WSMailUpImportHttpGet")

    assert bindings >= {"WSMailUpImportSoap", "WSMailUpImportSoap12", "WSMailUpImportHttpGet",
                        "WSMailUpImportHttpPost"}
    assert "<ReturnCode>" in get.GetIdWsUser()
