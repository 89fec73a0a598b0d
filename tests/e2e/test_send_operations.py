"""The rest of Send's email operations over real HTTP: create-and-send, one-to-one sends,
clones, schedules and queues, URL and FILE messages, and the per-account rate limits."""
from __future__ import annotations

import base64
import concurrent.futures
import dataclasses
import datetime as dt
import http.server
import pathlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from mailup_soap import bootstrap
from mailup_soap.adapters.page_fetch import HttpPageFetcher
from mailup_soap.config import Settings
from mailup_soap.service_layer import delivery_engine, message_nl, sending
from mailup_soap.service_layer.deps import AccessKey
from tests.conftest import AccountInfo, HeldRead, SmtpSink, run_jobs
from tests.e2e.conftest import ServiceFactory, auth_header, login, parse
from tests.e2e.send_helpers import code as _code
from tests.e2e.send_helpers import options as _options
from tests.e2e.send_helpers import query as _q
from tests.e2e.test_send_service import _email, _list, _newsletter, _subscribe

pytestmark = pytest.mark.e2e


def test_send_newsletter_fast_creates_the_message_and_sends_it(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine, smtp: SmtpSink,
        server_settings: Settings) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    who = _email("fast")
    _subscribe(engine, account.console_id, list_id, who, "subscribed", "Fay")

    doc = parse(soap("Send").SendNewsletterFast(
        accessKey=key, listID=list_id, subject="Hi [campo1]", type="HTML",
        content="<p>Fast</p>", options=_options(send_to="ALL", note="quick",
                                                from_email="fast@shop.example")))
    run_jobs(server_settings, "send")

    assert _code(doc) == 0 and doc.findtext("deliveryStatus/toSend") == "1"
    listed = parse(soap("Send").GetNewsletters(accessKey=key, listID=list_id))
    assert [(n.findtext("newsletterID"), n.findtext("note")) for n in listed.iter("newsletter")
            ] == [(doc.findtext("newsletterID"), "quick")]
    [message] = smtp.to(who)
    assert message["Subject"] == "Hi Fay" and "fast@shop.example" in message["From"]


def test_send_newsletter_fast_with_bad_send_options_creates_no_message(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)

    doc = parse(soap("Send").SendNewsletterFast(
        accessKey=key, listID=list_id, subject="x", type="HTML", content="<p>x</p>",
        options=_options(send_to="NOBODY")))

    assert _code(doc) == -1105
    assert _q(engine, "SELECT id FROM messages WHERE account_id = :a",
              a=account.console_id) == []


def test_send_single_newsletter_subscribes_a_new_address_and_refuses_an_unsubscribed_one(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine, smtp: SmtpSink,
        server_settings: Settings) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    newcomer, gone = _email("new"), _email("gone")
    _subscribe(engine, account.console_id, list_id, gone, "unsubscribed")
    send = soap("Send")

    created = parse(send.SendSingleNewsletter(
        accessKey=key, listID=list_id, subject="Your order", type="HTML",
        content="<p>Thanks</p>", recipientEmail=f" {newcomer} ", options=None))
    by_id = parse(send.SendSingleNewsletter(
        accessKey=key, listID=list_id, subject="", type="ID",
        content=created.findtext("newsletterID"), recipientEmail=newcomer, options=None))
    refused = parse(send.SendSingleNewsletter(
        accessKey=key, listID=list_id, subject="Your order", type="HTML",
        content="<p>Thanks</p>", recipientEmail=gone, options=None))
    bad = parse(send.SendSingleNewsletter(
        accessKey=key, listID=list_id, subject="x", type="HTML", content="<p>x</p>",
        recipientEmail="not-an-address", options=None))
    run_jobs(server_settings, "send")

    assert (_code(created), _code(by_id), _code(refused), _code(bad)) == (0, 0, -1105, -1105)
    assert len(_q(engine, "SELECT id FROM messages WHERE account_id = :a",
                  a=account.console_id)) == 1  # the refused sends left no message behind
    assert len(smtp.to(newcomer)) == 2 and smtp.to(gone) == []
    assert _q(engine, """SELECT s.status FROM subscriptions s JOIN recipients r
                         ON r.account_id = s.account_id AND r.id = s.recipient_id
                         WHERE r.email = :e""", e=newcomer) == [("subscribed",)]
    assert ("subscription_confirmed",) in _q(
        engine, "SELECT type FROM events WHERE email = :e", e=newcomer)


