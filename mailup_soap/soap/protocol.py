"""SOAP 1.1 / 1.2 protocols hardened for hostile input and tolerant of real MailUp clients."""
from __future__ import annotations

from typing import Any

from lxml import etree
from spyne import Boolean, Fault
from spyne.protocol.soap import Soap11, Soap12

from mailup_soap.soap.types import IMPORT_NS, TEMPURI_NS, AnyValue


class MailUpSoapMixin:
    """What spyne does not do by itself:

    - refuse any DOCTYPE (SOAP forbids DTDs; with it go internal and external entities);
    - answer an empty or missing Body with a fault instead of an uncaught AttributeError;
    - accept the Import `Authentication` header in the tempuri.org namespace too;
    - refuse booleans other than true/false/1/0 (spyne reads them as false);
    - read empty string elements as "" (spyne refuses them as null when nillable is off);
    - read `Option/Value` (xs:anyType) as its text, with or without xsi:type, and ignore
      xsi:type elsewhere (no polymorphism in this API; unknown xsi:types must not fault);
    - refuse a dateTime of the right shape that is no date (`2001-02-30T00:00:00`, hour 24):
      spyne checks the shape only, and Python's ValueError escaped the WSGI app.
    """

    ns_soap_env: str

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("parse_xsi_type", False)
        super().__init__(*args, **kwargs)
        self.deserialization_handlers[AnyValue] = self._any_value_from_element  # type: ignore[attr-defined]
        self.deserialization_handlers[Boolean] = self._boolean_from_element  # type: ignore[attr-defined]

    @staticmethod
    def _boolean_from_element(ctx: object, cls: type, element: etree._Element) -> bool:
        # spyne reads anything that is not "true"/"1" as false; xs:boolean has four spellings.
        text = (element.text or "").strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise Fault("Client.ValidationError", f"{etree.QName(element).localname} must be a "
                    "boolean (true, false, 1 or 0)")

    @staticmethod
    def _any_value_from_element(ctx: object, cls: type, element: etree._Element) -> str | None:
        if len(element):
            raise Fault("Client.ValidationError", "Option/Value must be text")
        return None if element.text is None else str(element.text)

    def datetime_from_unicode_iso(self, cls: type, string: str) -> Any:
        try:
            return super().datetime_from_unicode_iso(cls, string)  # type: ignore[misc]
        except ValueError as exc:
            raise Fault("Client.ValidationError",
                        f"{string!r} is not a date and time: {exc}") from None

    def unicode_from_element(self, ctx: Any, cls: type, element: etree._Element) -> Any:
        # ASMX clients send an empty string as <x/> or <x></x>: that is "", not a missing value.
        if element.text is None and not len(element):
            return ""
        return super().unicode_from_element(ctx, cls, element)  # type: ignore[misc]

    def create_in_document(self, ctx: Any, charset: str | None = None) -> None:
        try:
            super().create_in_document(ctx, charset)  # type: ignore[misc]
        except UnicodeDecodeError:
            raise Fault("Client.XMLSyntaxError",
                        "the body is not in the declared charset") from None
        tree = ctx.in_document[0].getroottree()
        if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
            raise Fault("Client.DTDNotAllowed", "DOCTYPE is not allowed in SOAP messages")

    def decompose_incoming_envelope(self, ctx: Any, message: Any = Soap11.REQUEST) -> None:
        envelope = ctx.in_document[0]
        if etree.QName(envelope).localname != "Envelope":
            raise Fault("Client.SoapError", "the document is not a SOAP Envelope")
        if envelope.tag != f"{{{self.ns_soap_env}}}Envelope":
            raise Fault("VersionMismatch", f"expected an Envelope in {self.ns_soap_env} "
                        "(SOAP 1.2 is sent as application/soap+xml)")
        body = envelope.find(f"{{{self.ns_soap_env}}}Body")
        if body is None or len(body) == 0:
            raise Fault("Client.SoapError", "SOAP Body is missing or empty")
        header = envelope.find(f"{{{self.ns_soap_env}}}Header")
        if header is not None:
            for elem in header.iter(f"{{{TEMPURI_NS}}}*"):
                elem.tag = f"{{{IMPORT_NS}}}{etree.QName(elem).localname}"
        super().decompose_incoming_envelope(ctx, message)  # type: ignore[misc]


class MailUpSoap11(MailUpSoapMixin, Soap11):
    pass


class MailUpSoap12(MailUpSoapMixin, Soap12):
    pass
