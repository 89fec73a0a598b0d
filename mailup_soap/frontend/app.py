"""The real-time HTTP endpoints under /frontend/ (xmlSubscribe.aspx and friends), and the
double opt-in confirmation page. Every answer of the xml*.aspx endpoints is a bare integer
code with HTTP 200, whatever happens (spec 6 and 10)."""
from __future__ import annotations

import html
import logging
from collections.abc import Callable, Iterable
from typing import Any

from lxml import etree
from lxml.builder import E

from mailup_soap import errors
from mailup_soap.domain import contacts
from mailup_soap.domain.lifecycle import Outcome
from mailup_soap.domain.model import UnsubscribeReason
from mailup_soap.frontend import codes
from mailup_soap.service_layer import subscriptions as subs
from mailup_soap.service_layer.deps import Deps
from mailup_soap.web import StartResponse, caller_ip, form_pairs, reply

log = logging.getLogger("mailup_soap.frontend")

Params = dict[str, str]
# Form posts of a subscription are a few hundred bytes; anything near this is not one.
MAX_FORM_BYTES = 64 * 1024
_TRUE = ("1", "true", "yes", "on")


def read_params(environ: dict[str, Any]) -> Params:
    """Query string and urlencoded form, names lower-cased (clients send `List` and `list`);
    a repeated name (`list=1&list=2`) joins its values with commas. A control character
    (which no answer could carry, and PostgreSQL refuses NUL) makes the request invalid."""
    pairs = form_pairs(environ, MAX_FORM_BYTES)
    if pairs is None:
        raise errors.InvalidArgument("body", "too large")
    params: Params = {}
    for key, value in pairs:
        if contacts.NOT_XML.search(key) or contacts.NOT_XML.search(value):
            raise errors.InvalidArgument(key, "holds a control character")
        name = key.strip().lower()
        params[name] = f"{params[name]},{value}" if name in params else value
    return params


def _contact(params: Params) -> subs.Contact:
    """`Sms` without `+` or `00` takes the list's default prefix (spec 6.1)."""
    email, number = contacts.normalize_email(params.get("email")), params.get("sms")
    if contacts.lacks_international_prefix(number):
        return subs.Contact(email, None, local_number=number or "")
    return subs.Contact(email, contacts.normalize_mobile(number))


def _list_id(params: Params) -> int:
    ids = contacts.parse_ids(params.get("list"))
    if len(ids) != 1:
        raise errors.ListNotSpecified()
    return ids[0]


def _confirm_list_id(params: Params) -> int | None:
    """ConfirmListID: the one list whose confirmation request covers all the lists."""
    ids = contacts.parse_ids(params.get("confirmlistid"))
    if len(ids) > 1:
        raise errors.InvalidArgument("ConfirmListID", "names more than one list")
    return ids[0] if ids else None


def subscribe(deps: Deps, account_id: int, ip: str, params: Params) -> int:
    try:
        outcome = subs.subscribe(
            deps, account_id, ip, contacts.parse_ids(params.get("list")), _contact(params),
            confirm=params.get("confirm", "1").strip().lower() in _TRUE,
            group_ids=contacts.parse_ids(params.get("group")),
            fields=contacts.parse_fields(params.get("csvfldnames"), params.get("csvfldvalues")),
            sender=subs.Sender(params.get("dynsndmail", ""), params.get("dynsndname", "")),
            confirm_list_id=_confirm_list_id(params))
    except errors.MailUpError as exc:
        return codes.for_error(exc, invalid_contact=2)
    return codes.SUBSCRIBE[outcome]


def check(deps: Deps, account_id: int, ip: str, params: Params) -> int:
    try:
        found = subs.status(deps, account_id, ip, _list_id(params), params.get("listguid"),
                            _contact(params))
    except errors.MailUpError as exc:
        return codes.for_error(exc)
    return codes.CHECK[found]


def unsubscribe(deps: Deps, account_id: int, ip: str, params: Params) -> int:
    try:
        outcome = subs.unsubscribe(deps, account_id, ip, _list_id(params),
                                   params.get("listguid"), _contact(params),
                                   UnsubscribeReason.ADMIN)
    except errors.MailUpError as exc:
        return codes.for_error(exc)
    return codes.UNSUBSCRIBE[outcome]


def update(deps: Deps, account_id: int, ip: str, params: Params) -> int:
    try:
        outcome = subs.update(
            deps, account_id, ip, _list_id(params), params.get("listguid"), _contact(params),
            group_ids=contacts.parse_ids(params.get("group")),
            replace=params.get("replace", "0").strip().lower() in _TRUE,
            fields=contacts.parse_fields(params.get("csvfldnames"), params.get("csvfldvalues"),
                                         strict=True))
    except errors.MailUpError as exc:
        return codes.for_error(exc)
    return codes.UPDATE[outcome]


