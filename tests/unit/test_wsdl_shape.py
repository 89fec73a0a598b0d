"""The served WSDL has the ASMX shape MailUp clients know, built in-process by SoapEndpoint."""
from __future__ import annotations

import io
import pathlib
from typing import Any

import pytest
from lxml import etree

from mailup_soap.soap.types import IMPORT_NS, SERVICES_NS
from mailup_soap.soap.wsdl import asmx_shape, soap_action
from mailup_soap.soap.wsgi import SERVICES, ServiceSpec, SoapEndpoint
from tests.fakes import fake_deps
from tests.unit.test_wsdl_contract import ADDED

W = "{http://schemas.xmlsoap.org/wsdl/}"
SOAP11 = "{http://schemas.xmlsoap.org/wsdl/soap/}"
SOAP12 = "{http://schemas.xmlsoap.org/wsdl/soap12/}"
XS = "{http://www.w3.org/2001/XMLSchema}"
PUBLIC_URL = "https://mail.example.test:8443/"
# MailUp's real WSDLs: the copy committed under tests/reference, else the shared one.
_HERE = pathlib.Path(__file__).resolve()
REFERENCE = next((p for p in (_HERE.parents[1] / "reference" / "wsdl",
                              _HERE.parents[3] / "shared" / "reference" / "wsdl") if p.is_dir()),
                 _HERE.parents[1] / "reference" / "wsdl")

by_name = pytest.mark.parametrize("spec", SERVICES, ids=[s.name for s in SERVICES])


def _wsdl(spec: ServiceSpec, public_url: str = PUBLIC_URL) -> etree._Element:
    return etree.fromstring(SoapEndpoint(spec, fake_deps(), public_url, 4096).wsdl)


def _binding(root: etree._Element, name: str) -> etree._Element:
    found = root.find(f"{W}binding[@name='{name}']")
    assert found is not None, f"no binding {name}"
    return found


def test_soap_action_joins_namespace_and_operation_with_one_slash() -> None:
    assert soap_action(IMPORT_NS, "CreateGroup") == "http://ws.mailupnet.it/CreateGroup"
    assert soap_action(SERVICES_NS, "Login") == "http://services.mailupnet.it/WS/Login"


@by_name
def test_the_wsdl_is_named_after_the_service_in_its_namespace(spec: ServiceSpec) -> None:
    root = _wsdl(spec)

    assert root.get("name") == spec.name
    assert root.get("targetNamespace") == spec.namespace
    assert [s.get("name") for s in root.findall(f"{W}service")] == [spec.name]


@by_name
def test_one_port_type_and_a_soap11_and_soap12_binding_of_it(spec: ServiceSpec) -> None:
    root = _wsdl(spec)
    http = [f"{spec.name}HttpGet", f"{spec.name}HttpPost"] if spec.http_bindings else []

    assert [p.get("name") for p in root.findall(f"{W}portType")] == [f"{spec.name}Soap", *http]
    assert [b.get("name") for b in root.findall(f"{W}binding")] == [f"{spec.name}Soap",
                                                                    f"{spec.name}Soap12", *http]
    for name, ns in ((f"{spec.name}Soap", SOAP11), (f"{spec.name}Soap12", SOAP12)):
        binding = _binding(root, name)
        assert binding.get("type") == f"tns:{spec.name}Soap"
        assert binding.find(f"{ns}binding").get("style") == "document"


@by_name
def test_both_ports_point_at_the_configured_public_address(spec: ServiceSpec) -> None:
    root = _wsdl(spec)
    ports = root.findall(f"{W}service/{W}port")

    http = [f"{spec.name}HttpGet", f"{spec.name}HttpPost"] if spec.http_bindings else []
    assert [(p.get("name"), p.get("binding")) for p in ports] == [
        (name, f"tns:{name}") for name in (f"{spec.name}Soap", f"{spec.name}Soap12", *http)]
    address = "https://mail.example.test:8443" + spec.path
    assert ports[0].find(f"{SOAP11}address").get("location") == address
    assert ports[1].find(f"{SOAP12}address").get("location") == address


@by_name
def test_every_operation_has_soap_action_namespace_slash_name_in_both_bindings(
        spec: ServiceSpec) -> None:
    root = _wsdl(spec)
    names = [op.name for op in spec.operations]

    for binding_name, ns in ((f"{spec.name}Soap", SOAP11), (f"{spec.name}Soap12", SOAP12)):
        ops = _binding(root, binding_name).findall(f"{W}operation")
        assert sorted(op.get("name") for op in ops) == sorted(names)
        for op in ops:
            soap_op = op.find(f"{ns}operation")
            assert soap_op.get("soapAction") == soap_action(spec.namespace, op.get("name"))
            assert soap_op.get("style") == "document"
            assert op.find(f"{W}input/{ns}body").get("use") == "literal"


@by_name
def test_the_soap12_binding_uses_no_soap11_elements(spec: ServiceSpec) -> None:
    twin = _binding(_wsdl(spec), f"{spec.name}Soap12")

    assert list(twin.iter(f"{SOAP11}*")) == []


@by_name
def test_the_wsdl_is_the_same_bytes_every_time_it_is_built(spec: ServiceSpec) -> None:
    first = SoapEndpoint(spec, fake_deps(), PUBLIC_URL, 4096).wsdl
    second = SoapEndpoint(spec, fake_deps(), PUBLIC_URL, 4096).wsdl

    assert first == second


