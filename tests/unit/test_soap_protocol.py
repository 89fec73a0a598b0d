"""Raw bytes through a SoapEndpoint, in-process: hostile or broken input always gets a SOAP
fault of the version asked, never an exception; real clients' quirks are accepted."""
from __future__ import annotations

import dataclasses
import io
import pathlib
import wsgiref.util
from typing import Any

import pytest
from lxml import etree

from mailup_soap.service_layer import lists
from mailup_soap.service_layer.deps import Deps
from mailup_soap.soap.types import IMPORT_NS, SERVICES_NS, TEMPURI_NS
from mailup_soap.soap.wsgi import SERVICES, SoapEndpoint
from tests.fakes import FakeStore, SeededAccount, fake_deps, make_account

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
TEXT_XML = "text/xml; charset=utf-8"
SOAP_XML = "application/soap+xml; charset=utf-8"
MAX_BODY = 8192
IMPORT, MANAGE = SERVICES[0], SERVICES[2]


@dataclasses.dataclass
class Answer:
    status: str
    headers: list[tuple[str, str]]
    body: bytes

    @property
    def xml(self) -> etree._Element:
        return etree.fromstring(self.body)

    def fault(self, envelope_ns: str) -> str:
        """The fault code (1.1 faultcode, 1.2 Subcode or Code value) of a fault answer."""
        assert self.status.startswith("500"), (self.status, self.body)
        root = self.xml
        assert root.tag == f"{{{envelope_ns}}}Envelope", self.body
        fault = root.find(f"{{{envelope_ns}}}Body/{{{envelope_ns}}}Fault")
        assert fault is not None, self.body
        if envelope_ns == SOAP11:
            return fault.findtext("faultcode") or ""
        values = [v.text or "" for v in fault.iter(f"{{{SOAP12}}}Value")]
        return values[-1]

    def result(self, operation: str, namespace: str) -> etree._Element:
        """The document inside `<Op>Result`, parsed."""
        assert self.status.startswith("200"), (self.status, self.body)
        text = self.xml.findtext(f".//{{{namespace}}}{operation}Result")
        assert text is not None, self.body
        return etree.fromstring(text.encode("utf-8"))


def post(endpoint: SoapEndpoint, body: bytes, content_type: str = TEXT_XML,
         with_length: bool = True) -> Answer:
    environ: dict[str, Any] = {}
    wsgiref.util.setup_testing_defaults(environ)
    environ.update({"REQUEST_METHOD": "POST", "CONTENT_TYPE": content_type,
                    "wsgi.input": io.BytesIO(body)})
    if with_length:
        environ["CONTENT_LENGTH"] = str(len(body))
    started: list[tuple[str, list[tuple[str, str]]]] = []
    chunks = endpoint(environ, lambda status, headers, exc_info=None:
                      started.append((status, headers)))
    data = b"".join(chunks)
    return Answer(started[0][0], started[0][1], data)


def envelope(body: str, header: str = "", version: str = SOAP11) -> bytes:
    return (f'<soap:Envelope xmlns:soap="{version}" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
            f'{f"<soap:Header>{header}</soap:Header>" if header else ""}'
            f"<soap:Body>{body}</soap:Body></soap:Envelope>").encode()


def login_body(acct: SeededAccount) -> str:
    return (f'<LoginFromId xmlns="{SERVICES_NS}"><user>{acct.console_user}</user>'
            f"<pwd>{acct.console_password}</pwd><consoleId>{acct.id}</consoleId></LoginFromId>")


@dataclasses.dataclass
class World:
    deps: Deps
    store: FakeStore
    acct: SeededAccount
    manage: SoapEndpoint
    imports: SoapEndpoint


@pytest.fixture
def world() -> World:
    store = FakeStore()
    deps = fake_deps(store)
    return World(deps, store, make_account(deps),
                 SoapEndpoint(MANAGE, deps, "http://127.0.0.1:8080", MAX_BODY),
                 SoapEndpoint(IMPORT, deps, "http://127.0.0.1:8080", MAX_BODY))


