"""The two result envelopes: Import's mailupMessage and the errorCode documents of
Send / Manage / Report, serialised as the string the SOAP result carries."""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from lxml import etree
from lxml.builder import E

IMPORT_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>\n'


@dataclasses.dataclass(frozen=True)
class Result:
    """What a handler returns: payload elements, and for Import a positive ReturnCode
    (a new process or group id) where the operation has one."""

    payload: Sequence[etree._Element] = ()
    code: int = 0


def mailup_message(code: int, payload: Sequence[etree._Element] = ()) -> str:
    body = E.mailupBody(E.ReturnCode(str(code)), *payload)
    return IMPORT_DECLARATION + str(etree.tostring(E.mailupMessage(body), encoding="unicode"))


def error_code_document(root: str, code: int, description: str,
                        payload: Sequence[etree._Element] = ()) -> str:
    doc = etree.Element(root)
    etree.SubElement(doc, "errorCode").text = str(code)
    etree.SubElement(doc, "errorDescription").text = description
    doc.extend(payload)
    return str(etree.tostring(doc, encoding="unicode"))


def plain_document(root: str, payload: Sequence[etree._Element]) -> str:
    """Success form of CreateList / GetListIdentity / GetFields: no errorCode at all."""
    doc = etree.Element(root)
    doc.extend(payload)
    return str(etree.tostring(doc, encoding="unicode"))


def plain_error(root: str, code: int, description: str) -> str:
    """Error form of the same: errorCode and an <Error> message."""
    doc = etree.Element(root)
    etree.SubElement(doc, "errorCode").text = str(code)
    etree.SubElement(doc, "Error").text = description
    return str(etree.tostring(doc, encoding="unicode"))
