"""Signed, tamper-proof tokens for links in emails (confirmation today)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from mailup_soap.errors import InvalidToken


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make(secret: str, purpose: str, payload: dict[str, Any]) -> str:
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(secret.encode(), f"{purpose}.{body}".encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def read(secret: str, purpose: str, token: str) -> dict[str, Any]:
    """The payload of a token made with the same secret and purpose; InvalidToken otherwise."""
    body, _, mac = (token or "").partition(".")
    expected = hmac.new(secret.encode(), f"{purpose}.{body}".encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(_unb64(mac), expected):
            raise InvalidToken("bad signature")
        payload = json.loads(_unb64(body))
    except (ValueError, TypeError):
        raise InvalidToken("malformed token") from None
    if not isinstance(payload, dict):
        raise InvalidToken("malformed token")
    return payload
