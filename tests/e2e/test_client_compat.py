"""Quirks of real MailUp clients over real HTTP: the deprecated Login by console host, Joomla's
UpdateGroup with a stray deleteUsers, Magento's Import header on Report calls, and endpoint
paths written in any case. Raw envelopes (requests) where zeep would not send the quirk."""
from __future__ import annotations

import secrets

import pytest
import requests
import sqlalchemy as sa
from lxml import etree

from tests.conftest import AccountInfo
from tests.e2e.conftest import PATHS, ServiceFactory, login, parse
from tests.e2e.send_helpers import new_list, subscribe

pytestmark = pytest.mark.e2e

WS_NS = "http://services.mailupnet.it/WS"
IMPORT_NS = "http://ws.mailupnet.it/"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"


def _envelope(body: str, header: str = "", version: str = SOAP11) -> bytes:
    """An envelope shaped as PHP's SoapClient writes it (ns1 prefix, no default namespace)."""
    head = f"<env:Header>{header}</env:Header>" if header else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<env:Envelope xmlns:env="{version}" '
            f'xmlns:ns1="{WS_NS}" xmlns:imp="{IMPORT_NS}">{head}<env:Body>{body}</env:Body>'
            "</env:Envelope>").encode()


def _post(server_url: str, path: str, operation: str, body: bytes, version: str = SOAP11,
          namespace: str = WS_NS) -> etree._Element:
    """POST one envelope; the document inside `<operation>Result` of a 200 non-fault answer."""
    action = f"{namespace.rstrip('/')}/{operation}"
    headers = ({"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{action}"'}
               if version == SOAP11 else
               {"Content-Type": f'application/soap+xml; charset=utf-8; action="{action}"'})
    response = requests.post(server_url + path, data=body, headers=headers, timeout=30)
    assert response.status_code == 200, (response.status_code, response.text)
    answer = etree.fromstring(response.content)
    assert answer.tag == f"{{{version}}}Envelope", response.text
    assert not answer.xpath("//*[local-name()='Fault']"), response.text
    text = answer.findtext(f".//{{{namespace}}}{operation}Result")
    assert text is not None, response.text
    return parse(text)


def _email(tag: str) -> str:
    return f"{tag}-{secrets.token_hex(4)}@example.test"


# --- 1. Login(user, pwd, url): the deprecated form of LoginFromId (spec 1.3, 3.1) ---------------

@pytest.mark.parametrize("service", ["Send", "Manage", "Report"])
def test_login_with_the_bare_console_host_issues_a_key_valid_on_every_service(
        soap: ServiceFactory, account: AccountInfo, service: str) -> None:
    doc = parse(soap(service).Login(user=account.console_user, pwd=account.password,
                                    url=account.host))

    assert doc.tag == "LoginResult"
    assert (doc.findtext("errorCode"), doc.findtext("errorDescription")) == ("0", "")
    key = doc.findtext("accessKey")
    assert key
    for other in ("Send", "Manage"):
        assert parse(soap(other).GetLists(accessKey=key)).findtext("errorCode") == "0"


@pytest.mark.parametrize("service", ["Send", "Report"])
def test_login_accepts_the_web_service_user_and_the_host_in_another_case(
        soap: ServiceFactory, account: AccountInfo, service: str) -> None:
    doc = parse(soap(service).Login(user=account.ws_user, pwd=account.password,
                                    url=account.host.upper()))

    assert doc.findtext("errorCode") == "0"
    assert parse(soap("Send").GetLists(accessKey=doc.findtext("accessKey"))) \
        .findtext("errorCode") == "0"


@pytest.mark.parametrize(("service", "url"), [
    ("Send", "http://{host}/"), ("Manage", "http://{host}"), ("Report", "https://{host}/")])
def test_login_with_a_full_url_instead_of_the_host_is_refused_without_a_key(
        soap: ServiceFactory, account: AccountInfo, service: str, url: str) -> None:
    doc = parse(soap(service).Login(user=account.console_user, pwd=account.password,
                                    url=url.format(host=account.host)))

    assert doc.tag == "LoginResult"
    assert doc.findtext("errorCode") == "-1001"  # account not valid (spec 1.3)
    assert doc.findtext("errorDescription")
    assert doc.find("accessKey") is None


def test_login_with_a_host_not_the_accounts_or_a_wrong_password_is_refused(
        soap: ServiceFactory, account: AccountInfo) -> None:
    send = soap("Send")

    other_host = parse(send.Login(user=account.console_user, pwd=account.password,
                                  url="x" + account.host))
    wrong_pw = parse(send.Login(user=account.console_user, pwd=account.password + "x",
                                url=account.host))

    assert other_host.findtext("errorCode") == "-1001" and other_host.find("accessKey") is None
    assert wrong_pw.findtext("errorCode") == "-1002" and wrong_pw.find("accessKey") is None


# --- 2. Joomla's UpdateGroup(accessKey, groupID, deleteUsers) (spec 4, 10) ----------------------

def _list_with_group(soap: ServiceFactory, key: str, group_name: str) -> tuple[int, int]:
    list_id = new_list(soap, key)
    created = parse(soap("Manage").CreateGroup(accessKey=key, listID=list_id,
                                               groupName=group_name, groupNotes="notes"))
    return list_id, int(created.findtext("list/groups/group/groupID") or 0)


def _groups(soap: ServiceFactory, key: str, list_id: int) -> list[tuple[str, str, str]]:
    doc = parse(soap("Manage").GetGroups(accessKey=key, listID=list_id))
    assert doc.findtext("errorCode") == "0"
    return [(g.findtext("groupID") or "", g.findtext("groupName") or "",
             g.findtext("groupNotes") or "") for g in doc.iter("group")]


def test_joomlas_update_group_with_a_stray_delete_users_is_accepted_and_changes_nothing(
        server_url: str, soap: ServiceFactory, account: AccountInfo) -> None:
    key = login(soap, account)
    list_id, group_id = _list_with_group(soap, key, "Joomla")
    body = _envelope(f"<ns1:UpdateGroup><ns1:accessKey>{key}</ns1:accessKey>"
                     f"<ns1:groupID>{group_id}</ns1:groupID>"
                     "<ns1:deleteUsers>true</ns1:deleteUsers></ns1:UpdateGroup>")

    doc = _post(server_url, PATHS["Manage"], "UpdateGroup", body)

    assert (doc.findtext("errorCode"), doc.findtext("errorDescription")) == ("0", ""), \
        etree.tostring(doc)
    assert _groups(soap, key, list_id) == [(str(group_id), "Joomla", "notes")]


@pytest.mark.parametrize("version", [SOAP11, SOAP12], ids=["soap11", "soap12"])
def test_update_group_with_options_and_an_extra_delete_users_still_renames_the_group(
        server_url: str, soap: ServiceFactory, account: AccountInfo, version: str) -> None:
    key = login(soap, account)
    list_id, group_id = _list_with_group(soap, key, "Before")
    body = _envelope(f"<ns1:UpdateGroup><ns1:accessKey>{key}</ns1:accessKey>"
                     f"<ns1:groupID>{group_id}</ns1:groupID><ns1:options><ns1:Option>"
                     "<ns1:Key>groupName</ns1:Key><ns1:Value>After</ns1:Value>"
                     "</ns1:Option></ns1:options>"
                     "<ns1:deleteUsers>false</ns1:deleteUsers></ns1:UpdateGroup>",
                     version=version)

    doc = _post(server_url, PATHS["Manage"], "UpdateGroup", body, version)

    assert doc.findtext("errorCode") == "0", etree.tostring(doc)
    assert doc.findtext("group/groupName") == "After"
    assert _groups(soap, key, list_id) == [(str(group_id), "After", "notes")]


# --- 3. Magento's Import Authentication header on MailupReport calls (spec 5) -------------------

def _import_header(account: AccountInfo) -> str:
    return (f"<imp:Authentication><imp:User>{account.ws_user}</imp:User>"
            f"<imp:Password>{account.password}</imp:Password></imp:Authentication>")


@pytest.mark.parametrize("version", [SOAP11, SOAP12], ids=["soap11", "soap12"])
def test_magentos_report_by_user_with_the_import_header_reads_each_subscription(
        server_url: str, soap: ServiceFactory, account: AccountInfo, engine: sa.Engine,
        version: str) -> None:
    key = login(soap, account, "Report")
    list_id = new_list(soap, key)
    subscribed, pending = _email("sub"), _email("wait")
    subscribe(engine, account.console_id, list_id, subscribed, "subscribed")
    subscribe(engine, account.console_id, list_id, pending, "pending")

    def report_by_user(email: str) -> etree._Element:
        body = _envelope(f"<ns1:ReportByUser><ns1:accessKey>{key}</ns1:accessKey>"
                         f"<ns1:email>{email}</ns1:email><ns1:listID>{list_id}</ns1:listID>"
                         "<ns1:messageID>0</ns1:messageID></ns1:ReportByUser>",
                         _import_header(account), version)
        return _post(server_url, PATHS["Report"], "ReportByUser", body, version)

    docs = [report_by_user(email) for email in (subscribed, pending)]

    assert [d.findtext("errorCode") for d in docs] == ["0", "0"]
    # Magento lower-cases Canali/Email and compares with "iscritto" and "in attesa".
    assert [(d.findtext("Canali/Email") or "").lower() for d in docs] == [
        "iscritto", "in attesa"]


def test_a_report_call_with_the_import_header_still_needs_a_valid_access_key(
        server_url: str, account: AccountInfo) -> None:
    body = _envelope("<ns1:ReportByUserEN><ns1:accessKey>not-a-key</ns1:accessKey>"
                     "<ns1:email>a@example.test</ns1:email><ns1:listID>1</ns1:listID>"
                     "<ns1:messageID>0</ns1:messageID></ns1:ReportByUserEN>",
                     _import_header(account))

    doc = _post(server_url, PATHS["Report"], "ReportByUserEN", body)

    assert doc.findtext("errorCode") == "-1100"
    assert doc.find("Channels") is None


def test_logout_on_report_with_the_import_header_revokes_the_key(
        server_url: str, soap: ServiceFactory, account: AccountInfo) -> None:
    key = login(soap, account, "Report")
    body = _envelope(f"<ns1:Logout><ns1:accessKey>{key}</ns1:accessKey></ns1:Logout>",
                     _import_header(account))

    doc = _post(server_url, PATHS["Report"], "Logout", body)

    assert doc.findtext("errorCode") == "0"
    assert parse(soap("Send").GetLists(accessKey=key)).findtext("errorCode") == "-1100"


# --- 4. Endpoint paths in any case, as IIS serves them (spec 1.1, 10) ---------------------------

@pytest.mark.parametrize("path", ["/mailupsend.asmx", "/MAILUPSEND.ASMX"])
@pytest.mark.parametrize("version", [SOAP11, SOAP12], ids=["soap11", "soap12"])
def test_send_answers_at_its_path_in_any_case(
        server_url: str, soap: ServiceFactory, account: AccountInfo, path: str,
        version: str) -> None:
    key = login(soap, account, "Send")
    list_id = new_list(soap, key, "Any case")
    body = _envelope(f"<ns1:GetLists><ns1:accessKey>{key}</ns1:accessKey></ns1:GetLists>",
                     version=version)

    doc = _post(server_url, path, "GetLists", body, version)

    assert doc.findtext("errorCode") == "0", etree.tostring(doc)
    assert [(lst.findtext("listID"), lst.findtext("listName"))
            for lst in doc.iter("list")] == [(str(list_id), "Any case")]


@pytest.mark.parametrize(("service", "path"), [
    ("Manage", "/mailupmanage.asmx"), ("Manage", "/MAILUPMANAGE.ASMX"),
    ("Report", "/mailupreport.asmx"), ("Report", "/MAILUPREPORT.ASMX")])
def test_manage_and_report_answer_login_at_their_path_in_any_case(
        server_url: str, soap: ServiceFactory, account: AccountInfo, service: str,
        path: str) -> None:
    body = _envelope(f"<ns1:LoginFromId><ns1:user>{account.console_user}</ns1:user>"
                     f"<ns1:pwd>{account.password}</ns1:pwd>"
                     f"<ns1:consoleId>{account.console_id}</ns1:consoleId></ns1:LoginFromId>")

    doc = _post(server_url, path, "LoginFromId", body)

    assert doc.findtext("errorCode") == "0", etree.tostring(doc)
    key = doc.findtext("accessKey")
    assert key and parse(soap("Send").GetLists(accessKey=key)).findtext("errorCode") == "0"


@pytest.mark.parametrize("path", ["/services/wsmailupimport.asmx",
                                  "/SERVICES/WSMAILUPIMPORT.ASMX"])
def test_import_answers_at_its_path_in_any_case(
        server_url: str, soap: ServiceFactory, account: AccountInfo, path: str) -> None:
    key = login(soap, account)
    list_id = new_list(soap, key, "Imported")
    body = _envelope("<imp:GetNlLists/>", _import_header(account))

    doc = _post(server_url, path, "GetNlLists", body, namespace=IMPORT_NS)

    assert doc.tag == "mailupMessage"
    assert doc.findtext("mailupBody/ReturnCode") == "0", etree.tostring(doc)
    assert [(lst.get("idList"), lst.get("listName")) for lst in doc.iter("List")] == [
        (str(list_id), "Imported")]
