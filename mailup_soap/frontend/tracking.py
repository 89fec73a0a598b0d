"""The links inside delivered messages: opens (a pixel), clicks (a redirect to the URL signed
into the link, so never an open redirect), the unsubscribe page (its button POSTs, reason 2),
and the List-Unsubscribe one-click POST (RFC 8058, reason 32)."""
from __future__ import annotations

import base64
import html
import logging
from collections.abc import Iterable
from typing import Any

from mailup_soap import errors
from mailup_soap.frontend.app import read_params
from mailup_soap.service_layer import tracking
from mailup_soap.service_layer.deps import Deps
from mailup_soap.web import StartResponse, caller_ip, reply

log = logging.getLogger("mailup_soap.tracking")

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title></head><body><main><h1>{title}</h1>{content}</main></body></html>"""
_NO_STORE = [("Cache-Control", "no-store")]


def _page(start_response: StartResponse, status: str, title: str,
          content: str) -> list[bytes]:
    return reply(start_response, status, "text/html; charset=utf-8",
                 _PAGE.format(title=title, content=content), _NO_STORE)


class Tracking:
    def __init__(self, deps: Deps, trust_forwarded_for: bool = False) -> None:
        self.deps = deps
        self.trust_forwarded_for = trust_forwarded_for

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        kind = (environ.get("PATH_INFO") or "").rstrip("/").rsplit("/", 1)[-1].lower()
        method = environ.get("REQUEST_METHOD", "GET")
        try:
            params = read_params(environ)
            token = params.get("t", "")
            if kind == "o":
                tracking.track(self.deps, "o", token, caller_ip(environ,
                                                               self.trust_forwarded_for))
                return reply(start_response, "200 OK", "image/gif", PIXEL, _NO_STORE)
            if kind == "c":
                link = tracking.track(self.deps, "c", token,
                                     caller_ip(environ, self.trust_forwarded_for))
                start_response("302 Found", [("Location", link.url or "/"),
                                             ("Content-Length", "0"), *_NO_STORE])
                return [b""]
            if kind == "oneclick":
                if method != "POST":
                    return reply(start_response, "405 Method Not Allowed", "text/plain",
                                 b"POST List-Unsubscribe=One-Click\n", [("Allow", "POST")])
                tracking.unsubscribe_from_message(self.deps, "oneclick", token)
                return reply(start_response, "200 OK", "text/plain", b"unsubscribed\n",
                             _NO_STORE)
            if kind == "u":
                return self._unsubscribe_page(start_response, method, token)
        except errors.InvalidToken:
            return _page(start_response, "404 Not Found", "Link not valid",
                         "<p>This link is not valid.</p>")
        except errors.MailUpError:
            return _page(start_response, "400 Bad Request", "Bad request", "")
        return reply(start_response, "404 Not Found", "text/plain", b"not found\n")

    def _unsubscribe_page(self, start_response: StartResponse, method: str,
                          token: str) -> list[bytes]:
        """GET shows a button; only the POST unsubscribes (link scanners change nothing)."""
        tracking.read_link(self.deps, "u", token)  # a bad link fails before any page
        if method != "POST":
            form = (f'<form method="post"><input type="hidden" name="t" '
                    f'value="{html.escape(token)}"><button type="submit">Unsubscribe me'
                    "</button></form>")
            return _page(start_response, "200 OK", "Unsubscribe", form)
        tracking.unsubscribe_from_message(self.deps, "u", token)
        return _page(start_response, "200 OK", "You are unsubscribed",
                     "<p>You will not receive these messages any more.</p>")


def tracking_routes(deps: Deps, trust_forwarded_for: bool = False) -> dict[str, Tracking]:
    app = Tracking(deps, trust_forwarded_for)
    return {f"{tracking.TRACK_PATH}/{kind}": app for kind in ("o", "c", "u", "oneclick")}