# -- the happy paths the hostile ones are measured against ----------------------------------


def test_a_soap11_login_answers_200_with_an_access_key(world: World) -> None:
    answer = post(world.manage, envelope(login_body(world.acct)))

    result = answer.result("LoginFromId", SERVICES_NS)
    assert dict(answer.headers)["Content-Type"].startswith("text/xml")
    assert (result.tag, result.findtext("errorCode")) == ("LoginResult", "0")
    assert result.findtext("accessKey")


def test_a_soap12_envelope_as_application_soap_xml_is_answered_in_soap12(world: World) -> None:
    answer = post(world.manage, envelope(login_body(world.acct), version=SOAP12),
                  content_type=SOAP_XML + '; action="http://services.mailupnet.it/WS/LoginFromId"')

    assert answer.xml.tag == f"{{{SOAP12}}}Envelope"
    assert answer.result("LoginFromId", SERVICES_NS).findtext("accessKey")
    assert dict(answer.headers)["Content-Type"].startswith("application/soap+xml")


def test_a_body_without_content_length_under_the_limit_is_read_whole(world: World) -> None:
    padded = login_body(world.acct).replace("<user>", "<user>" + " " * 3000)

    answer = post(world.manage, envelope(padded), with_length=False)

    assert answer.result("LoginFromId", SERVICES_NS).findtext("errorCode") == "0"


# -- hostile or broken input ----------------------------------------------------------------


def test_a_doctype_is_refused(world: World) -> None:
    body = b'<?xml version="1.0"?><!DOCTYPE x [<!ELEMENT x ANY>]>' + envelope(
        login_body(world.acct))

    assert post(world.manage, body).fault(SOAP11).endswith("Client.DTDNotAllowed")


def test_an_external_entity_is_never_resolved(world: World, tmp_path: pathlib.Path) -> None:
    canary = tmp_path / "canary.txt"
    canary.write_text("CANARY-7f3a")
    body = (f'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY xxe SYSTEM "file://{canary}">]>'
            .encode() + envelope(login_body(world.acct).replace(
                f"<user>{world.acct.console_user}", "<user>&xxe;")))

    answer = post(world.manage, body)

    assert answer.fault(SOAP11).endswith("Client.DTDNotAllowed")
    assert b"CANARY" not in answer.body


def test_billion_laughs_is_refused(world: World) -> None:
    entities = '<!ENTITY lol0 "lol">' + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    body = (f'<?xml version="1.0"?><!DOCTYPE lolz [{entities}]>'.encode()
            + envelope(f'<GetLists xmlns="{SERVICES_NS}"><accessKey>&lol9;</accessKey>'
                       "</GetLists>"))

    answer = post(world.manage, body)

    assert answer.fault(SOAP11).startswith("soap11env:Client.")
    assert len(answer.body) < 2000


def test_nesting_300_levels_deep_is_refused(world: World) -> None:
    deep = "<a>" * 300 + "x" + "</a>" * 300
    body = envelope(f'<GetLists xmlns="{SERVICES_NS}"><accessKey>{deep}</accessKey></GetLists>')

    assert post(world.manage, body).fault(SOAP11).startswith("soap11env:Client.")


@pytest.mark.parametrize("body", [
    envelope(""),
    envelope("   "),
    f'<soap:Envelope xmlns:soap="{SOAP11}"/>'.encode(),
    f'<soap:Envelope xmlns:soap="{SOAP11}"><soap:Header/></soap:Envelope>'.encode(),
], ids=["empty Body", "blank Body", "no Body", "Header only"])
def test_an_empty_or_missing_body_is_a_client_fault(world: World, body: bytes) -> None:
    assert post(world.manage, body).fault(SOAP11).endswith("Client.SoapError")


@pytest.mark.parametrize(("body", "content_type"), [
    (b"<a><b>", TEXT_XML),
    (b"not xml at all", TEXT_XML),
    (b"\xff\xfe<\x00", "text/xml"),
], ids=["unclosed", "text", "garbage bytes"])
def test_malformed_xml_is_a_client_fault(world: World, body: bytes, content_type: str) -> None:
    assert post(world.manage, body, content_type).fault(SOAP11).startswith("soap11env:Client")


