"""SMS through an HTTP gateway: one JSON POST per message. See `service_layer.ports.SmsGateway`.

The request is `{"from": sender, "to": "+<digits>", "text": text}` with
`Authorization: Bearer <token>` when a token is configured. A 2xx answer is accepted; the
gateway's message id is read from a JSON body (`id` or `message_id`), else the body's text.
4xx (except 408 and 429) refuses that number for good; anything else, or no answer within the
timeout, is the gateway failing: the delivery is retried later."""
from __future__ import annotations

import http.client
import json
import ssl
import urllib.parse

from mailup_soap.service_layer.ports import SmsGatewayError, SmsRefused

_RETRYABLE_4XX = (408, 429)  # request timeout, too many requests: try again later
_MAX_ANSWER = 64 * 1024


class HttpSmsGateway:
    def __init__(self, url: str, token: str = "", timeout: float = 10.0) -> None:
        self._url = urllib.parse.urlsplit(url)
        self._token = token
        self._timeout = timeout
        self._tls = ssl.create_default_context()

    def send(self, sender: str, number: str, text: str) -> str:
        body = json.dumps({"from": sender, "to": number, "text": text}).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        conn = self._connection()
        target = (self._url.path or "/") + ("?" + self._url.query if self._url.query else "")
        try:
            conn.request("POST", target, body=body, headers=headers)
            response = conn.getresponse()
            answer = response.read(_MAX_ANSWER)
        except (OSError, http.client.HTTPException) as exc:
            raise SmsGatewayError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            conn.close()
        if 200 <= response.status < 300:
            return _message_id(answer)
        reason = f"gateway answered {response.status}: {answer[:200].decode('utf-8', 'replace')}"
        if 400 <= response.status < 500 and response.status not in _RETRYABLE_4XX:
            raise SmsRefused(reason)
        raise SmsGatewayError(reason)

    def _connection(self) -> http.client.HTTPConnection:
        host, port = self._url.hostname or "", self._url.port
        if self._url.scheme == "https":
            return http.client.HTTPSConnection(host, port, timeout=self._timeout,
                                               context=self._tls)
        return http.client.HTTPConnection(host, port, timeout=self._timeout)


def _message_id(answer: bytes) -> str:
    text = answer.decode("utf-8", "replace").strip()
    try:
        parsed = json.loads(text)
    except ValueError:
        return text[:200]
    if isinstance(parsed, dict):
        for key in ("id", "message_id", "messageId"):
            if parsed.get(key) is not None:
                return str(parsed[key])[:200]
        return ""
    return str(parsed)[:200]