def test_clone_message_copies_into_the_list_and_get_messages_leaves_clones_out(
        soap: ServiceFactory, account: AccountInfo) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    original = _newsletter(soap, key, list_id, subject="Original")
    send = soap("Send")
    guid = parse(soap("Manage").GetLists(accessKey=key)).findtext("lists/list/listGUID")

    copy_id = send.CloneMessage(accessKey=key, listId=str(list_id), listGuid="",
                                messageToCloneId=original, subject="Copy")
    by_guid = send.CloneMessage(accessKey=key, listId="", listGuid=guid,
                                messageToCloneId=original, subject="")
    missing = send.CloneMessage(accessKey=key, listId=str(list_id), listGuid="",
                                messageToCloneId=original + 1000, subject="x")
    code = parse(send.GetNewsletterCode(accessKey=key, listID=list_id, newsletterID=copy_id,
                                        isTemplate=False))

    assert copy_id > original and by_guid > copy_id and missing == -1106
    assert code.findtext("subject") == "Copy" and "Sale" in (code.findtext("body") or "")
    all_subjects = [n.findtext("subject") for n in parse(send.GetNewsletters(
        accessKey=key, listID=list_id)).iter("newsletter")]
    messages = [n.findtext("subject") for n in parse(send.GetMessages(
        accessKey=key, listID=list_id)).iter("newsletter")]
    assert (all_subjects, messages) == (["Original", "Copy", "Original"], ["Original"])


def test_a_prepared_schedule_waits_and_is_queued_moved_sent_now_or_removed(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine, smtp: SmtpSink,
        server_settings: Settings) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    who = _email("sched")
    _subscribe(engine, account.console_id, list_id, who, "subscribed")
    newsletter_id = _newsletter(soap, key, list_id)
    send = soap("Send")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)

    first = parse(send.PrepareNewsletterSchedule(
        accessKey=key, listID=list_id, newsletterID=newsletter_id,
        deliveryDate=f"{later:%Y-%m-%d}", deliveryTime="09:30", adminEmail="", idUser=0,
        note=""))
    second = parse(send.PrepareNewsletterSchedule(
        accessKey=key, listID=list_id, newsletterID=newsletter_id,
        deliveryDate=f"{later:%d/%m/%Y}", deliveryTime="10:00", adminEmail="", idUser=0,
        note=""))
    first_id, second_id = int(first.findtext("deliveryID") or 0), int(
        second.findtext("deliveryID") or 0)
    run_jobs(server_settings, "send")
    queued = parse(send.GetNewsletterQueues(accessKey=key, listID=list_id))
    moved = parse(send.ScheduleNewsletterQueue(
        accessKey=key, listID=list_id, newsletterID=newsletter_id, scheduleID=second_id,
        deliverydt=f"{later:%Y%m%d}120000", timezone=2))
    removed = parse(send.RemoveNewsletterQueue(
        accessKey=key, listID=list_id, newsletterID=newsletter_id, deliveryID=second_id,
        scheduleID=second_id, deleteQueue=True))
    now = parse(send.AddNewsletterQueue(accessKey=key, deliveryID=first_id, immediate=True))
    run_jobs(server_settings, "send")
    status = parse(send.GetNewsletterScheduleStatus(accessKey=key, newsletterID=newsletter_id))
    bad_date = parse(send.PrepareNewsletterSchedule(
        accessKey=key, listID=list_id, newsletterID=newsletter_id, deliveryDate="someday",
        deliveryTime="", adminEmail="", idUser=0, note=""))

    assert [(q.findtext("deliveryID"), q.findtext("status"), q.findtext("deliverydt"))
            for q in queued.iter("queue")] == [
        (str(first_id), "SCHEDULED", f"{later:%Y%m%d}093000"),
        (str(second_id), "SCHEDULED", f"{later:%Y%m%d}100000")]
    assert moved.findtext("queue/deliverydt") == f"{later:%Y%m%d}100000"  # 12:00 at UTC+2
    assert (_code(removed), _code(now)) == (0, 0)
    assert len(smtp.to(who)) == 1
    assert [(q.findtext("deliveryID"), q.findtext("status")) for q in status.iter("queue")] == [
        (str(first_id), "COMPLETED")]
    assert _code(bad_date) == -1105


