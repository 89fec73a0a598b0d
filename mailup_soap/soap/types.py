"""spyne types matching the XSD of MailUp's WSDLs (s:string minOccurs 0, s:int / s:boolean
minOccurs 1, ArrayOfOption)."""
from __future__ import annotations

from spyne import AnyXml, Array, Boolean, ComplexModel, DateTime, Integer32, Unicode

IMPORT_NS = "http://ws.mailupnet.it/"
SERVICES_NS = "http://services.mailupnet.it/WS"
# An older MailUp wiki revision puts the Import header in this namespace; clients copied it.
TEMPURI_NS = "http://tempuri.org/"

String = Unicode(min_occurs=0, nillable=False)
Int = Integer32(min_occurs=1, nillable=False)
Bool = Boolean(min_occurs=1, nillable=False)
When = DateTime(min_occurs=1, nillable=False)
ResultString = Unicode(min_occurs=0, nillable=False)
ResultInt = Integer32(min_occurs=1, nillable=False)


class AnyValue(AnyXml):
    """`Option/Value` is xs:anyType: clients send bare text or xsi:type'd text. Our protocol
    reads it as text (see `protocol.MailUpSoapMixin`)."""

    __type_name__ = "anyType"


def _option(namespace: str) -> type[ComplexModel]:
    return type("Option", (ComplexModel,), {
        "__namespace__": namespace,
        "__type_name__": "Option",
        "_type_info": [("Key", Unicode(min_occurs=0, nillable=False)),
                       ("Value", AnyValue(min_occurs=0, nillable=False))],
    })


Option = _option(SERVICES_NS)
ArrayOfOption = Array(Option, type_name="ArrayOfOption").customize(min_occurs=0, nillable=False)


class Authentication(ComplexModel):
    """The Import service's SOAP header."""

    __namespace__ = IMPORT_NS
    _type_info = [("User", Unicode(min_occurs=0, nillable=False)),  # noqa: RUF012
                  ("Password", Unicode(min_occurs=0, nillable=False)),
                  ("encType", Unicode(min_occurs=0, nillable=False))]


def option_pairs(options: object) -> list[tuple[str, object]]:
    """ArrayOfOption as spyne hands it over (None or a list of Option) -> (key, value) pairs."""
    return [(o.Key or "", o.Value) for o in (options or []) if o is not None]  # type: ignore[attr-defined]
