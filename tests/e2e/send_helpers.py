"""What the Send and Report tests share: options as zeep takes them, a new list, a
subscriber written straight into the tables, queries, the errorCode of a result, a
message's HTML and a plain HTTP request (to follow the links inside it)."""
from __future__ import annotations

import email.message
import http.client
import secrets
import urllib.parse
from typing import Any

import sqlalchemy as sa

from tests.e2e.conftest import ServiceFactory, parse


def options(**pairs: str) -> dict[str, Any]:
    """An ArrayOfOption."""
    return {"Option": [{"Key": k, "Value": v} for k, v in pairs.items()]}


def new_list(soap: ServiceFactory, key: str, name: str = "Newsletter") -> int:
    doc = parse(soap("Manage").CreateList(accessKey=key, name=name, defaultSettings="",
                                          copyTemplate=False, options=None))
    return int(doc.findtext("list/listID") or 0)


def subscribe(engine: sa.Engine, account_id: int, list_id: int, email: str | None,
              status: str = "subscribed", name: str = "", mobile: str | None = None) -> int:
    """A recipient with that status on the list; an email is made up when none is given."""
    with engine.begin() as conn:
        rid = conn.execute(sa.text(
            "INSERT INTO recipients (account_id, email, mobile_number, field1) "
            "VALUES (:a, :e, :m, :n) RETURNING id"),
            {"a": account_id, "e": email or f"p-{secrets.token_hex(5)}@example.test",
             "m": mobile, "n": name or None}).scalar_one()
        conn.execute(sa.text(
            "INSERT INTO subscriptions (account_id, list_id, recipient_id, status) "
            "VALUES (:a, :l, :r, :s)"), {"a": account_id, "l": list_id, "r": rid, "s": status})
    return int(rid)


def query(engine: sa.Engine, sql: str, **params: Any) -> list[sa.Row[Any]]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(sql), params))


def code(doc: Any) -> int:
    return int(doc.findtext("errorCode"))


def html_part(message: email.message.EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def request(url: str, method: str = "GET", body: str = "") -> http.client.HTTPResponse:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
    conn.request(method, f"{parts.path}?{parts.query}", body=body or None, headers=headers)
    response = conn.getresponse()
    response.read()
    return response