def test_a_url_message_on_a_private_address_is_refused(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine,
        page_server: str) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)

    doc = parse(soap("Send").CreateNewsletter(accessKey=key, listID=list_id, subject="Page",
                                              type="URL", content=page_server + "/page",
                                              options=None))

    assert _code(doc) == -1105
    assert "private" in (doc.findtext("errorDescription") or "")
    assert _q(engine, "SELECT id FROM messages WHERE account_id = :a",
              a=account.console_id) == []


def test_a_url_message_is_fetched_when_allowed_within_its_size_cap(
        server_settings: Settings, account: AccountInfo, page_server: str) -> None:
    deps = dataclasses.replace(bootstrap.build_deps(server_settings, pool_size=1),
                               page_fetcher=HttpPageFetcher(5, 2000, allow_private=True))
    from mailup_soap.service_layer import auth

    key = AccessKey(auth.login(deps, account.console_user, account.password))
    list_id = sending_list(deps, key)

    message_id = sending.create_newsletter(deps, key, list_id, "Page", "URL",
                                           page_server + "/page", [])
    with pytest.raises(Exception, match="larger than 2000 bytes"):
        sending.create_newsletter(deps, key, list_id, "Big", "URL", page_server + "/big", [])
    with pytest.raises(Exception, match="HTTP 404"):
        sending.create_newsletter(deps, key, list_id, "None", "URL", page_server + "/nope", [])

    assert "<h1>Spring sale</h1>" in sending.newsletter(deps, key, list_id, message_id).html


def sending_list(deps: Any, key: AccessKey) -> int:
    from mailup_soap.service_layer import lists

    return lists.create_list(deps, key, "Pages").id


def test_a_file_message_is_its_base64_html(soap: ServiceFactory, account: AccountInfo) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    encoded = base64.b64encode("<p>Café [campo1]</p>".encode()).decode()

    ok = parse(soap("Send").CreateNewsletter(accessKey=key, listID=list_id, subject="File",
                                             type="FILE", content=encoded, options=None))
    bad = parse(soap("Send").CreateNewsletter(accessKey=key, listID=list_id, subject="File",
                                              type="FILE", content="<p>not base64</p>",
                                              options=None))
    code = parse(soap("Send").GetNewsletterCode(
        accessKey=key, listID=list_id, newsletterID=int(ok.findtext("newsletterID") or 0),
        isTemplate=False))

    assert (_code(ok), _code(bad)) == (0, -1105)
    assert code.findtext("body") == "<p>Café [campo1]</p>"