def test_asmx_shape_rewrites_a_spyne_wsdl_for_another_address() -> None:
    endpoint = SoapEndpoint(SERVICES[2], fake_deps(), PUBLIC_URL, 4096)
    spyne_wsdl = endpoint.apps["1.1"].doc.wsdl11.get_interface_document()

    shaped = etree.fromstring(asmx_shape(spyne_wsdl, "MailupManage", "http://other.test/x"))

    locations = {a.get("location") for a in shaped.iter(f"{SOAP11}address", f"{SOAP12}address")}
    assert locations == {"http://other.test/x"}


def _get(endpoint: SoapEndpoint, method: str, query: str,
         host: str = "evil.example.test") -> tuple[str, bytes]:
    environ: dict[str, Any] = {"REQUEST_METHOD": method, "QUERY_STRING": query,
                               "HTTP_HOST": host, "wsgi.input": io.BytesIO(b"")}
    status: list[str] = []
    body = b"".join(endpoint(environ, lambda s, h, exc_info=None: status.append(s)))
    return status[0], body


@pytest.mark.parametrize("query", ["WSDL", "wsdl", "Wsdl=", "wsdl&x=1"])
def test_get_with_wsdl_query_serves_the_wsdl_whatever_the_host_header(query: str) -> None:
    endpoint = SoapEndpoint(SERVICES[0], fake_deps(), PUBLIC_URL, 4096)

    status, body = _get(endpoint, "GET", query)

    assert status.startswith("200")
    assert body == endpoint.wsdl
    assert b"evil.example.test" not in body


def test_head_with_wsdl_query_answers_200_without_a_body() -> None:
    endpoint = SoapEndpoint(SERVICES[1], fake_deps(), PUBLIC_URL, 4096)

    assert _get(endpoint, "HEAD", "wsdl") == ("200 OK", b"")


def test_get_without_wsdl_query_is_a_fault_not_a_page() -> None:
    endpoint = SoapEndpoint(SERVICES[1], fake_deps(), PUBLIC_URL, 4096)

    status, body = _get(endpoint, "GET", "op=Login")

    assert status.startswith("405")
    assert b"Fault" in body and b"Client.RequestNotAllowed" in body


# -- against MailUp's own WSDLs -------------------------------------------------------------


def _reference(spec: ServiceSpec) -> etree._Element:
    for path in sorted(REFERENCE.glob("*.wsdl")):
        root = etree.parse(str(path)).getroot()
        if root.find(f"{W}service").get("name") == spec.name:
            return root
    pytest.fail(f"no reference WSDL for {spec.name} in {REFERENCE}")


def _signature(root: etree._Element, element: str) -> list[tuple[str, str, str]]:
    """(name, type, minOccurs) of the children of a global element, inline type or named."""
    elements = {e.get("name"): e for s in root.iter(f"{XS}schema")
                for e in s.findall(f"{XS}element")}
    types = {t.get("name"): t for s in root.iter(f"{XS}schema")
             for t in s.findall(f"{XS}complexType")}
    decl = elements[element]
    body = decl.find(f"{XS}complexType")
    if body is None:
        body = types[decl.get("type").split(":")[1]]
    return [(e.get("name"), e.get("type").split(":")[1], e.get("minOccurs", "1"))
            for e in body.iter(f"{XS}element")]


@by_name
def test_operations_and_soap_actions_match_the_mailup_wsdl(spec: ServiceSpec) -> None:
    ours, theirs = _wsdl(spec), _reference(spec)

    def actions(root: etree._Element) -> dict[str, str]:
        ops = _binding(root, f"{spec.name}Soap").findall(f"{W}operation")
        return {op.get("name"): op.find(f"{SOAP11}operation").get("soapAction") for op in ops}

    mailup_ones = {k: v for k, v in actions(ours).items() if k not in ADDED[spec.name]}
    assert mailup_ones == actions(theirs)


@by_name
def test_request_and_response_elements_match_the_mailup_wsdl(spec: ServiceSpec) -> None:
    ours, theirs = _wsdl(spec), _reference(spec)

    for op in spec.operations:
        if op.name in ADDED[spec.name]:
            continue  # ours alone: test_wsdl_contract lists them
        for element in (op.name, f"{op.name}Response"):
            assert _signature(ours, element) == _signature(theirs, element), element


def test_the_import_http_bindings_match_the_mailup_wsdl() -> None:
    import pathlib

    from lxml import etree as et

    spec = SERVICES[0]
    ours = _wsdl(spec)
    ref = et.parse(str(pathlib.Path(__file__).resolve().parents[1] / "reference" / "wsdl"
                       / "MailUpImport.wsdl")).getroot()

    def shape(root: et._Element) -> dict[str, object]:
        found: dict[str, object] = {}
        for verb in ("HttpGet", "HttpPost"):
            binding = next(b for b in root.findall(f"{W}binding")
                           if b.get("name") == f"WSMailUpImport{verb}")
            ops = {}
            for op in binding.findall(f"{W}operation"):
                message = next(m for m in root.findall(f"{W}message")
                               if m.get("name") == f"{op.get('name')}{verb}In")
                location = op.find("{http://schemas.xmlsoap.org/wsdl/http/}operation")
                ops[op.get("name")] = (location.get("location"),  # type: ignore[union-attr]
                                       [p.get("name") for p in message])
            found[verb] = ops
        return found

    assert shape(ours) == shape(ref)
