"""Turn spyne's WSDL into the ASMX shape MailUp clients know: `<Name>Soap` and `<Name>Soap12`
bindings of one `<Name>Soap` portType, SOAPAction `<namespace>/<Op>`, both ports on one address."""
from __future__ import annotations

import copy

from lxml import etree

WSDL = "http://schemas.xmlsoap.org/wsdl/"
HTTP = "http://schemas.xmlsoap.org/wsdl/http/"
MIME = "http://schemas.xmlsoap.org/wsdl/mime/"
XS = "http://www.w3.org/2001/XMLSchema"
HttpOperation = tuple[str, list[str]]  # operation name, parameter names
SOAP11 = "http://schemas.xmlsoap.org/wsdl/soap/"
SOAP12 = "http://schemas.xmlsoap.org/wsdl/soap12/"


def soap_action(namespace: str, operation: str) -> str:
    """ASMX joins namespace and operation with exactly one slash."""
    return namespace.rstrip("/") + "/" + operation


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def _to_soap12(binding: etree._Element) -> etree._Element:
    twin = copy.deepcopy(binding)
    for elem in twin.iter(f"{{{SOAP11}}}*"):
        elem.tag = _q(SOAP12, etree.QName(elem).localname)
    return twin


def _by_name(elem: etree._Element) -> tuple[str, str]:
    return (etree.QName(elem).localname, elem.get("name") or "")


def _canonical_order(root: etree._Element, service: etree._Element) -> None:
    """Sort schema items and messages by name; service last. The committed wsdl/*.wsdl files
    are diffed against this output, so it must not depend on spyne's dict order."""
    for schema in root.iter("{http://www.w3.org/2001/XMLSchema}schema"):
        # xs:import must stay first in a schema
        schema[:] = sorted(schema, key=lambda e: (etree.QName(e).localname != "import",
                                                  *_by_name(e)))
    messages = sorted(root.findall(_q(WSDL, "message")), key=_by_name)
    for message in messages:
        root.remove(message)
    port_type = root.find(_q(WSDL, "portType"))
    assert port_type is not None
    for message in messages:
        port_type.addprevious(message)
    root.remove(service)
    root.append(service)


def _add_http_bindings(root: etree._Element, service: etree._Element, service_name: str,
                       address: str, operations: list[HttpOperation]) -> None:
    """ASMX's HttpGet and HttpPost bindings: urlencoded string parameters in, the result as
    a global `string` element out (the Import WSDL has them)."""
    schema = root.find(f"{{{WSDL}}}types/{{{XS}}}schema")
    assert schema is not None
    etree.SubElement(schema, _q(XS, "element"), name="string", nillable="true",
                     type="xs:string")
    bindings = list(root.findall(_q(WSDL, "binding")))
    for verb in ("Get", "Post"):
        name = f"{service_name}Http{verb}"
        port_type = etree.Element(_q(WSDL, "portType"), name=name)
        binding = etree.Element(_q(WSDL, "binding"), name=name, type=f"tns:{name}")
        etree.SubElement(binding, _q(HTTP, "binding"), verb=verb.upper())
        for op, params in operations:
            message_in = etree.SubElement(root, _q(WSDL, "message"), name=f"{op}Http{verb}In")
            for param in params:
                etree.SubElement(message_in, _q(WSDL, "part"), name=param, type="xs:string")
            message_out = etree.SubElement(root, _q(WSDL, "message"),
                                           name=f"{op}Http{verb}Out")
            etree.SubElement(message_out, _q(WSDL, "part"), name="Body", element="tns:string")
            pt_op = etree.SubElement(port_type, _q(WSDL, "operation"), name=op)
            etree.SubElement(pt_op, _q(WSDL, "input"), message=f"tns:{op}Http{verb}In")
            etree.SubElement(pt_op, _q(WSDL, "output"), message=f"tns:{op}Http{verb}Out")
            b_op = etree.SubElement(binding, _q(WSDL, "operation"), name=op)
            etree.SubElement(b_op, _q(HTTP, "operation"), location=f"/{op}")
            b_in = etree.SubElement(b_op, _q(WSDL, "input"))
            if verb == "Get":
                etree.SubElement(b_in, _q(HTTP, "urlEncoded"))
            else:
                etree.SubElement(b_in, _q(MIME, "content"), nsmap={"mime": MIME},
                                 type="application/x-www-form-urlencoded")
            b_out = etree.SubElement(b_op, _q(WSDL, "output"))
            etree.SubElement(b_out, _q(MIME, "mimeXml"), nsmap={"mime": MIME}, part="Body")
        root.findall(_q(WSDL, "portType"))[-1].addnext(port_type)
        bindings[-1].addnext(binding)
        bindings.append(binding)
        port = etree.SubElement(service, _q(WSDL, "port"), name=name, binding=f"tns:{name}")
        etree.SubElement(port, _q(HTTP, "address"), location=address)


def asmx_shape(spyne_wsdl: bytes, service_name: str, address: str,
               http_operations: list[HttpOperation] | None = None) -> bytes:
    """Rewrite a spyne-generated WSDL (one SOAP 1.1 binding) into the ASMX layout."""
    root = etree.fromstring(spyne_wsdl)
    tns = root.get("targetNamespace") or ""
    port_type_name = f"{service_name}Soap"
    root.set("name", service_name)
    port_type = root.find(_q(WSDL, "portType"))
    binding = root.find(_q(WSDL, "binding"))
    service = root.find(_q(WSDL, "service"))
    assert port_type is not None and binding is not None and service is not None
    port_type.set("name", port_type_name)
    binding.set("name", port_type_name)
    binding.set("type", f"tns:{port_type_name}")
    for op in binding.findall(_q(WSDL, "operation")):
        soap_op = op.find(_q(SOAP11, "operation"))
        assert soap_op is not None
        soap_op.set("soapAction", soap_action(tns, op.get("name") or ""))
        soap_op.set("style", "document")
    twin = _to_soap12(binding)
    twin.set("name", f"{service_name}Soap12")
    binding.addnext(twin)
    service.set("name", service_name)
    for port in list(service):
        service.remove(port)
    for name, ns in ((port_type_name, SOAP11), (f"{service_name}Soap12", SOAP12)):
        port = etree.SubElement(service, _q(WSDL, "port"), name=name, binding=f"tns:{name}")
        etree.SubElement(port, _q(ns, "address"), location=address)
    if http_operations:
        _add_http_bindings(root, service, service_name, address, http_operations)
    _canonical_order(root, service)
    etree.indent(root, space="  ")
    return bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8")) + b"\n"