ENDPOINTS: dict[str, Callable[[Deps, int, str, Params], int]] = {
    "xmlsubscribe.aspx": subscribe,
    "xmlchksubscriber.aspx": check,
    "xmlunsubscribe.aspx": unsubscribe,
    "xmlupdsubscriber.aspx": update,
}


def activation(deps: Deps, ip: str, params: Params) -> bytes:
    """WSActivation.aspx: register the caller's IP for the account (spec 1.4)."""
    missing = sum(code for name, code in codes.MISSING_PARAMETER.items()
                  if not params.get(name, "").strip())
    if missing:
        return activation_reply(missing)
    try:
        added = subs.register_caller(deps, params["usr"], params["pwd"],
                                     params["ws_name"].strip(), ip)
    except errors.AuthenticationError as exc:
        return activation_reply(codes.for_auth_error(exc))
    except errors.MailUpError:
        return activation_reply(codes.REGISTRATION_ERROR)
    except Exception:
        log.exception("unexpected error in /frontend/WSActivation.aspx")
        return activation_reply(codes.REGISTRATION_ERROR)
    if not added:
        return activation_reply(codes.ALREADY_ACTIVE)
    return activation_reply(0, E.WS_Activation(
        E.WS_Name(params["ws_name"]), E.DateOfRequest(deps.clock.now().date().isoformat()),
        E.User(params["usr"])))


def activation_reply(code: int, *content: etree._Element) -> bytes:
    body = E.mailupBody(E.ReturnCode(str(code)), *content)
    return bytes(etree.tostring(E.mailupMessage(body), xml_declaration=True, encoding="utf-8"))


_PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head><body><main><h1>{title}</h1>{content}</main></body></html>"""


def confirm_page(deps: Deps, method: str, params: Params) -> tuple[str, bytes]:
    """GET shows a button, only the POST confirms: mail scanners that fetch links confirm
    nothing."""
    token = params.get("t", "")
    try:
        if method != "POST":
            outcome = subs.confirm(deps, token, dry_run=True)
            if outcome is Outcome.CHANGED:
                form = (f'<form method="post"><input type="hidden" name="t" '
                        f'value="{html.escape(token)}"><button type="submit">'
                        "Confirm my subscription</button></form>")
                return "200 OK", _PAGE.format(title="Confirm your subscription",
                                              content=form).encode()
        else:
            outcome = subs.confirm(deps, token)
    except errors.MailUpError:
        outcome = Outcome.UNKNOWN
    if outcome in (Outcome.CHANGED, Outcome.ALREADY):
        return "200 OK", _PAGE.format(title="Subscription confirmed",
                                      content="<p>Thank you: you are subscribed.</p>").encode()
    return "404 Not Found", _PAGE.format(
        title="Link not valid", content="<p>This confirmation link is not valid any more."
        "</p>").encode()


class Frontend:
    def __init__(self, deps: Deps, trust_forwarded_for: bool = False) -> None:
        self.deps = deps
        self.trust_forwarded_for = trust_forwarded_for

    def _ip(self, environ: dict[str, Any]) -> str:
        return caller_ip(environ, self.trust_forwarded_for)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        name = (environ.get("PATH_INFO") or "").rstrip("/").rsplit("/", 1)[-1].lower()
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            params = read_params(environ)
        except errors.MailUpError:
            if name == "wsactivation.aspx":
                return _reply(start_response, "200 OK", "text/xml; charset=utf-8",
                              activation_reply(codes.ACTIVATION_ERROR))
            return _reply(start_response, "200 OK", "text/plain", b"1")
        if name == "confirm.aspx":
            status, page = confirm_page(self.deps, method, params)
            return _reply(start_response, status, "text/html; charset=utf-8", page)
        if name == "wsactivation.aspx":
            return _reply(start_response, "200 OK", "text/xml; charset=utf-8",
                          activation(self.deps, self._ip(environ), params))
        account_id = subs.account_for_host(self.deps, environ.get("HTTP_HOST", ""))
        code = codes.GENERIC_ERROR
        if account_id is not None:
            try:
                code = ENDPOINTS[name](self.deps, account_id, self._ip(environ), params)
            except Exception:
                log.exception("unexpected error in /frontend/%s", name)
        return _reply(start_response, "200 OK", "text/plain; charset=utf-8", str(code).encode())


def _reply(start_response: StartResponse, status: str, ctype: str, body: bytes) -> list[bytes]:
    return reply(start_response, status, ctype, body, [("Cache-Control", "no-store")])


def frontend_routes(deps: Deps, trust_forwarded_for: bool = False) -> dict[str, Frontend]:
    app = Frontend(deps, trust_forwarded_for)
    names = [*ENDPOINTS, "wsactivation.aspx", "confirm.aspx"]
    return {f"/frontend/{name}": app for name in names}
