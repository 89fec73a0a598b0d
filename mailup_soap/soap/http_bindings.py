"""ASMX's HttpGet and HttpPost bindings of the Import service: `<path>/<Op>?param=value`,
answered with `<string xmlns="...">escaped result</string>`. They carry no Authentication
header: as at MailUp, the caller's IP must be registered for the account (WSActivation)."""
from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from lxml import etree
from spyne import Fault

from mailup_soap.domain.contacts import NOT_XML
from mailup_soap.service_layer.deps import Deps, RegisteredCaller
from mailup_soap.soap.operations import Op, invoke
from mailup_soap.soap.types import Bool, Int
from mailup_soap.web import StartResponse, caller_ip, form_pairs, reply

log = logging.getLogger("mailup_soap.soap")


class BadParameterError(ValueError):
    pass


def _convert(name: str, kind: Any, raw: str | None) -> Any:
    if kind is Int:
        try:
            return int((raw or "").strip())
        except ValueError:
            raise BadParameterError(f"{name}: '{raw}' is not an integer") from None
    if kind is Bool:
        value = (raw or "").strip().lower()
        if value not in ("true", "false", "1", "0"):
            raise BadParameterError(f"{name}: '{raw}' is not a boolean") from None
        return value in ("true", "1")
    return raw


class HttpBindingEndpoint:
    def __init__(self, spec: Any, deps: Deps, max_body: int,
                 trust_forwarded_for: bool = False) -> None:
        self.ops = {op.name.lower(): op for op in spec.operations}
        self.spec, self.deps, self.max_body = spec, deps, max_body
        self.trust_forwarded_for = trust_forwarded_for

    def _params(self, environ: dict[str, Any]) -> dict[str, str]:
        pairs = form_pairs(environ, self.max_body)
        if pairs is None:
            raise BadParameterError("request body too large")
        for key, value in pairs:  # no answer could carry one; PostgreSQL refuses NUL
            if NOT_XML.search(key) or NOT_XML.search(value):
                raise BadParameterError(f"{key}: a control character")
        return {k.lower(): v for k, v in pairs}  # ASMX matches names case-insensitively

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        name = (environ.get("PATH_INFO") or "").rstrip("/").rsplit("/", 1)[-1].lower()
        op: Op = self.ops[name]
        try:
            params = self._params(environ)
            args = [_convert(n, kind, params.get(n.lower())) for n, kind in op.params]
            cred = RegisteredCaller(environ.get("HTTP_HOST", ""),
                                    caller_ip(environ, self.trust_forwarded_for))
            result = invoke(self.spec.style, op, self.deps, None, args, cred=cred)
        except BadParameterError as exc:
            return reply(start_response, "500 Internal Server Error", "text/plain", str(exc))
        except Fault as fault:
            return reply(start_response, "500 Internal Server Error", "text/plain",
                          f"{fault.faultcode}: {fault.faultstring}")
        doc = etree.Element(f"{{{self.spec.namespace}}}string", nsmap={None: self.spec.namespace})
        doc.text = str(result)
        body = etree.tostring(doc, xml_declaration=True, encoding="utf-8")
        return reply(start_response, "200 OK", "text/xml; charset=utf-8", body)