class _Pages(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/page":
            body = b"<html><body><h1>Spring sale</h1></body></html>"
        elif self.path == "/big":
            body = b"<p>" + b"x" * 5000 + b"</p>"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def page_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_the_per_second_limit_paces_a_delivery(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine, smtp: SmtpSink,
        server_settings: Settings) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    people = [_email(f"r{n}") for n in range(12)]
    for who in people:
        _subscribe(engine, account.console_id, list_id, who, "subscribed")
    delivery_id = int(parse(soap("Send").SendNewsletter(
        accessKey=key, listID=list_id, newsletterID=_newsletter(soap, key, list_id),
        options=_options(send_to="ALL"))).findtext("deliveryID") or 0)
    deps = dataclasses.replace(bootstrap.build_deps(server_settings, pool_size=1),
                               send_per_second=10)

    started = time.monotonic()
    assert delivery_engine.run_delivery(deps, delivery_id) == "completed"

    assert time.monotonic() - started >= 1.0  # 12 messages at 10 a second: 1.1 s at least
    assert [len(smtp.to(p)) for p in people] == [1] * 12


def test_the_hourly_limit_stops_a_delivery_when_the_accounts_hour_is_full(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine, smtp: SmtpSink,
        server_settings: Settings) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    people = [_email(f"h{n}") for n in range(5)]
    for who in people:
        _subscribe(engine, account.console_id, list_id, who, "subscribed")
    delivery_id = int(parse(soap("Send").SendNewsletter(
        accessKey=key, listID=list_id, newsletterID=_newsletter(soap, key, list_id),
        options=_options(send_to="ALL"))).findtext("deliveryID") or 0)
    deps = dataclasses.replace(bootstrap.build_deps(server_settings, pool_size=1),
                               send_per_hour=3)

    assert delivery_engine.run_delivery(deps, delivery_id) == "hourly limit"

    assert sum(len(smtp.to(p)) for p in people) == 3
    assert _q(engine, "SELECT sent, status FROM deliveries WHERE id = :d", d=delivery_id) == [
        (3, "sending")]


def _message_nl(soap: ServiceFactory, key: str, file_name: str, list_id: int | str,
                message_id: int | str, **extra: Any) -> int:
    params: dict[str, Any] = {
        "accessKey": key, "fileName": file_name, "separator": ";", "listId": str(list_id),
        "listGuid": "", "messageId": str(message_id), "senderName": "CRM",
        "sender": "crm@shop.example", "subject": "",
        "timeDateSending": dt.datetime(2020, 1, 1, tzinfo=dt.UTC), "sendDelayTest": 0}
    return int(soap("Send").SendMessageNL(**(params | extra)))



_FLAGS = {"importType": 3, "mobileInputType": 1, "asPending": False, "ConfirmEmail": False,
          "asOptOut": False, "forceOptIn": False, "replaceGroups": False}


@dataclasses.dataclass(frozen=True)
class _Scheduled:
    list_id: int
    guid: str
    reader: str  # the file's one address
    delivery_id: int
    process_id: int  # the file's import process, held for the delivery


def _schedule_message_nl(soap: ServiceFactory, account: AccountInfo, engine: sa.Engine,
                         server_settings: Settings, tag: str) -> _Scheduled:
    """A new list and a SendMessageNL to one address (a file on the FTP site), scheduled for
    tomorrow."""
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    reader = _email(tag)
    home = pathlib.Path(server_settings.ftp_root) / str(account.console_id) / "crm"
    home.mkdir(parents=True, exist_ok=True)
    (home / "tomorrow.csv").write_text(f"111\n{reader}\n")
    delivery_id = _message_nl(soap, key, "crm/tomorrow.csv", list_id,
                              _newsletter(soap, key, list_id),
                              timeDateSending=dt.datetime.now(dt.UTC) + dt.timedelta(days=1))
    assert delivery_id > 0
    guid = _q(engine, "SELECT guid FROM lists WHERE account_id = :a AND id = :l",
              a=account.console_id, l=list_id)[0][0]
    process_id = _q(engine, "SELECT id FROM import_processes WHERE delivery_id = :d",
                    d=delivery_id)[0][0]
    return _Scheduled(list_id, str(guid), reader, delivery_id, process_id)


def _sending_time_is_now(engine: sa.Engine, delivery_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE deliveries SET scheduled_at = now() WHERE id = :d"),
                     {"d": delivery_id})
        assert conn.execute(sa.text(
            "UPDATE procrastinate_jobs SET scheduled_at = now() WHERE lock = :lock "
            "AND status = 'todo'"), {"lock": f"delivery-{delivery_id}"}).rowcount == 1


def test_a_scheduled_send_message_nl_holds_its_list_only_from_its_sending_time(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine, smtp: SmtpSink,
        server_settings: Settings) -> None:
    # Its file is stored at the call, as a process held for the delivery: queued, left out
    # of a start of everything queued, refused to StartProcess, started by the sending.
    nl = _schedule_message_nl(soap, account, engine, server_settings, "tomorrow")
    held = _q(engine, "SELECT status FROM import_processes WHERE id = :p", p=nl.process_id)
    imp, header = soap("Import"), [auth_header(account)]
    queued = parse(imp.NewImportProcess(
        idList=nl.list_id, listGUID=nl.guid, idGroups="", idConfirmNL=0, **_FLAGS,
        xmlDoc=f'<subscribers><subscriber email="{_email("queued")}"/></subscribers>',
        _soapheaders=header)).findtext("mailupBody/ReturnCode")

    started = parse(imp.StartImportProcesses(listsIDs="", listsGUIDs="", xmlDoc="",
                                             groupsIDs="", **_FLAGS, _soapheaders=header))
    refused = parse(imp.StartProcess(idList=nl.list_id, listGUID=nl.guid, idProcess=nl.process_id,
                                     _soapheaders=header)).findtext("mailupBody/ReturnCode")
    run_jobs(server_settings, "imports")
    before = _q(engine, "SELECT id, status FROM import_processes WHERE account_id = :a "
                        "ORDER BY id", a=account.console_id)
    _sending_time_is_now(engine, nl.delivery_id)
    run_jobs(server_settings, "send", "imports")

    assert held == [(1,)]
    assert started.findtext("mailupBody/ReturnCode") == "0"
    assert [(p.findtext("processID"), p.findtext("ReturnCode"))
            for p in started.iter("process")] == [(queued, "0")]
    assert refused == "-602"
    assert before == [(nl.process_id, 1), (int(queued or 0), 3)]
    assert _q(engine, "SELECT status FROM import_processes WHERE id = :p", p=nl.process_id) == [
        (3,)]
    assert len(smtp.to(nl.reader)) == 1
    assert _q(engine, "SELECT status FROM deliveries WHERE id = :d", d=nl.delivery_id) == [
        ("completed",)]


def test_at_its_sending_time_send_message_nl_waits_for_an_import_outside_the_list_lock(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine, smtp: SmtpSink,
        server_settings: Settings) -> None:
    # The daily sync or `mailup-soap import` merging into the list: nothing lines up behind
    # those, so the send job looks again a minute later, and starts the import once they end.
    nl = _schedule_message_nl(soap, account, engine, server_settings, "later")
    with engine.begin() as conn:
        console = conn.execute(sa.text(
            "INSERT INTO import_processes (account_id, list_id, status, options, source) "
            "VALUES (:a, :l, 2, '{}', 'Console') RETURNING id"),
            {"a": account.console_id, "l": nl.list_id}).scalar_one()
    jobs = ("SELECT status, round(extract(epoch FROM scheduled_at - now())) FROM "
            "procrastinate_jobs WHERE lock = :l ORDER BY id")

    _sending_time_is_now(engine, nl.delivery_id)
    run_jobs(server_settings, "send", "imports")
    looked = _q(engine, jobs, l=f"delivery-{nl.delivery_id}")
    waiting = _q(engine, "SELECT status FROM import_processes WHERE id = :p", p=nl.process_id)
    sent_meanwhile = len(smtp.to(nl.reader))
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE import_processes SET status = 3 WHERE id = :p"),
                     {"p": console})
    _sending_time_is_now(engine, nl.delivery_id)
    run_jobs(server_settings, "send", "imports")

    assert [status for status, _ in looked] == ["succeeded", "todo"]
    assert 55 <= looked[1][1] <= 60  # a minute after the first look
    assert waiting == [(1,)] and sent_meanwhile == 0
    assert _q(engine, "SELECT status FROM import_processes WHERE id = :p", p=nl.process_id) == [
        (3,)]
    assert len(smtp.to(nl.reader)) == 1