def test_an_empty_post_is_a_client_fault(world: World) -> None:
    assert post(world.manage, b"").fault(SOAP11).startswith("soap11env:Client")


@pytest.mark.parametrize("body", [
    b"\xff\xfe<\x00",
    b'<?xml version="1.0" encoding="iso-8859-1"?><a>caf\xe9</a>',
], ids=["garbage bytes", "latin-1 bytes"])
def test_bytes_that_are_not_the_declared_charset_are_a_client_fault(
        world: World, body: bytes) -> None:
    assert post(world.manage, body, TEXT_XML).fault(SOAP11).startswith("soap11env:Client")


@pytest.mark.parametrize(("declared", "content_type"), [
    ("UTF-8", TEXT_XML), ("ISO-8859-1", "text/xml; charset=ISO-8859-1"),
    ("ISO-8859-1", "text/xml")])
def test_a_request_with_an_xml_declaration_is_read_in_its_encoding(
        world: World, declared: str, content_type: str) -> None:
    acct = world.acct
    body = (f'<?xml version="1.0" encoding="{declared}"?>\n'.encode()
            + envelope(login_body(acct).replace("</consoleId>", "</consoleId><x>caf\u00e9</x>"))
            .replace("caf\u00e9".encode(), "caf\u00e9".encode(declared)))

    answer = post(world.manage, body, content_type)

    assert answer.result("LoginFromId", SERVICES_NS).findtext("errorCode") == "0"


def test_a_root_that_is_not_an_envelope_is_a_client_fault(world: World) -> None:
    body = f'<GetLists xmlns="{SERVICES_NS}"><accessKey>k</accessKey></GetLists>'.encode()

    assert post(world.manage, body).fault(SOAP11).startswith("soap11env:Client")


def test_a_wrong_type_is_a_validation_fault(world: World) -> None:
    body = envelope(f'<GetGroups xmlns="{SERVICES_NS}"><accessKey>k</accessKey>'
                    "<listID>abc</listID></GetGroups>")

    assert post(world.manage, body).fault(SOAP11) == "soap11env:Client.ValidationError"


@pytest.mark.parametrize("when", ["2001-02-30T00:00:00", "2000-02-29T24:00:00",
                                  "2001-13-01T00:00:00", "0000-01-01T00:00:00",
                                  "2001-01-01T00:00:00+25:00"])
@pytest.mark.parametrize("version", [SOAP11, SOAP12])
def test_a_date_time_of_the_right_shape_that_is_no_date_is_a_validation_fault(
        world: World, when: str, version: str) -> None:
    send = SoapEndpoint(SERVICES[1], world.deps, "http://127.0.0.1:8080", MAX_BODY)
    body = envelope(
        f'<SendMessageNL xmlns="{SERVICES_NS}"><accessKey>k</accessKey><fileName>a.csv'
        "</fileName><separator>;</separator><listId>1</listId><listGuid></listGuid>"
        "<messageId>1</messageId><senderName></senderName><sender></sender><subject>"
        f"</subject><timeDateSending>{when}</timeDateSending><sendDelayTest>0</sendDelayTest>"
        "</SendMessageNL>", version=version)

    answer = post(send, body, content_type=TEXT_XML if version == SOAP11 else SOAP_XML)

    assert answer.status.startswith("500")
    assert answer.fault(version) in ("soap11env:Client.ValidationError", "ValidationError")
    assert "is not a date and time" in answer.body.decode()


def test_an_unknown_operation_is_a_client_fault(world: World) -> None:
    body = envelope(f'<DropDatabase xmlns="{SERVICES_NS}"><accessKey>k</accessKey>'
                    "</DropDatabase>")

    assert post(world.manage, body).fault(SOAP11) == "soap11env:Client.ResourceNotFound"


