"""Webhook requests over HTTP(S). See `service_layer.ports.WebhookPoster`."""
from __future__ import annotations

import http.client
import ssl
import urllib.parse

from mailup_soap.domain.webhooks import OutgoingRequest
from mailup_soap.service_layer.ports import PosterError


class HttpPoster:
    """One request per attempt; redirects are not followed (a receiver answers, or fails)."""

    def __init__(self) -> None:
        self._tls = ssl.create_default_context()

    def send(self, request: OutgoingRequest, timeout: float) -> int:
        url = urllib.parse.urlsplit(request.url)
        conn: http.client.HTTPConnection
        if url.scheme == "https":
            conn = http.client.HTTPSConnection(url.hostname or "", url.port, timeout=timeout,
                                               context=self._tls)
        else:
            conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=timeout)
        target = (url.path or "/") + ("?" + url.query if url.query else "")
        try:
            conn.request(request.method, target, body=request.body or None,
                         headers=request.headers)
            response = conn.getresponse()
            response.read(64 * 1024)  # drain a little so the connection closes cleanly
            return response.status
        except (OSError, http.client.HTTPException) as exc:
            raise PosterError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            conn.close()