def test_at_its_sending_time_send_message_nl_imports_after_the_lists_started_processes(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine, smtp: SmtpSink,
        server_settings: Settings) -> None:
    # A process started through the Import service and not merged yet: the send job does
    # not refuse; its import job waits behind that one under the list's lock.
    nl = _schedule_message_nl(soap, account, engine, server_settings, "after")
    earlier = _email("earlier")
    imp, header = soap("Import"), [auth_header(account)]
    started = parse(imp.StartImportProcesses(
        listsIDs=str(nl.list_id), listsGUIDs=nl.guid, groupsIDs="", **_FLAGS, _soapheaders=header,
        xmlDoc=f'<subscribers><subscriber email="{earlier}"/></subscribers>'))
    _sending_time_is_now(engine, nl.delivery_id)
    run_jobs(server_settings, "send")
    lined_up = _q(engine, "SELECT task_name, status FROM procrastinate_jobs WHERE lock = :l "
                          "ORDER BY id", l=f"import-list-{account.console_id}-{nl.list_id}")
    run_jobs(server_settings, "imports", "send")

    assert started.findtext("mailupBody/ReturnCode") == "0"
    assert lined_up == [("mailup:run_import", "todo"), ("mailup:import_message_nl", "todo")]
    assert _q(engine, "SELECT status FROM import_processes WHERE account_id = :a ORDER BY id",
              a=account.console_id) == [(3,), (3,)]
    assert len(smtp.to(nl.reader)) == 1


def test_a_send_message_nl_process_an_older_version_marked_running_is_merged_by_its_job(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine, smtp: SmtpSink,
        server_settings: Settings) -> None:
    # Before migration 0014 the process was marked running at the call; one whose job was
    # running during the upgrade keeps that state, and the job merges it itself.
    nl = _schedule_message_nl(soap, account, engine, server_settings, "older")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE import_processes SET status = 2, started_at = now(), "
                             "delivery_id = NULL WHERE id = :p"), {"p": nl.process_id})
    _sending_time_is_now(engine, nl.delivery_id)

    run_jobs(server_settings, "send")

    assert _q(engine, "SELECT status FROM import_processes WHERE id = :p", p=nl.process_id) == [
        (3,)]
    assert len(smtp.to(nl.reader)) == 1