@pytest.mark.parametrize("with_length", [True, False], ids=["Content-Length", "no length"])
def test_a_body_over_the_size_limit_is_a_request_too_long_fault(
        world: World, with_length: bool) -> None:
    body = envelope(login_body(world.acct).replace("<user>", "<user>" + "x" * MAX_BODY))

    answer = post(world.manage, body, with_length=with_length)

    assert answer.fault(SOAP11) == "soap11env:Client.RequestTooLong"


def test_only_content_length_bytes_of_the_input_are_read(world: World) -> None:
    body = envelope(login_body(world.acct))
    environ: dict[str, Any] = {}
    wsgiref.util.setup_testing_defaults(environ)
    environ.update({"REQUEST_METHOD": "POST", "CONTENT_TYPE": TEXT_XML,
                    "CONTENT_LENGTH": str(len(body)),
                    "wsgi.input": io.BytesIO(body + b"POST /next HTTP/1.1\r\n")})
    started: list[str] = []

    data = b"".join(world.manage(environ, lambda status, headers, exc_info=None:
                                 started.append(status)))

    assert started == ["200 OK"], data


def test_a_soap12_envelope_sent_as_text_xml_is_a_fault(world: World) -> None:
    body = envelope(login_body(world.acct), version=SOAP12)

    assert post(world.manage, body, TEXT_XML).fault(SOAP11) == "soap11env:VersionMismatch"


def test_a_soap12_body_over_the_size_limit_gets_a_soap12_fault(world: World) -> None:
    body = envelope(login_body(world.acct).replace("<user>", "<user>" + "x" * MAX_BODY),
                    version=SOAP12)

    answer = post(world.manage, body, content_type=SOAP_XML)

    assert answer.fault(SOAP12) == "RequestTooLong"


def test_a_soap12_request_gets_its_faults_in_soap12(world: World) -> None:
    answer = post(world.manage, b"<a><b>", content_type=SOAP_XML)

    assert answer.fault(SOAP12) == "XMLSyntaxError"
    assert dict(answer.headers)["Content-Type"].startswith("application/soap+xml")


def test_a_soap12_wrong_type_is_a_soap12_validation_fault(world: World) -> None:
    body = envelope(f'<GetGroups xmlns="{SERVICES_NS}"><accessKey>k</accessKey>'
                    "<listID>abc</listID></GetGroups>", version=SOAP12)

    assert post(world.manage, body, content_type=SOAP_XML).fault(SOAP12) == "ValidationError"


# -- real clients' quirks -------------------------------------------------------------------


def _auth_header(acct: SeededAccount, namespace: str, password: str | None = None) -> str:
    return (f'<Authentication xmlns="{namespace}"><User>{acct.ws_user}</User>'
            f"<Password>{password or acct.ws_password}</Password></Authentication>")


@pytest.mark.parametrize("namespace", [IMPORT_NS, TEMPURI_NS])
def test_the_import_authentication_header_is_accepted_in_both_namespaces(
        world: World, namespace: str) -> None:
    body = envelope(f'<GetIdWsUser xmlns="{IMPORT_NS}"/>', _auth_header(world.acct, namespace))

    result = post(world.imports, body).result("GetIdWsUser", IMPORT_NS)

    ws_user = next(u for u in world.store.state.users.values() if u.username == world.acct.ws_user)
    assert result.findtext("mailupBody/ReturnCode") == "0"
    assert result.findtext("mailupBody/IdWsUser") == str(ws_user.id)


def test_a_wrong_import_password_answers_return_code_minus_1002(world: World) -> None:
    body = envelope(f'<GetNlLists xmlns="{IMPORT_NS}"/>',
                    _auth_header(world.acct, TEMPURI_NS, password="wrong-password"))

    result = post(world.imports, body).result("GetNlLists", IMPORT_NS)

    assert result.findtext("mailupBody/ReturnCode") == "-1002"


def test_a_missing_import_header_answers_return_code_minus_1001(world: World) -> None:
    body = envelope(f'<GetNlLists xmlns="{IMPORT_NS}"/>')

    result = post(world.imports, body).result("GetNlLists", IMPORT_NS)

    assert result.findtext("mailupBody/ReturnCode") == "-1001"


