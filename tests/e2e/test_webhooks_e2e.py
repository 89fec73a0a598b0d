"""Webhooks end to end: the CLI configures them, the real frontend causes events, real
procrastinate workers (in process and as killed subprocesses) post them to a real receiver."""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import pathlib
import re
import secrets
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from mailup_soap.config import Settings
from mailup_soap.db import tables as t
from mailup_soap.service_layer import webhooks
from mailup_soap.service_layer.deps import Deps
from tests.conftest import AccountInfo, run_jobs
from tests.e2e.conftest import (
    CLI,
    ServiceFactory,
    age_the_heartbeat_of_the_worker_running,
    defer_the_stalled_jobs_check,
    login,
    parse,
    start_worker,
)
from tests.receiver import ReceivedRequest, Receiver

pytestmark = pytest.mark.e2e


def _cli(settings: Settings, *args: str) -> str:
    done = subprocess.run([CLI, *args], env=os.environ | {"DATABASE_URL": settings.database_url},
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _new_list(soap: ServiceFactory, account: AccountInfo) -> int:
    doc = parse(soap("Manage").CreateList(accessKey=login(soap, account), name="News",
                                          defaultSettings="default", copyTemplate=False))
    return int(doc.findtext("list/listID") or 0)


def _activate(server_url: str, account: AccountInfo) -> None:
    answer = requests.get(server_url + "/frontend/WSActivation.aspx", params={
        "usr": account.ws_user, "pwd": account.password, "nl_url": account.host,
        "ws_name": "FrontEnd"}, timeout=10)
    assert "<ReturnCode>0</ReturnCode>" in answer.text


def _subscribe(server_url: str, account: AccountInfo, list_id: int) -> str:
    address = f"ann.{secrets.token_hex(5)}@example.test"
    answer = requests.post(f"{server_url}/frontend/xmlSubscribe.aspx", timeout=10,
                           data={"Email": address, "List": list_id, "Confirm": "0"},
                           headers={"Host": account.host})
    assert answer.text == "0"
    return address


def _signature(secret: str, request: ReceivedRequest) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = (f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}."
              .encode() + request.signed_payload)
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def _delivery_rows(engine: sa.Engine, hook_id: int) -> list[sa.Row[Any]]:
    d = t.webhook_deliveries.c
    with engine.connect() as conn:
        return list(conn.execute(sa.select(d.id, d.msg_id, d.status, d.attempts)
                                 .where(d.webhook_id == hook_id)))


@pytest.fixture(autouse=True)
def _disable_hooks_afterwards(deps: Deps, account: AccountInfo) -> Iterator[None]:
    """Leave no hook of the test for later workers to call once its receiver is gone."""
    yield
    for hook in webhooks.list_webhooks(deps, account.console_id):
        webhooks.set_webhook_active(deps, hook.id, False)


def test_a_webhook_added_with_the_cli_receives_a_subscription_made_on_the_frontend(
        server_url: str, server_settings: Settings, soap: ServiceFactory,
        account: AccountInfo, deps: Deps) -> None:
    list_id = _new_list(soap, account)
    _activate(server_url, account)
    with Receiver() as receiver:
        added = _cli(server_settings, "webhook", "add", "--account", str(account.console_id),
                     "--list", str(list_id), "--url", receiver.url + "/mailup/subscribe",
                     "--events", "SUBSCRIBE", "--sources", "API",
                     "--param", "customerEmail=[Email]", "--param", "customerList=[IdList]",
                     "--param", "evt=[EventType]")
        secret = re.search(r"signing secret: (whsec_\S+)", added).group(1)  # type: ignore[union-attr]

        address = _subscribe(server_url, account, list_id)
        run_jobs(server_settings, "webhooks")

        [request] = receiver.wait_for(1)
    assert (request.method, request.path) == ("POST", "/mailup/subscribe")
    assert request.form == {"customerEmail": address, "customerList": str(list_id),
                            "evt": "SUBSCRIBE"}
    assert request.headers["webhook-signature"] == _signature(secret, request)


def test_webhook_list_shows_each_hook_with_its_state_filters_and_target(
        server_settings: Settings, soap: ServiceFactory, account: AccountInfo,
        deps: Deps) -> None:
    list_id = _new_list(soap, account)
    hook = webhooks.add_webhook(deps, account.console_id, list_id, "http://crm.example.test/h",
                                method="GET", events=["SUBSCRIBE", "UNSUBSCRIBE"],
                                sources=["API"], rc4_key="k")

    listed = _cli(server_settings, "webhook", "list", "--account", str(account.console_id))

    assert listed == (f"{hook.id}\tactive\taccount {account.console_id} list {list_id}\t"
                      "GET http://crm.example.test/h\t"
                      "events=subscription_confirmed,unsubscribed\tsources=API\tRC4\n")


def test_webhook_deliveries_shows_a_delivery_its_webhook_id_and_its_attempts(
        server_url: str, server_settings: Settings, soap: ServiceFactory,
        account: AccountInfo, deps: Deps) -> None:
    list_id = _new_list(soap, account)
    _activate(server_url, account)
    with Receiver() as receiver:
        hook = webhooks.add_webhook(deps, account.console_id, list_id, receiver.url + "/crm")
        _subscribe(server_url, account, list_id)
        run_jobs(server_settings, "webhooks")
        [request] = receiver.wait_for(1)

        shown = _cli(server_settings, "webhook", "deliveries", "--webhook", str(hook.id))

    delivery, attempt = shown.splitlines()
    assert delivery.split("\t")[3:6] == [request.headers["webhook-id"], "succeeded",
                                         "attempts=1"]
    assert attempt.startswith("\t") and attempt.split("\t")[2] == "200"


# --- a worker killed in the middle of a delivery ------------------------------------------


def test_no_event_is_lost_when_a_worker_is_killed_in_the_middle_of_a_delivery(
        server_url: str, server_settings: Settings, soap: ServiceFactory,
        account: AccountInfo, deps: Deps, engine: sa.Engine, tmp_path: pathlib.Path) -> None:
    list_id = _new_list(soap, account)
    _activate(server_url, account)
    with Receiver(hold=1) as receiver:
        hook = webhooks.add_webhook(deps, account.console_id, list_id, receiver.url + "/crm")
        address = _subscribe(server_url, account, list_id)
        [delivery_id] = [row.id for row in _delivery_rows(engine, hook.id)]
        worker = start_worker(server_settings, tmp_path / "worker.log")
        try:
            [interrupted] = receiver.wait_for(1, timeout=10)
        finally:
            worker.kill()  # SIGKILL: no shutdown, no cleanup, the request stays in flight
            worker.wait(timeout=5)
        receiver.release()
        aged = age_the_heartbeat_of_the_worker_running(engine, "mailup:deliver_webhook",
                                                       "delivery_id", delivery_id)

        defer_the_stalled_jobs_check(server_settings)
        run_jobs(server_settings, "maintenance", "webhooks")

        _, retried = receiver.wait_for(2)
    assert aged == 1, (tmp_path / "worker.log").read_text()
    assert retried.form["email"] == interrupted.form["email"] == address
    assert retried.headers["webhook-id"] == interrupted.headers["webhook-id"]
    [row] = _delivery_rows(engine, hook.id)
    assert (row.msg_id, row.status, row.attempts) == (
        interrupted.headers["webhook-id"], "succeeded", 1)
    assert len(receiver.requests) == 2
