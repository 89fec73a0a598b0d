"""Every request real MailUp clients send (tests/reference/requests) replayed byte for byte,
with real credentials and ids, against the served app."""
from __future__ import annotations

import dataclasses
import pathlib
import re

import pytest
import requests
from lxml import etree

from tests.conftest import AccountInfo
from tests.e2e.conftest import ServiceFactory, login, parse

pytestmark = pytest.mark.e2e

REQUESTS = pathlib.Path(__file__).resolve().parents[1] / "reference" / "requests"
FILES = sorted(REQUESTS.glob("*/*.http"))
ENVELOPE = {"1.1": "http://schemas.xmlsoap.org/soap/envelope/",
            "1.2": "http://www.w3.org/2003/05/soap-envelope"}
REFERENCE_GUID = "11111111-2222-3333-4444-555555555555"


@dataclasses.dataclass(frozen=True)
class HttpRequest:
    path: str
    headers: dict[str, str]
    body: bytes


def read_http(path: pathlib.Path) -> HttpRequest:
    raw = path.read_bytes()
    head, _, body = raw.partition(b"\n\n")
    request_line, *header_lines = head.decode("utf-8").splitlines()
    method, target = request_line.split()[:2]
    assert method == "POST"
    headers = dict(line.split(": ", 1) for line in header_lines if line.strip())
    return HttpRequest(target, headers, body)


def _operation(path: pathlib.Path) -> str:
    return path.stem.rsplit("-", 1)[1]


def _version(request: HttpRequest) -> str:
    return "1.2" if request.headers["Content-Type"].startswith("application/soap+xml") else "1.1"


def _substitute(body: str, account: AccountInfo, key: str, list_id: int, guid: str) -> str:
    body = body.replace("a1234", account.ws_user).replace(">secret<", f">{account.password}<")
    body = re.sub(r"(consoleId>)1234<", rf"\g<1>{account.console_id}<", body)
    body = body.replace(">KEY<", f">{key}<")
    body = re.sub(r"((?:listID|idList)>)1<", rf"\g<1>{list_id}<", body)
    return body.replace(REFERENCE_GUID, guid)


def test_every_reference_request_file_was_found() -> None:
    assert len(FILES) == 17


@pytest.mark.parametrize("path", FILES, ids=[f"{f.parent.name}/{f.name}" for f in FILES])
def test_reference_request_is_answered_in_its_own_soap_version(
        server_url: str, soap: ServiceFactory, account: AccountInfo,
        path: pathlib.Path) -> None:
    request = read_http(path)
    version = _version(request)
    operation = _operation(path)
    key = login(soap, account)
    created = parse(soap("Manage").CreateList(accessKey=key, name="Ref", defaultSettings="default",
                                              copyTemplate=False))
    list_id = int(created.findtext("list/listID") or 0)
    guid = created.findtext("list/listGUID") or ""
    body = _substitute(request.body.decode("utf-8"), account, key, list_id, guid)
    # (the placeholder user, not a prefix of the account's own: console ids are random)
    assert not re.search(r"a1234(?!\d)", body)
    assert ">secret<" not in body and ">KEY<" not in body

    response = requests.post(server_url + request.path, data=body.encode("utf-8"),
                             headers=request.headers, timeout=30)

    doc = etree.fromstring(response.content)
    assert doc.tag == f"{{{ENVELOPE[version]}}}Envelope", response.text
    expected_ctype = "application/soap+xml" if version == "1.2" else "text/xml"
    assert response.headers["Content-Type"].startswith(expected_ctype)
    assert response.status_code == 200, response.text
    assert not doc.xpath("//*[local-name()='Fault']")
    [result] = doc.xpath(f"//*[local-name()='{operation}Result']")
    payload = parse(result.text or "")
    if operation == "NewImportProcess":  # ReturnCode is the new idProcess
        assert int(payload.findtext("mailupBody/ReturnCode") or 0) > 0, result.text
    elif operation == "SendNewsletter":
        # Understood down to its newsletterID (5), which this fresh account does not have.
        assert (payload.findtext("errorCode"), payload.findtext("errorDescription")) == (
            "-1106", "message 5 not found"), result.text
    elif operation == "ReportByUserEN":  # a@example.com is in no list of this account
        assert (payload.findtext("errorCode"), payload.findtext("Channels/Email")) == (
            "0", "Not Registered"), result.text
    elif payload.tag == "mailupMessage":
        assert payload.findtext("mailupBody/ReturnCode") == "0", result.text
        assert [lst.get("idList") for lst in payload.iter("List")] == [str(list_id)]
    else:
        assert payload.findtext("errorCode") == "0", result.text
    if operation == "CreateList":
        options = {o.findtext("key"): o.findtext("value") for o in payload.iter("option")}
        assert payload.findtext("list/listName") == "News & offers"
        assert options["description"] == "Weekly" and options["tracking"] == "1"
    if operation == "LoginFromId":
        new_key = payload.findtext("accessKey")
        assert new_key and parse(soap("Send").GetLists(accessKey=new_key)) \
            .findtext("errorCode") == "0"
