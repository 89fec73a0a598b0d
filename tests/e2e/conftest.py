"""zeep clients built from MailUp's reference WSDLs, pointed at the test server."""
from __future__ import annotations

import pathlib
import re
from collections.abc import Callable
from typing import Any

import pytest
import requests
import zeep
from lxml import etree
from zeep.transports import Transport

# Copies of MailUp's real WSDLs (shared/reference/wsdl), kept with the tests.
REFERENCE = pathlib.Path(__file__).resolve().parents[1] / "reference" / "wsdl"

WS = "{http://services.mailupnet.it/WS}"
IMPORT = "{http://ws.mailupnet.it/}"
PATHS = {"Manage": "/MailupManage.asmx", "Send": "/MailupSend.asmx",
         "Report": "/MailupReport.asmx", "Import": "/Services/WSMailupImport.asmx"}
BINDINGS = {"Manage": WS + "MailupManageSoap", "Send": WS + "MailupSendSoap",
            "Report": WS + "MailupReportSoap", "Import": IMPORT + "WSMailUpImportSoap"}

_clients: dict[str, zeep.Client] = {}


def reference_client(service: str) -> zeep.Client:
    if service not in _clients:
        _clients[service] = zeep.Client(str(REFERENCE / f"MailUp{service}.wsdl"),
                                        transport=Transport(cache=False))
    return _clients[service]


ServiceFactory = Callable[..., Any]


@pytest.fixture
def soap(server_url: str) -> ServiceFactory:
    """soap("Manage") -> a zeep service proxy at our server; soap12=True for the 1.2 binding."""
    def make(service: str, soap12: bool = False) -> Any:
        binding = BINDINGS[service] + ("12" if soap12 else "")
        return reference_client(service).create_service(binding, server_url + PATHS[service])
    return make


def parse(result: str) -> etree._Element:
    """Parse a result string (the Import ones carry an XML declaration)."""
    return etree.fromstring(result.encode("utf-8"))


def login(soap: ServiceFactory, account: Any, service: str = "Manage") -> str:
    doc = parse(soap(service).LoginFromId(user=account.console_user, pwd=account.password,
                                          consoleId=account.console_id))
    assert doc.findtext("errorCode") == "0", etree.tostring(doc)
    key = doc.findtext("accessKey")
    assert key
    return key


def auth_header(account: Any, password: str | None = None, namespace: str = IMPORT) -> Any:
    header = reference_client("Import").get_element(IMPORT + "Authentication")
    return header(User=account.ws_user, Password=password or account.password)


def confirm_link(link: str) -> requests.Response:
    """What a recipient does with a confirmation link: open the page, press its button."""
    page = requests.get(link, timeout=10)
    form_token = re.search(r'name="t" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    return requests.post(link.split("?")[0], data={"t": form_token}, timeout=10)
