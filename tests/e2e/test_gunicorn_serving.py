"""The production path: `mailup-soap serve` (gunicorn, sync workers) in its own process."""
from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests

from tests.conftest import AccountInfo

pytestmark = pytest.mark.e2e

LIMIT = 64 * 1024
SERVICES_NS = "http://services.mailupnet.it/WS"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def gunicorn_url(database_url: str) -> Iterator[str]:
    port = _free_port()
    env = dict(os.environ, DATABASE_URL=database_url, MAILUP_MAX_BODY_BYTES=str(LIMIT),
               MAILUP_PUBLIC_URL="https://soap.example.test",
               MAILUP_SECRET_KEY="test-secret")
    cli = os.path.join(os.path.dirname(sys.executable), "mailup-soap")
    proc = subprocess.Popen([cli, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(url + "/MailupManage.asmx?WSDL", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        else:
            pytest.fail("mailup-soap serve did not come up")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def _login_body(account: AccountInfo, padding: str = "") -> bytes:
    return (f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            f'<LoginFromId xmlns="{SERVICES_NS}"><user>{account.console_user}{padding}</user>'
            f"<pwd>{account.password}</pwd><consoleId>{account.console_id}</consoleId>"
            "</LoginFromId></soap:Body></soap:Envelope>").encode()


def _post_chunked(url: str, body: bytes) -> tuple[int, bytes]:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    chunks = (body[i:i + 8192] for i in range(0, len(body), 8192))
    conn.request("POST", "/MailupManage.asmx", body=chunks, encode_chunked=True,
                 headers={"Content-Type": "text/xml; charset=utf-8",
                          "Transfer-Encoding": "chunked"})
    response = conn.getresponse()
    return response.status, response.read()


def test_gunicorn_serves_logins_and_the_wsdl_with_the_public_address(
        gunicorn_url: str, account: AccountInfo) -> None:
    wsdl = requests.get(gunicorn_url + "/MailupManage.asmx?wsdl", timeout=5).text
    status, body = _post_chunked(gunicorn_url, _login_body(account))

    assert 'location="https://soap.example.test/MailupManage.asmx"' in wsdl
    assert status == 200 and b"accessKey&gt;" in body


def test_a_chunked_body_over_the_limit_is_refused_not_truncated(
        gunicorn_url: str, account: AccountInfo) -> None:
    status, body = _post_chunked(gunicorn_url, _login_body(account, "x" * (LIMIT + 10)))

    assert status == 500
    assert b"Client.RequestTooLong" in body