def test_unknown_extra_parameters_are_ignored(world: World) -> None:
    created = lists.create_list(world.deps, world.acct.login(world.deps), "News")
    body = envelope(f'<CreateGroup xmlns="{IMPORT_NS}"><idList>{created.id}</idList>'
                    f"<listGUID>{created.guid}</listGUID><newGroupName>VIP</newGroupName>"
                    "<idGroup>5</idGroup></CreateGroup>", _auth_header(world.acct, IMPORT_NS))

    result = post(world.imports, body).result("CreateGroup", IMPORT_NS)

    assert result.findtext("mailupBody/ReturnCode") == "1"


def _update_list(world: World, options: str, version: str = SOAP11) -> Answer:
    cred = world.acct.login(world.deps)
    created = lists.create_list(world.deps, cred, "News")
    body = envelope(f'<UpdateList xmlns="{SERVICES_NS}"><accessKey>{cred.key}</accessKey>'
                    f"<listID>{created.id}</listID><options>{options}</options></UpdateList>",
                    version=version)
    return post(world.manage, body, content_type=SOAP_XML if version == SOAP12 else TEXT_XML)


def _stored_options(world: World) -> dict[str, str]:
    return next(iter(world.store.state.lists.values())).options


@pytest.mark.parametrize("version", [SOAP11, SOAP12], ids=["soap11", "soap12"])
def test_option_values_arrive_as_text_with_or_without_xsi_type(
        world: World, version: str) -> None:
    options = ('<Option><Key>kbmax</Key><Value xsi:type="xsd:int">42</Value></Option>'
               "<Option><Key>description</Key><Value>Tom &amp; Jerry</Value></Option>"
               '<Option><Key>public</Key><Value xsi:type="xsd:boolean">true</Value></Option>')

    answer = _update_list(world, options, version)

    assert answer.result("UpdateList", SERVICES_NS).findtext("errorCode") == "0"
    stored = _stored_options(world)
    assert (stored["kbmax"], stored["description"], stored["public"]) == (
        "42", "Tom & Jerry", "1")


def test_an_unknown_xsi_type_on_an_option_value_is_ignored(world: World) -> None:
    answer = _update_list(world, '<Option><Key>kbmax</Key>'
                                 '<Value xmlns:q="urn:q" xsi:type="q:weird">7</Value></Option>')

    assert answer.result("UpdateList", SERVICES_NS).findtext("errorCode") == "0"
    assert _stored_options(world)["kbmax"] == "7"


def test_an_option_value_holding_elements_is_a_validation_fault(world: World) -> None:
    answer = _update_list(world, "<Option><Key>kbmax</Key><Value><x>1</x></Value></Option>")

    assert answer.fault(SOAP11) == "soap11env:Client.ValidationError"
    assert "kbmax" not in _stored_options(world)


def test_an_unknown_option_answers_its_error_code_and_changes_nothing(world: World) -> None:
    answer = _update_list(world, "<Option><Key>kbmax</Key><Value>9</Value></Option>"
                                 "<Option><Key>colour</Key><Value>red</Value></Option>")

    assert answer.result("UpdateList", SERVICES_NS).findtext("errorCode") == "-1104"
    assert "kbmax" not in _stored_options(world)


def test_an_empty_string_element_is_an_empty_string(world: World) -> None:
    cred = world.acct.login(world.deps)
    created = lists.create_list(world.deps, cred, "News")
    body = envelope(f'<CreateGroup xmlns="{SERVICES_NS}"><accessKey>{cred.key}</accessKey>'
                    f"<listID>{created.id}</listID><groupName>VIP</groupName><groupNotes/>"
                    "</CreateGroup>")

    result = post(world.manage, body).result("CreateGroup", SERVICES_NS)

    assert result.tag == "CreateGroupsResult"
    assert result.findtext("list/groups/group/groupNotes") == ""
    assert result.findtext("list/groups/group/groupName") == "VIP"
