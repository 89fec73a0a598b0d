"""Small WSGI helpers shared by the SOAP edge and the frontend (a leaf: imports nothing of
the package): replies, the caller's address, urlencoded parameters, path routing."""
from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterable, Sequence
from typing import Any

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def reply(start_response: StartResponse, status: str, ctype: str, body: bytes | str,
          extra_headers: Sequence[tuple[str, str]] = ()) -> list[bytes]:
    data = body.encode() if isinstance(body, str) else body
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(data))),
                            *extra_headers])
    return [data]


def caller_ip(environ: dict[str, Any], trust_forwarded_for: bool) -> str:
    """The client's address; behind a trusted proxy, the last X-Forwarded-For entry (the
    address the proxy saw)."""
    forwarded = str(environ.get("HTTP_X_FORWARDED_FOR", ""))
    if trust_forwarded_for and forwarded:
        return forwarded.split(",")[-1].strip()
    return str(environ.get("REMOTE_ADDR") or "")


def form_pairs(environ: dict[str, Any], limit: int) -> list[tuple[str, str]] | None:
    """Query string plus an urlencoded POST body, in order; None when the body is over
    `limit` bytes. A Content-Length that is not a number means no body."""
    pairs = urllib.parse.parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    length = environ.get("CONTENT_LENGTH") or "0"
    if environ.get("REQUEST_METHOD") != "POST" or not (length.isascii() and length.isdigit()):
        return pairs
    if int(length) > limit:
        return None
    body = environ["wsgi.input"].read(int(length)) if int(length) else b""
    ctype = environ.get("CONTENT_TYPE", "").lower()
    if body and (ctype.startswith("application/x-www-form-urlencoded") or not ctype):
        pairs += urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    return pairs


class Router:
    """Case-insensitive path routing (IIS matches MailUp's paths in any case)."""

    def __init__(self, routes: dict[str, WsgiApp]) -> None:
        self.routes = {path.lower(): app for path, app in routes.items()}

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = (environ.get("PATH_INFO") or "/").rstrip("/").lower()
        app = self.routes.get(path)
        if app is None:
            return reply(start_response, "404 Not Found", "text/plain; charset=utf-8",
                         b"not found\n")
        return app(environ, start_response)
