"""The WSGI side of the four services: one endpoint per service, SOAP 1.1 and 1.2 at the
same address, the WSDL at `?WSDL`, the body size limit, and faults for transport errors."""
from __future__ import annotations

import dataclasses
import io
import logging
from collections.abc import Iterable, Sequence
from typing import Any

import spyne.const
from lxml import etree
from lxml.builder import ElementMaker
from spyne import Application
from spyne.protocol.soap import Soap11, Soap12
from spyne.server.wsgi import WsgiApplication

from mailup_soap.service_layer.deps import Deps
from mailup_soap.soap import import_service, manage, report, send
from mailup_soap.soap.http_bindings import HttpBindingEndpoint
from mailup_soap.soap.operations import Op, Style, build_service
from mailup_soap.soap.protocol import MailUpSoap11, MailUpSoap12
from mailup_soap.soap.types import IMPORT_NS, SERVICES_NS
from mailup_soap.soap.wsdl import asmx_shape
from mailup_soap.web import StartResponse, WsgiApp, reply


@dataclasses.dataclass(frozen=True)
class ServiceSpec:
    name: str  # WSDL service name
    path: str  # MailUp's endpoint path
    namespace: str
    style: Style
    operations: Sequence[Op]
    http_bindings: bool = False  # ASMX HttpGet/HttpPost at <path>/<Op> (Import only)


SERVICES = (
    ServiceSpec("WSMailUpImport", "/Services/WSMailupImport.asmx", IMPORT_NS, Style.IMPORT,
                import_service.OPERATIONS, http_bindings=True),
    ServiceSpec("MailupSend", "/MailupSend.asmx", SERVICES_NS, Style.ACCESS_KEY, send.OPERATIONS),
    ServiceSpec("MailupManage", "/MailupManage.asmx", SERVICES_NS, Style.ACCESS_KEY,
                manage.OPERATIONS),
    ServiceSpec("MailupReport", "/MailupReport.asmx", SERVICES_NS, Style.ACCESS_KEY,
                report.OPERATIONS),
)

_ENVELOPE = {"1.1": "http://schemas.xmlsoap.org/soap/envelope/",
             "1.2": "http://www.w3.org/2003/05/soap-envelope"}
_CONTENT_TYPE = {"1.1": "text/xml; charset=utf-8", "1.2": "application/soap+xml; charset=utf-8"}


def fault_bytes(version: str, code: str, message: str) -> bytes:
    """A fault envelope for errors caught before spyne sees the request."""
    env = _ENVELOPE[version]
    prefix = "soap11env" if version == "1.1" else "soap12env"  # the prefixes spyne's faults use
    E = ElementMaker(namespace=env, nsmap={prefix: env})
    if version == "1.1":
        fault = E.Fault(etree.Element("faultcode"), etree.Element("faultstring"))
        fault[0].text, fault[1].text = f"{prefix}:{code}", message
    else:
        main, _, sub = code.partition(".")
        value = E.Value(f"{prefix}:Receiver" if main == "Server" else f"{prefix}:Sender")
        codes = E.Code(value, E.Subcode(E.Value(sub))) if sub else E.Code(value)
        fault = E.Fault(codes, E.Reason(E.Text(message, {
            "{http://www.w3.org/XML/1998/namespace}lang": "en"})))
    return bytes(etree.tostring(E.Envelope(E.Body(fault)), xml_declaration=True,
                                encoding="utf-8"))