def test_send_message_nl_imports_the_ftp_file_and_sends_to_its_subscribed_addresses(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine, smtp: SmtpSink,
        server_settings: Settings) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    known, newcomer, gone = _email("known"), _email("neo"), _email("gone")
    _subscribe(engine, account.console_id, list_id, known, "subscribed")
    _subscribe(engine, account.console_id, list_id, gone, "unsubscribed")
    newsletter_id = _newsletter(soap, key, list_id)
    home = pathlib.Path(server_settings.ftp_root) / str(account.console_id) / "crm"
    home.mkdir(parents=True)
    (home / "today.csv").write_text(
        f"111;1\n{known};Kim\n{newcomer};Neo\n{gone};Gone\nnot-an-address;X\n")

    delivery_id = _message_nl(soap, key, "crm/today.csv", list_id, newsletter_id,
                              subject="Today for [campo1]")
    run_jobs(server_settings, "send", "imports")
    status = parse(soap("Send").GetNewsletterDeliveryStatus(accessKey=key,
                                                            deliveryID=delivery_id))

    assert delivery_id > 0
    assert [len(smtp.to(w)) for w in (known, newcomer, gone)] == [1, 1, 0]
    assert smtp.to(newcomer)[0]["Subject"] == "Today for Neo"
    assert "crm@shop.example" in smtp.to(known)[0]["From"]
    assert (status.findtext("deliveryStatus/status"), status.findtext("deliveryStatus/toSend")
            ) == ("COMPLETED", "2")
    assert _q(engine, """SELECT s.status FROM subscriptions s JOIN recipients r
                         ON r.account_id = s.account_id AND r.id = s.recipient_id
                         WHERE r.email = :e""", e=newcomer) == [("subscribed",)]


def test_send_message_nl_answers_minus_1_for_bad_parameters_and_minus_3_when_an_import_runs(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine,
        server_settings: Settings) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    newsletter_id = _newsletter(soap, key, list_id)
    home = pathlib.Path(server_settings.ftp_root) / str(account.console_id)
    home.mkdir(parents=True, exist_ok=True)
    (home / "ok.csv").write_text("111\na@example.test\n")
    (home / "bad.csv").write_text("111|1\na@example.test|x\n")
    (home / "twice.csv").write_text("111;1\na@example.test;x\nb@example.test;y\n"
                                    "A@example.test;z\n")

    answers = [
        _message_nl(soap, key, "missing.csv", list_id, newsletter_id),
        _message_nl(soap, key, "../../etc/passwd", list_id, newsletter_id),
        _message_nl(soap, key, "bad.csv", list_id, newsletter_id),
        _message_nl(soap, key, "ok.csv", list_id, newsletter_id + 1000),
        _message_nl(soap, key, "ok.csv", list_id + 1000, newsletter_id),
        _message_nl(soap, key, "ok.csv", list_id, newsletter_id, separator=";;"),
        _message_nl(soap, key, "x" * 300 + ".csv", list_id, newsletter_id),
        _message_nl(soap, key, "twice.csv", list_id, newsletter_id),
        _message_nl(soap, key, "ok.csv", list_id, newsletter_id,
                    timeDateSending=dt.datetime(9500, 1, 1, tzinfo=dt.UTC)),
    ]
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO import_processes (account_id, list_id, status, "
                             "options) VALUES (:a, :l, 2, '{}')"),
                     {"a": account.console_id, "l": list_id})
    busy = _message_nl(soap, key, "ok.csv", list_id, newsletter_id)

    assert answers == [-1] * 9 and busy == -3
    assert _q(engine, "SELECT id FROM deliveries WHERE account_id = :a",
              a=account.console_id) == []


