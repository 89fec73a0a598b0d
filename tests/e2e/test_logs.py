"""Passwords never reach the logs, whatever the request does wrong."""
from __future__ import annotations

import logging
import secrets

import pytest
import requests

from tests.conftest import AccountInfo
from tests.e2e.conftest import PATHS, ServiceFactory, auth_header, parse

pytestmark = pytest.mark.e2e


def _distinctive() -> str:
    return "Pw-" + secrets.token_hex(12)


# The test's own client side (zeep logs the envelopes it posts at DEBUG): not the server.
CLIENT_LOGGERS = ("zeep", "urllib3", "requests")


def _leaks(caplog: pytest.LogCaptureFixture, secret: str) -> list[str]:
    leaked = []
    for record in caplog.records:
        if record.name.split(".")[0] in CLIENT_LOGGERS:
            continue
        text = record.getMessage() + repr(record.args) + str(record.exc_text or "") + \
            repr(record.__dict__)
        if secret in text:
            leaked.append(f"{record.name}: {record.getMessage()[:200]}")
    return leaked


def test_a_failed_login_from_id_logs_no_password(
        soap: ServiceFactory, account: AccountInfo, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    password = _distinctive()

    doc = parse(soap("Manage").LoginFromId(user=account.console_user, pwd=password,
                                           consoleId=account.console_id))

    assert doc.findtext("errorCode") == "-1002"
    assert caplog.records, "DEBUG logging captured nothing: the test would prove nothing"
    assert _leaks(caplog, password) == []


def test_an_import_call_with_a_wrong_password_logs_no_password(
        soap: ServiceFactory, account: AccountInfo, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    password = _distinctive()

    doc = parse(soap("Import").GetNlLists(_soapheaders=[auth_header(account, password)]))

    assert doc.findtext("mailupBody/ReturnCode") == "-1002"
    assert _leaks(caplog, password) == []


@pytest.mark.parametrize("breakage", ["unclosed", "bad_type", "doctype", "unknown_op"])
def test_a_malformed_request_carrying_a_password_logs_no_password(
        server_url: str, account: AccountInfo, caplog: pytest.LogCaptureFixture,
        breakage: str) -> None:
    caplog.set_level(logging.DEBUG)
    password = _distinctive()
    operation = "DropAll" if breakage == "unknown_op" else "LoginFromId"
    console_id = "abc" if breakage == "bad_type" else str(account.console_id)
    body = ('<?xml version="1.0" encoding="utf-8"?>'
            + ('<!DOCTYPE x [<!ENTITY e "e">]>' if breakage == "doctype" else "")
            + '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            f'<{operation} xmlns="http://services.mailupnet.it/WS"><user>{account.console_user}'
            f'</user><pwd>{password}</pwd><consoleId>{console_id}</consoleId></{operation}>'
            + ("" if breakage == "unclosed" else "</soap:Body>") + "</soap:Envelope>")

    response = requests.post(server_url + PATHS["Manage"], data=body.encode(), timeout=30,
                             headers={"Content-Type": "text/xml; charset=utf-8"})

    assert response.status_code == 500
    assert password not in response.text
    assert _leaks(caplog, password) == []


def test_a_malformed_import_request_logs_no_header_password(
        server_url: str, account: AccountInfo, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    password = _distinctive()
    body = ('<?xml version="1.0" encoding="utf-8"?>'
            '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header>'
            f'<Authentication xmlns="http://ws.mailupnet.it/"><User>{account.ws_user}</User>'
            f'<Password>{password}</Password></Authentication></soap:Header><soap:Body>'
            '<CreateGroup xmlns="http://ws.mailupnet.it/"><idList>x</idList></CreateGroup>'
            '</soap:Body></soap:Envelope>')

    response = requests.post(server_url + PATHS["Import"], data=body.encode(), timeout=30,
                             headers={"Content-Type": "text/xml; charset=utf-8"})

    assert response.status_code == 500
    assert password not in response.text
    assert _leaks(caplog, password) == []