class SoapEndpoint:
    """One service: dispatches on the SOAP version the request speaks."""

    def __init__(self, spec: ServiceSpec, deps: Deps, public_url: str, max_body: int) -> None:
        service = build_service(spec.name, spec.style, spec.operations, deps)
        self.max_body = max_body
        self.apps: dict[str, WsgiApplication] = {}
        for version, proto, out in (("1.1", MailUpSoap11, Soap11), ("1.2", MailUpSoap12, Soap12)):
            app = Application([service], tns=spec.namespace, name=spec.name,
                              in_protocol=proto(validator="soft"), out_protocol=out())
            self.apps[version] = WsgiApplication(app, max_content_length=max_body)
        address = public_url.rstrip("/") + spec.path
        wsdl11 = self.apps["1.1"].doc.wsdl11
        wsdl11.build_interface_document(address)  # pinned: never taken from a Host header
        http = [(op.name, [n for n, _ in op.params]) for op in spec.operations] \
            if spec.http_bindings else None
        self.wsdl = asmx_shape(wsdl11.get_interface_document(), spec.name, address, http)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        ctype = environ.get("CONTENT_TYPE", "")
        version = "1.2" if ctype.lower().startswith("application/soap+xml") else "1.1"
        if method in ("GET", "HEAD"):
            query = environ.get("QUERY_STRING", "").lower()
            if query.split("&")[0].split("=")[0] == "wsdl":
                return reply(start_response, "200 OK", "text/xml; charset=utf-8",
                                b"" if method == "HEAD" else self.wsdl)
            return reply(start_response, "405 Method Not Allowed", _CONTENT_TYPE[version],
                            fault_bytes(version, "Client.RequestNotAllowed",
                                        "POST a SOAP envelope, or GET ?WSDL"))
        body = _read_limited(environ, self.max_body)
        if body is None:
            return reply(start_response, "500 Internal Server Error", _CONTENT_TYPE[version],
                            fault_bytes(version, "Client.RequestTooLong",
                                        f"request body over {self.max_body} bytes"))
        if not body.strip():
            return reply(start_response, "500 Internal Server Error", _CONTENT_TYPE[version],
                            fault_bytes(version, "Client.SoapError", "empty request body"))
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        answer: Iterable[bytes] = self.apps[version](environ, start_response)
        return answer


def _read_limited(environ: dict[str, Any], limit: int) -> bytes | None:
    """The whole body, or None past `limit` bytes, with or without Content-Length (gunicorn
    hands chunked bodies over de-chunked and without a length; spyne would truncate them)."""
    declared = environ.get("CONTENT_LENGTH") or ""
    stream = environ["wsgi.input"]
    if declared.isdigit():
        # Never read past Content-Length (PEP 3333): the input may be the raw socket.
        return None if int(declared) > limit else stream.read(int(declared))
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = stream.read(min(65536, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
    return None


def soap_routes(deps: Deps, public_url: str, max_body: int,
                trust_forwarded_for: bool = False) -> dict[str, WsgiApp]:
    routes: dict[str, WsgiApp] = {}
    for spec in SERVICES:
        routes[spec.path] = SoapEndpoint(spec, deps, public_url, max_body)
        if spec.http_bindings:
            endpoint = HttpBindingEndpoint(spec, deps, max_body, trust_forwarded_for)
            routes.update({f"{spec.path}/{op.name}": endpoint for op in spec.operations})
    return routes


def configure_spyne() -> None:
    """Process-wide spyne settings, applied by bootstrap before the app serves.

    spyne runs a full gc.collect() at most once a second per process by default: a 50 ms
    stall on a large heap (notes/spyne-soap.md section 2.9); Python's own GC is enough.
    spyne also logs whole request bodies (passwords included) on XML errors, and every
    client fault with a traceback (section 2.10): those loggers are silenced."""
    spyne.const.MIN_GC_INTERVAL = float("inf")
    logging.getLogger("spyne").setLevel(logging.WARNING)  # no per-app start-up chatter
    logging.getLogger("spyne.protocol.soap.soap11.invalid").setLevel(logging.CRITICAL + 1)
    logging.getLogger("spyne.protocol.soap.soap11").setLevel(logging.CRITICAL + 1)
    logging.getLogger("spyne.protocol.xml").setLevel(logging.CRITICAL + 1)
    logging.getLogger("spyne.application.client").setLevel(logging.CRITICAL + 1)
    logging.getLogger("spyne.application.server").setLevel(logging.CRITICAL)
    # Logs client faults (bad types, unknown operations) with the offending values.
    logging.getLogger("spyne.server.wsgi").setLevel(logging.CRITICAL + 1)