def test_start_process_does_not_wait_while_an_immediate_send_message_nl_reads_its_file(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine, smtp: SmtpSink,
        server_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    # Its look at the list's imports takes no lock, which it held while the file was read;
    # its import then lines up behind the process started meanwhile.
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    newsletter_id = _newsletter(soap, key, list_id)
    guid = str(_q(engine, "SELECT guid FROM lists WHERE account_id = :a AND id = :l",
                  a=account.console_id, l=list_id)[0][0])
    reader = _email("now")
    home = pathlib.Path(server_settings.ftp_root) / str(account.console_id)
    home.mkdir(parents=True, exist_ok=True)
    (home / "now.csv").write_text(f"111\n{reader}\n")
    imp, header = soap("Import"), [auth_header(account)]
    queued = int(parse(imp.NewImportProcess(
        idList=list_id, listGUID=guid, idGroups="", idConfirmNL=0, **_FLAGS,
        xmlDoc=f'<subscribers><subscriber email="{_email("queued")}"/></subscribers>',
        _soapheaders=header)).findtext("mailupBody/ReturnCode") or 0)
    held = HeldRead(message_nl.utf8_lines)
    monkeypatch.setattr(message_nl, "utf8_lines", held)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        send = pool.submit(_message_nl, soap, key, "now.csv", list_id, newsletter_id)
        assert held.reading.wait(30)
        start = pool.submit(imp.StartProcess, idList=list_id, listGUID=guid,
                            idProcess=queued, _soapheaders=header)
        try:
            started = parse(start.result(timeout=10)).findtext("mailupBody/ReturnCode")
        finally:
            held.release()
        delivery_id = send.result(timeout=60)
    run_jobs(server_settings, "send", "imports")

    assert queued > 0 and started == "0" and delivery_id > 0
    assert _q(engine, "SELECT status FROM import_processes WHERE account_id = :a ORDER BY id",
              a=account.console_id) == [(3,), (3,)]
    assert len(smtp.to(reader)) == 1
    assert _q(engine, "SELECT status FROM deliveries WHERE id = :d", d=delivery_id) == [
        ("completed",)]


def test_credits_are_taken_per_recipient_and_a_send_beyond_them_creates_nothing(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine,
        server_settings: Settings) -> None:
    import os
    import subprocess
    import sys

    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    for n in range(3):
        _subscribe(engine, account.console_id, list_id, _email(f"c{n}"), "subscribed")
    newsletter_id = _newsletter(soap, key, list_id)
    send = soap("Send")
    unlimited = parse(send.GetCredits(accessKey=key))
    cli = os.path.join(os.path.dirname(sys.executable), "mailup-soap")
    set_credits = subprocess.run(
        [cli, "account", "credits", "--account", str(account.console_id), "--email", "4"],
        env=dict(os.environ, DATABASE_URL=server_settings.database_url),
        capture_output=True, text=True, timeout=60)

    first = _send_all(soap, key, list_id, newsletter_id)
    after_first = parse(send.GetCredits(accessKey=key))
    second = _send_all(soap, key, list_id, newsletter_id)
    per_list = parse(send.GetCreditsLists(accessKey=key, idList=list_id))

    assert (unlimited.findtext("credits/email"), unlimited.findtext("credits/sms")) == (
        "-1", "-1")
    assert set_credits.returncode == 0 and "email\t4" in set_credits.stdout
    assert (_code(first), after_first.findtext("credits/email")) == (0, "1")
    assert _code(second) == -1109 and "3 needed, 1 left" in (
        second.findtext("errorDescription") or "")
    assert (per_list.findtext("credits/email"), per_list.findtext("list/used/email")) == (
        "1", "3")
    assert len(_q(engine, "SELECT id FROM deliveries WHERE account_id = :a",
                  a=account.console_id)) == 1


def _send_all(soap: ServiceFactory, key: str, list_id: int, newsletter_id: int) -> Any:
    return parse(soap("Send").SendNewsletter(accessKey=key, listID=list_id,
                                             newsletterID=newsletter_id,
                                             options=_options(send_to="ALL")))


def test_templates_are_listed_apart_and_must_be_cloned_to_be_sent(
        soap: ServiceFactory, account: AccountInfo) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    send = soap("Send")
    template_id = _newsletter(soap, key, list_id, subject="Template", template="true")
    newsletter_id = _newsletter(soap, key, list_id, subject="Newsletter")

    templates = parse(send.GetTemplates(accessKey=key, listID=list_id))
    newsletters = parse(send.GetNewsletters(accessKey=key, listID=list_id))
    as_template = parse(send.GetNewsletterCode(accessKey=key, listID=list_id,
                                               newsletterID=template_id, isTemplate=True))
    not_a_template = parse(send.GetNewsletterCode(accessKey=key, listID=list_id,
                                                  newsletterID=newsletter_id,
                                                  isTemplate=True))
    sent_template = _send_all(soap, key, list_id, template_id)
    copy_id = send.CloneMessage(accessKey=key, listId=str(list_id), listGuid="",
                                messageToCloneId=template_id, subject="From the template")
    sent_copy = _send_all(soap, key, list_id, copy_id)

    assert [t.findtext("templateID") for t in templates.iter("template")] == [str(template_id)]
    assert [n.findtext("newsletterID") for n in newsletters.iter("newsletter")] == [
        str(newsletter_id)]
    assert (as_template.findtext("subject"), _code(not_a_template)) == ("Template", -1106)
    assert (_code(sent_template), _code(sent_copy)) == (-1105, 0)


def test_set_newsletter_queue_order_swaps_a_delivery_with_its_neighbour(
        soap: ServiceFactory, account: AccountInfo) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    newsletter_id = _newsletter(soap, key, list_id)
    send = soap("Send")
    day = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    ids = [int(parse(send.PrepareNewsletterSchedule(
        accessKey=key, listID=list_id, newsletterID=newsletter_id,
        deliveryDate=f"{day:%Y-%m-%d}", deliveryTime=time_, adminEmail="", idUser=0,
        note="")).findtext("deliveryID") or 0) for time_ in ("08:00", "09:00", "10:00")]

    moved = parse(send.SetNewsletterQueueOrder(accessKey=key, scheduleID=ids[2], Up=True))
    first_up = parse(send.SetNewsletterQueueOrder(accessKey=key, scheduleID=ids[0], Up=True))

    assert [(q.findtext("deliveryID"), q.findtext("deliverydt")[-6:])
            for q in moved.iter("queue")] == [
        (str(ids[0]), "080000"), (str(ids[2]), "090000"), (str(ids[1]), "100000")]
    assert _code(first_up) == -1105


def test_get_user_access_gives_a_users_lists_and_a_hash_check_user_hash_recognises(
        soap: ServiceFactory, account: AccountInfo) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    send = soap("Send")
    user_id = int(parse(send.GetIdUser(accessKey=key)).findtext("idUser") or 0)

    mine = parse(send.GetUserAccess(userId=user_id, accessKey=key))
    stranger = parse(send.GetUserAccess(userId=user_id + 100000, accessKey=key))
    user_hash = mine.findtext("access/userHash") or ""
    checked = [parse(send.CheckUserHash(userID=uid, userHash=h, accessKey=key)).findtext(
        "user/valid") for uid, h in ((user_id, user_hash), (user_id + 1, user_hash),
                                     (user_id, user_hash[:-2] + "xx"), (user_id, ""))]

    assert mine.findtext("access/idUser") == str(user_id)
    assert [lst.findtext("listID") for lst in mine.iter("list")] == [str(list_id)]
    assert _code(stranger) == -1103
    assert checked == ["true", "false", "false", "false"]


def test_a_scheduled_delivery_paused_and_resumed_keeps_its_schedule(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine, smtp: SmtpSink,
        server_settings: Settings) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    who = _email("later")
    _subscribe(engine, account.console_id, list_id, who, "subscribed")
    send = soap("Send")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    delivery_id = int(parse(send.SendNewsletter(
        accessKey=key, listID=list_id, newsletterID=_newsletter(soap, key, list_id),
        options=_options(send_to="ALL", deliverydt=f"{later:%Y%m%d%H%M%S}")))
        .findtext("deliveryID") or 0)

    send.StopDelivery(accessKey=key)
    send.StartDelivery(accessKey=key)
    run_jobs(server_settings, "send")
    queued = parse(send.GetNewsletterQueues(accessKey=key, listID=list_id))

    assert [(q.findtext("deliveryID"), q.findtext("status"), q.findtext("deliverydt"))
            for q in queued.iter("queue")] == [
        (str(delivery_id), "SCHEDULED", f"{later:%Y%m%d%H%M%S}")]
    assert smtp.to(who) == []
    assert _q(engine, "SELECT count(*) FROM procrastinate_jobs WHERE lock = :l "
                      "AND status = 'todo' AND scheduled_at > now()",
              l=f"delivery-{delivery_id}") == [(1,)]
