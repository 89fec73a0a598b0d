"""Hostile and malformed HTTP against the Manage endpoint: every one a SOAP fault, nothing
created, nothing leaked; and the WSDL never trusts the Host header."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from lxml import etree

from tests.conftest import AccountInfo
from tests.e2e.conftest import ServiceFactory, login, parse

pytestmark = pytest.mark.e2e

PATH = "/MailupManage.asmx"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
WSDL_NS = {"soap": "http://schemas.xmlsoap.org/wsdl/soap/",
           "soap12": "http://schemas.xmlsoap.org/wsdl/soap12/"}
LIMIT = 256 * 1024
HEADERS = {"Content-Type": "text/xml; charset=utf-8",
           "SOAPAction": '"http://services.mailupnet.it/WS/CreateList"'}


def _envelope(body: str, prolog: str = "") -> str:
    return (f'<?xml version="1.0" encoding="utf-8"?>{prolog}'
            f'<soap:Envelope xmlns:soap="{SOAP11}"><soap:Body>{body}</soap:Body></soap:Envelope>')


def _create_list(key: str, name: str = "Hostile", copy_template: str = "false") -> str:
    return (f'<CreateList xmlns="http://services.mailupnet.it/WS"><accessKey>{key}</accessKey>'
            f'<name>{name}</name><defaultSettings>default</defaultSettings>'
            f'<copyTemplate>{copy_template}</copyTemplate></CreateList>')


def _nested(depth: int) -> str:
    return "<n>" * depth + "x" + "</n>" * depth


def _bodies(key: str) -> dict[str, str]:
    laughs = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10))
    return {
        "internal_entity": _envelope(_create_list(key, "&ent;"),
                                     '<!DOCTYPE soap:Envelope [<!ENTITY ent "Entity list">]>'),
        "xxe_file": _envelope(_create_list(key, "&xxe;"),
                              '<!DOCTYPE soap:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'),
        "billion_laughs": _envelope(_create_list(key, "&lol9;"),
                                    f"<!DOCTYPE soap:Envelope [{laughs}]>"),
        "deep_nesting": _envelope(_create_list(key, _nested(300))),
        "deep_nesting_in_body": _envelope(_nested(300) + _create_list(key)),
        "empty_body": _envelope(""),
        "no_body": f'<soap:Envelope xmlns:soap="{SOAP11}"/>',
        "wrong_int_type": _envelope(
            f'<UpdateList xmlns="http://services.mailupnet.it/WS"><accessKey>{key}</accessKey>'
            '<listID>one</listID></UpdateList>'),
        "int_overflow": _envelope(
            f'<DeleteList xmlns="http://services.mailupnet.it/WS"><accessKey>{key}</accessKey>'
            '<listID>99999999999999999999</listID></DeleteList>'),
        "unknown_operation": _envelope(
            f'<DropAllTables xmlns="http://services.mailupnet.it/WS"><accessKey>{key}'
            '</accessKey></DropAllTables>'),
        "not_an_envelope": f'<CreateList xmlns="http://services.mailupnet.it/WS">{key}</CreateList>',
        "malformed_xml": _envelope(_create_list(key)).replace("</soap:Body>", ""),
        "soap12_envelope_as_soap11": _envelope(_create_list(key)).replace(
            SOAP11, "http://www.w3.org/2003/05/soap-envelope"),
        "not_xml": "name=Hostile&accessKey=" + key,
    }


def _lists(soap: ServiceFactory, key: str) -> list[tuple[str | None, str | None]]:
    doc = parse(soap("Manage").GetLists(accessKey=key))
    assert doc.findtext("errorCode") == "0"
    return [(lst.findtext("listID"), lst.findtext("listName")) for lst in doc.iter("list")]


def _assert_fault(response: requests.Response) -> etree._Element:
    assert response.status_code == 500, response.text
    assert "xml" in response.headers["Content-Type"]
    assert "root:" not in response.text
    doc = etree.fromstring(response.content)
    faults = doc.xpath("//*[local-name()='Fault']")
    assert len(faults) == 1, response.text
    assert doc.tag.endswith("}Envelope")
    return faults[0]


@pytest.mark.parametrize("case", sorted(_bodies("")))
def test_a_hostile_request_gets_a_soap_fault_and_creates_nothing(
        server_url: str, soap: ServiceFactory, account: AccountInfo, case: str) -> None:
    key = login(soap, account)
    before = _lists(soap, key)

    response = requests.post(server_url + PATH, data=_bodies(key)[case].encode("utf-8"),
                             headers=HEADERS, timeout=60)

    fault = _assert_fault(response)
    assert "Traceback" not in response.text
    assert "Entity list" not in response.text
    assert fault.findtext("faultcode") != "soap11env:Server" or case == "not_xml", response.text
    assert _lists(soap, key) == before == []


def test_a_well_formed_request_passes_the_same_checks(
        server_url: str, soap: ServiceFactory, account: AccountInfo) -> None:
    key = login(soap, account)

    response = requests.post(server_url + PATH, data=_envelope(_create_list(key)).encode(),
                             headers=HEADERS, timeout=30)

    assert response.status_code == 200
    assert [name for _, name in _lists(soap, key)] == ["Hostile"]


def test_a_wrong_boolean_gets_a_soap_fault_and_creates_nothing(
        server_url: str, soap: ServiceFactory, account: AccountInfo) -> None:
    key = login(soap, account)

    response = requests.post(server_url + PATH,
                             data=_envelope(_create_list(key, copy_template="maybe")).encode(),
                             headers=HEADERS, timeout=30)

    _assert_fault(response)
    assert _lists(soap, key) == []


def _big_body(key: str) -> bytes:
    padding = "x" * (LIMIT + 1024)
    return _envelope(_create_list(key, padding)).encode()


def test_a_body_over_the_limit_with_content_length_is_refused(
        server_url: str, soap: ServiceFactory, account: AccountInfo) -> None:
    key = login(soap, account)

    response = requests.post(server_url + PATH, data=_big_body(key), headers=HEADERS, timeout=60)

    fault = _assert_fault(response)
    assert "RequestTooLong" in (fault.findtext("faultcode") or "")
    assert _lists(soap, key) == []


def test_a_chunked_body_over_the_limit_is_refused(
        server_url: str, soap: ServiceFactory, account: AccountInfo) -> None:
    key = login(soap, account)
    body = _big_body(key)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 16 * 1024):
            yield body[start:start + 16 * 1024]

    response = requests.post(server_url + PATH, data=chunks(), headers=HEADERS, timeout=60)

    fault = _assert_fault(response)
    assert "RequestTooLong" in (fault.findtext("faultcode") or "")
    assert _lists(soap, key) == []


@pytest.mark.parametrize("target", [
    "/MailupManage.asmx?WSDL", "/MailupManage.asmx?wsdl", "/MailupManage.asmx?Wsdl",
    "/mailupmanage.ASMX?WSDL", "/MAILUPMANAGE.asmx?wsdl", "/MailupManage.asmx/?WSDL"])
def test_the_wsdl_is_served_whatever_the_case_and_its_address_ignores_the_host_header(
        server_url: str, target: str) -> None:
    response = requests.get(server_url + target, headers={"Host": "attacker.example"},
                            timeout=30)

    assert response.status_code == 200
    doc = etree.fromstring(response.content)
    addresses = doc.xpath("//soap:address/@location | //soap12:address/@location",
                          namespaces=WSDL_NS)
    assert addresses and set(addresses) == {server_url + PATH}
    assert "attacker.example" not in response.text


def test_the_first_wsdl_request_with_a_forged_host_does_not_poison_later_ones(
        server_url: str) -> None:
    for host in ("attacker.example", "evil.test:8080"):
        requests.get(server_url + "/MailupSend.asmx?WSDL", headers={"Host": host}, timeout=30)

    response = requests.get(server_url + "/MailupSend.asmx?WSDL", timeout=30)

    doc = etree.fromstring(response.content)
    assert set(doc.xpath("//soap:address/@location", namespaces=WSDL_NS)) \
        == {server_url + "/MailupSend.asmx"}


def test_a_get_without_wsdl_is_a_fault_not_a_page(server_url: str) -> None:
    response = requests.get(server_url + PATH, timeout=30)

    assert response.status_code == 405
    assert etree.fromstring(response.content).xpath("//*[local-name()='Fault']")
