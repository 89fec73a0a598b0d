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

from mailup_soap.config import Settings
from tests.conftest import run_jobs
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


def newsletter_sent(soap: ServiceFactory, key: str, list_id: int, subject: str, html: str,
                    settings: Settings) -> int:
    """A newsletter made and sent to the whole list from news@shop.example, delivered by
    the send jobs before this returns; its id."""
    created = parse(soap("Send").CreateNewsletter(accessKey=key, listID=list_id,
                                                  subject=subject, type="HTML", content=html))
    assert code(created) == 0, created
    message_id = int(created.findtext("newsletterID") or 0)
    sent = parse(soap("Send").SendNewsletter(
        accessKey=key, listID=list_id, newsletterID=message_id,
        options=options(send_to="ALL", from_email="news@shop.example")))
    assert code(sent) == 0, sent
    run_jobs(settings, "send")
    return message_id
