"""zeep clients built from MailUp's reference WSDLs, pointed at the test server; a
`mailup-soap worker` as a subprocess, and what a killed one looks like to the others."""
from __future__ import annotations

import contextlib
import os
import pathlib
import re
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
import sqlalchemy as sa
import zeep
from lxml import etree
from procrastinate.exceptions import AlreadyEnqueued
from zeep.transports import Transport

from mailup_soap import bootstrap
from mailup_soap.config import Settings
from mailup_soap.db import import_batch
from tests.conftest import ROOT

# Copies of MailUp's real WSDLs (shared/reference/wsdl), kept with the tests.
REFERENCE = pathlib.Path(__file__).resolve().parents[1] / "reference" / "wsdl"

WS = "{http://services.mailupnet.it/WS}"
IMPORT = "{http://ws.mailupnet.it/}"
PATHS = {"Manage": "/MailupManage.asmx", "Send": "/MailupSend.asmx",
         "Report": "/MailupReport.asmx", "Import": "/Services/WSMailupImport.asmx"}
BINDINGS = {"Manage": WS + "MailupManageSoap", "Send": WS + "MailupSendSoap",
            "Report": WS + "MailupReportSoap", "Import": IMPORT + "WSMailUpImportSoap"}

_clients: dict[str, zeep.Client] = {}


def reference_client(service: str) -> zeep.Client:
    if service not in _clients:
        _clients[service] = zeep.Client(str(REFERENCE / f"MailUp{service}.wsdl"),
                                        transport=Transport(cache=False))
    return _clients[service]


ServiceFactory = Callable[..., Any]


@pytest.fixture
def soap(server_url: str) -> ServiceFactory:
    """soap("Manage") -> a zeep service proxy at our server; soap12=True for the 1.2 binding."""
    def make(service: str, soap12: bool = False) -> Any:
        binding = BINDINGS[service] + ("12" if soap12 else "")
        return reference_client(service).create_service(binding, server_url + PATHS[service])
    return make


def parse(result: str) -> etree._Element:
    """Parse a result string (the Import ones carry an XML declaration)."""
    return etree.fromstring(result.encode("utf-8"))


def login(soap: ServiceFactory, account: Any, service: str = "Manage") -> str:
    doc = parse(soap(service).LoginFromId(user=account.console_user, pwd=account.password,
                                          consoleId=account.console_id))
    assert doc.findtext("errorCode") == "0", etree.tostring(doc)
    key = doc.findtext("accessKey")
    assert key
    return key


def new_list(soap: ServiceFactory, account: Any, name: str = "L") -> tuple[int, str]:
    """A new list of the account, created over Manage `CreateList`: (id, GUID)."""
    doc = parse(soap("Manage").CreateList(accessKey=login(soap, account), name=name,
                                          defaultSettings="default", copyTemplate=False))
    return int(doc.findtext("list/listID") or 0), doc.findtext("list/listGUID") or ""


def auth_header(account: Any, password: str | None = None, namespace: str = IMPORT) -> Any:
    header = reference_client("Import").get_element(IMPORT + "Authentication")
    return header(User=account.ws_user, Password=password or account.password)


def confirm_link(link: str) -> requests.Response:
    """What a recipient does with a confirmation link: open the page, press its button."""
    page = requests.get(link, timeout=10)
    form_token = re.search(r'name="t" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    return requests.post(link.split("?")[0], data={"t": form_token}, timeout=10)


CLI = str(ROOT / ".venv" / "bin" / "mailup-soap")


def start_worker(settings: Settings, log: pathlib.Path, *args: str) -> subprocess.Popen[bytes]:
    """`mailup-soap worker` (`args`: e.g. `--queue imports`) on the test database, its output
    in `log`."""
    env = os.environ | {"DATABASE_URL": settings.database_url,
                        "MAILUP_SECRET_KEY": "test-secret"}
    with log.open("wb") as out:
        return subprocess.Popen([CLI, "worker", *args], env=env, stdout=out,
                                stderr=subprocess.STDOUT)


def age_the_heartbeat_of_the_worker_running(engine: sa.Engine, task: str, arg: str,
                                            value: int) -> int:
    """What a dead worker looks like five minutes later: its heartbeat stopped then (the
    worker running the job of `task` whose argument `arg` is `value`). This drives the clock
    the stalled-job check reads instead of waiting for it."""
    with engine.begin() as conn:
        return conn.execute(sa.text(
            "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '5 minutes' "
            "WHERE id = (SELECT worker_id FROM procrastinate_jobs "
            "            WHERE task_name = :task AND status = 'doing' "
            "              AND (args->>:arg)::bigint = :value)"),
            {"task": task, "arg": arg, "value": value}).rowcount


def defer_the_stalled_jobs_check(settings: Settings) -> None:
    """Defer the periodic `retry_stalled_jobs` now: a worker defers it once per minute, and
    a worker started earlier in this minute may have done so already."""
    app = bootstrap.build_job_app(settings)
    # AlreadyEnqueued: one is waiting to run already, and the caller's worker runs it.
    with app.open(), contextlib.suppress(AlreadyEnqueued):
        app.configure_task("mailup:retry_stalled_jobs").defer(timestamp=int(time.time()))


def merged_rows(engine: sa.Engine, process_id: int, lanes_done: list[int]) -> int:
    """The staged rows of a process that its lanes have merged: each lane's rows up to the
    lane's recorded progress."""
    with engine.connect() as conn:
        return int(conn.execute(sa.text(
            f"SELECT count(*) FROM import_rows WHERE process_id = :p AND problem IS NULL "
            f"AND row_no <= (CAST(:done AS integer[]))[{import_batch.LANE_OF_ROW} + 1]"),
            {"p": process_id, "done": list(lanes_done), "lanes": len(lanes_done)}).scalar_one())
