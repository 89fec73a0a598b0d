"""Send's SMS operations over real HTTP (zeep from MailUp's reference WSDL, SOAP 1.1 and 1.2),
a real worker posting to a real HTTP receiver standing in for the SMS gateway."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import pathlib
import secrets
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from mailup_soap import bootstrap
from mailup_soap.config import Settings
from mailup_soap.db import sms_repos
from mailup_soap.service_layer import sms
from mailup_soap.service_layer.ports import SmsGatewayError
from tests.conftest import (
    SYNC_TIME,
    AccountInfo,
    _QuietHandler,
    _ThreadingServer,
    free_port,
    run_jobs,
)
from tests.e2e.conftest import BINDINGS, PATHS, ServiceFactory, login, parse, reference_client
from tests.e2e.send_helpers import code as _code
from tests.e2e.send_helpers import new_list, subscribe
from tests.e2e.send_helpers import options as _options
from tests.e2e.send_helpers import query as _q
from tests.receiver import ReceivedRequest, Receiver

pytestmark = pytest.mark.e2e

TOKEN = "gw-token"


@pytest.fixture(scope="module")
def _sms_server(database_url: str, smtp: Any,
                ftp_root: pathlib.Path) -> Iterator[tuple[str, Settings]]:
    """The app with an SMS gateway configured (the web side only queues; workers post)."""
    from wsgiref.simple_server import make_server

    httpd = make_server("127.0.0.1", 0, lambda e, s: [], server_class=_ThreadingServer,
                        handler_class=_QuietHandler)
    base = f"http://127.0.0.1:{httpd.server_port}"
    settings = Settings(database_url=database_url, public_url=base, secret_key="test-secret",
                        smtp_port=smtp.port, ftp_root=str(ftp_root), ftp_settle_seconds=0,
                        sms_gateway_url=f"http://127.0.0.1:{free_port()}/sms",
                        sms_gateway_token=TOKEN, sms_sender="Shop",
                        sms_gateway_timeout_seconds=2, sync_time=SYNC_TIME)
    httpd.set_app(bootstrap.build_wsgi_app(settings, bootstrap.build_deps(settings, 2)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield base, settings
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def server_url(_sms_server: tuple[str, Settings]) -> str:
    return _sms_server[0]


@pytest.fixture(scope="module")
def server_settings(_sms_server: tuple[str, Settings]) -> Settings:
    """Workers run with them: the gateway's token, the default sender."""
    return _sms_server[1]


@pytest.fixture
def gateway() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


def _through(settings: Settings, gw: Receiver) -> Settings:
    return dataclasses.replace(settings, sms_gateway_url=gw.url + "/sms")


def _work(settings: Settings, gw: Receiver) -> None:
    run_jobs(_through(settings, gw), "sms")


def _number() -> str:
    return "+39333" + "".join(secrets.choice("0123456789") for _ in range(7))


def _list(soap: ServiceFactory, key: str) -> int:
    return new_list(soap, key, "SMS")


def _subscribe(engine: sa.Engine, account_id: int, list_id: int, mobile: str | None,
               status: str = "subscribed", name: str = "") -> int:
    return subscribe(engine, account_id, list_id, None, status, name, mobile)


def _create(soap: ServiceFactory, key: str, list_id: int, text: str = "Hi [campo1], 20% off",
            subject: str = "Promo", soap12: bool = False) -> int:
    doc = parse(soap("Send", soap12=soap12).CreateSMS(accessKey=key, listID=list_id,
                                                      subject=subject, text=text, options=None))
    assert _code(doc) == 0, doc
    return int(doc.findtext("smsID") or 0)


def _send(soap: ServiceFactory, key: str, list_id: int, sms_id: int, **opts: str) -> Any:
    return parse(soap("Send").SendSMS(accessKey=key, listID=list_id, smsID=sms_id,
                                      options=_options(**opts)))


def _sent(gw: Receiver) -> dict[str, dict[str, str]]:
    return {json.loads(r.body)["to"]: json.loads(r.body) for r in gw.requests}


def _status(soap: ServiceFactory, key: str, delivery_id: int) -> Any:
    return parse(soap("Send").GetSMSDeliveryStatus(accessKey=key, deliveryID=delivery_id))


def test_create_and_list_sms_messages_over_soap_11_and_12(
        soap: ServiceFactory, account: AccountInfo) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)

    first = _create(soap, key, list_id, "Hello [campo1]", "One")
    second = _create(soap, key, list_id, "Ciao", "Two", soap12=True)
    listed = parse(soap("Send", soap12=True).GetSMS(accessKey=key, listID=list_id))

    assert listed.findtext("list/listID") == str(list_id)
    assert [(s.findtext("smsID"), s.findtext("subject"), s.findtext("text"))
            for s in listed.iter("sms")] == [(str(first), "One", "Hello [campo1]"),
                                             (str(second), "Two", "Ciao")]
    assert all(s.findtext("creationdate") for s in listed.iter("sms"))


def test_sms_are_not_newsletters(soap: ServiceFactory, account: AccountInfo,
                                 engine: sa.Engine) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    _subscribe(engine, account.console_id, list_id, _number())
    sms_id = _create(soap, key, list_id)
    delivery_id = int(_send(soap, key, list_id, sms_id, send_to="ALL").findtext("deliveryID")
                      or 0)

    newsletters = parse(soap("Send").GetNewsletters(accessKey=key, listID=list_id))
    as_newsletter = parse(soap("Send").GetNewsletterDeliveryStatus(accessKey=key,
                                                                   deliveryID=delivery_id))
    stopped = parse(soap("Send").StopDelivery(accessKey=key))

    assert list(newsletters.iter("newsletter")) == []
    assert _code(as_newsletter) == -1107
    assert list(stopped.iter("deliveryID")) == []
    paused = parse(soap("Send").StopDeliverySMS(accessKey=key))  # its job must not run later
    assert [d.text for d in paused.iter("deliveryID")] == [str(delivery_id)]


def test_an_sms_reaches_only_subscribers_with_a_mobile_merged_from_the_sender(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine,
        server_settings: Settings, gateway: Receiver) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    ann, bob, gone, waiting = _number(), _number(), _number(), _number()
    _subscribe(engine, account.console_id, list_id, ann, name="Ann")
    _subscribe(engine, account.console_id, list_id, bob, name="Bob")
    _subscribe(engine, account.console_id, list_id, None, name="NoPhone")
    _subscribe(engine, account.console_id, list_id, gone, "unsubscribed")
    _subscribe(engine, account.console_id, list_id, waiting, "pending")
    sms_id = _create(soap, key, list_id)

    sent = _send(soap, key, list_id, sms_id, send_to="ALL", sender="ShopNews")
    delivery_id = int(sent.findtext("deliveryID") or 0)
    _work(server_settings, gateway)
    status = _status(soap, key, delivery_id)

    assert _code(sent) == 0 and sent.findtext("deliveryStatus/toSend") == "2"
    assert sent.findtext("deliveryStatus/smsID") == str(sms_id)
    assert (status.findtext("deliveryStatus/status"), status.findtext("deliveryStatus/progress"),
            status.findtext("deliveryStatus/toBeSent")) == ("COMPLETED", "100", "0")
    received = _sent(gateway)
    assert sorted(received) == sorted([ann, bob])
    assert received[ann] == {"from": "ShopNews", "to": ann, "text": "Hi Ann, 20% off"}
    assert received[bob]["text"] == "Hi Bob, 20% off"
    request: ReceivedRequest = gateway.requests[0]
    assert (request.method, request.path) == ("POST", "/sms")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"].startswith("application/json")
    assert sorted(r.state for r in _q(
        engine, "SELECT state FROM delivery_recipients WHERE delivery_id = :d",
        d=delivery_id)) == ["sent", "sent"]


def test_a_recipient_unsubscribed_before_their_turn_is_skipped(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine,
        server_settings: Settings, gateway: Receiver) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    stays, leaves = _number(), _number()
    _subscribe(engine, account.console_id, list_id, stays)
    leaver = _subscribe(engine, account.console_id, list_id, leaves)
    delivery_id = int(_send(soap, key, list_id, _create(soap, key, list_id),
                            send_to="ALL").findtext("deliveryID") or 0)

    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE subscriptions SET status = 'unsubscribed' "
                             "WHERE recipient_id = :r"), {"r": leaver})
    _work(server_settings, gateway)

    assert list(_sent(gateway)) == [stays]
    assert gateway.requests[0].body and json.loads(gateway.requests[0].body)["from"] == "Shop"
    assert _status(soap, key, delivery_id).findtext("deliveryStatus/details") == (
        "sent 1, failed 0, skipped 1")


def test_send_to_recipients_and_groups_and_send_fast(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine,
        server_settings: Settings, gateway: Receiver) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    vip = int(parse(soap("Manage").CreateGroup(accessKey=key, listID=list_id, groupName="VIP",
                                               groupNotes="")).findtext(
        "list/groups/group/groupID") or 0)
    a, b, c = _number(), _number(), _number()
    ids = {n: _subscribe(engine, account.console_id, list_id, n) for n in (a, b, c)}
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO group_members VALUES (:a, :g, :r)"),
                     {"a": account.console_id, "g": vip, "r": ids[c]})

    to_some = _send(soap, key, list_id, _create(soap, key, list_id, "some"),
                    send_to="RECIPIENTS", recipients=f"{a[:3]} {a[3:]};+447000000000")
    fast = parse(soap("Send", soap12=True).SendSMSFast(
        accessKey=key, listID=list_id, subject="Fast", text="fast",
        options=_options(send_to="GROUPS", recipients=str(vip), note="quick")))
    _work(server_settings, gateway)

    assert to_some.findtext("deliveryStatus/toSend") == "1"
    assert _code(fast) == 0 and fast.findtext("deliveryStatus/toSend") == "1"
    assert fast.findtext("smsID") == fast.findtext("deliveryStatus/smsID")
    assert sorted((r["to"], r["text"]) for r in _sent(gateway).values()) == sorted(
        [(a, "some"), (c, "fast")])
    assert b not in _sent(gateway)


def test_single_and_direct_sms_go_to_one_number(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine,
        server_settings: Settings, gateway: Receiver) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    known, stranger, other = _number(), _number(), _number()
    _subscribe(engine, account.console_id, list_id, known, name="Kim")
    sms_id = _create(soap, key, list_id, "Stored for [campo1]")
    send = soap("Send")

    by_id = parse(send.SendSingleSMS(accessKey=key, listID=list_id, subject="", type="ID",
                                     content=str(sms_id), numero=known, options=None))
    by_text = parse(send.SendSingleSMS(accessKey=key, listID=list_id, subject="One-off",
                                       type="TEXT", content="Just for you", numero=stranger,
                                       options=_options(sender="+391234567")))
    direct = parse(soap("Send", soap12=True).SendDirectSMS(
        accessKey=key, listID=list_id, content="Your code is 1234", numero=other,
        options=None))
    _work(server_settings, gateway)
    listed = parse(send.GetSMS(accessKey=key, listID=list_id))

    assert [_code(d) for d in (by_id, by_text, direct)] == [0, 0, 0]
    assert direct.findtext("deliveryStatus/smsID") == ""
    received = _sent(gateway)
    assert received[known]["text"] == "Stored for Kim"
    assert (received[stranger]["text"], received[stranger]["from"]) == ("Just for you",
                                                                        "+391234567")
    assert received[other]["text"] == "Your code is 1234"
    assert [s.findtext("subject") for s in listed.iter("sms")] == ["Promo", "One-off"]
    assert _status(soap, key, int(direct.findtext("deliveryID") or 0)).findtext(
        "deliveryStatus/status") == "COMPLETED"


def test_stop_pauses_and_start_resumes_sms_deliveries(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine,
        server_settings: Settings, gateway: Receiver) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    numbers = [_number() for _ in range(3)]
    for n in numbers:
        _subscribe(engine, account.console_id, list_id, n)
    delivery_id = int(_send(soap, key, list_id, _create(soap, key, list_id),
                            send_to="ALL").findtext("deliveryID") or 0)

    stopped = parse(soap("Send").StopDeliverySMS(accessKey=key))
    _work(server_settings, gateway)
    during_pause = len(gateway.requests)
    paused = _status(soap, key, delivery_id)
    started = parse(soap("Send", soap12=True).StartDeliverySMS(accessKey=key))
    _work(server_settings, gateway)

    assert [d.text for d in stopped.iter("deliveryID")] == [str(delivery_id)]
    assert during_pause == 0 and paused.findtext("deliveryStatus/status") == "SENDING"
    assert [d.text for d in started.iter("deliveryID")] == [str(delivery_id)]
    assert sorted(_sent(gateway)) == sorted(numbers)


def test_a_gateway_refusing_one_number_fails_that_one_and_sends_the_others(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine,
        server_settings: Settings) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    ids = [_subscribe(engine, account.console_id, list_id, _number()) for _ in range(3)]
    delivery_id = int(_send(soap, key, list_id, _create(soap, key, list_id),
                            send_to="ALL").findtext("deliveryID") or 0)

    with Receiver([200, 400, 200]) as refusing:  # in recipient order: the second is refused
        _work(server_settings, refusing)
    states = dict(_q(engine, "SELECT recipient_id, state FROM delivery_recipients "
                             "WHERE delivery_id = :d", d=delivery_id))
    status = _status(soap, key, delivery_id)

    assert states == {ids[0]: "sent", ids[1]: "failed", ids[2]: "sent"}
    assert (status.findtext("deliveryStatus/status"),
            status.findtext("deliveryStatus/details")) == ("COMPLETED",
                                                           "sent 2, failed 1, skipped 0")
    assert _q(engine, "SELECT gateway_id FROM delivery_recipients WHERE delivery_id = :d "
                      "AND state = 'sent'", d=delivery_id) == [("1",), ("1",)]


def _delivery_of(soap: ServiceFactory, account: AccountInfo, engine: sa.Engine,
                 count: int) -> tuple[int, list[str]]:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    numbers = [_number() for _ in range(count)]
    for n in numbers:
        _subscribe(engine, account.console_id, list_id, n)
    sent = _send(soap, key, list_id, _create(soap, key, list_id), send_to="ALL")
    return int(sent.findtext("deliveryID") or 0), numbers


def test_an_unreachable_gateway_marks_nothing_sent_and_the_delivery_is_retried(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine,
        server_settings: Settings, gateway: Receiver) -> None:
    delivery_id, numbers = _delivery_of(soap, account, engine, 3)
    nowhere = bootstrap.build_deps(dataclasses.replace(
        server_settings, sms_gateway_url=f"http://127.0.0.1:{free_port()}/sms"), pool_size=1)

    with pytest.raises(SmsGatewayError):
        sms.run_sms_delivery(nowhere, delivery_id)
    states = _q(engine, "SELECT state FROM delivery_recipients WHERE delivery_id = :d",
                d=delivery_id)
    _work(server_settings, gateway)  # the job, still queued, now gets through

    assert sorted(s.state for s in states) == ["pending"] * 3
    assert sorted(_sent(gateway)) == sorted(numbers)


def test_a_gateway_failing_mid_batch_keeps_what_went_out_and_resends_nobody(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine,
        server_settings: Settings, gateway: Receiver) -> None:
    delivery_id, numbers = _delivery_of(soap, account, engine, 3)

    with Receiver([200, 503]) as failing:
        deps = bootstrap.build_deps(_through(server_settings, failing), pool_size=1)
        with pytest.raises(SmsGatewayError):
            sms.run_sms_delivery(deps, delivery_id)
        first, refused = (json.loads(r.body)["to"] for r in failing.requests)
    _work(server_settings, gateway)

    assert refused != first
    assert sorted(_sent(gateway)) == sorted(n for n in numbers if n != first)
    assert _q(engine, "SELECT sent, failed, total FROM deliveries WHERE id = :d",
              d=delivery_id) == [(3, 0, 3)]


class WorkerKilled(BaseException):
    """What a SIGKILL looks like from inside: not an Exception, nothing records it."""


def test_a_worker_killed_mid_delivery_resends_only_the_batch_in_flight(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine,
        server_settings: Settings, gateway: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sms, "BATCH", 2)
    delivery_id, numbers = _delivery_of(soap, account, engine, 5)
    deps = bootstrap.build_deps(_through(server_settings, gateway), pool_size=1)
    real_mark, marks = sms_repos.SmsRepository.mark, []

    def killed_before_recording_the_second_batch(self: Any, d: int, sent: list[Any],
                                                 *args: Any) -> None:
        marks.append(len(sent))
        if len(marks) == 2:
            raise WorkerKilled()
        real_mark(self, d, sent, *args)

    monkeypatch.setattr(sms_repos.SmsRepository, "mark",
                        killed_before_recording_the_second_batch)
    with pytest.raises(WorkerKilled):
        sms.run_sms_delivery(deps, delivery_id)
    monkeypatch.setattr(sms_repos.SmsRepository, "mark", real_mark)

    assert sms.run_sms_delivery(deps, delivery_id) == "completed"
    per_number = [sum(1 for r in gateway.requests if json.loads(r.body)["to"] == n)
                  for n in numbers]
    assert all(n >= 1 for n in per_number)
    assert sum(per_number) - len(numbers) == 2  # only the 2 in flight at the kill went twice
    assert _q(engine, "SELECT sent, total FROM deliveries WHERE id = :d", d=delivery_id) == [
        (5, 5)]


@pytest.mark.parametrize(("call", "expected"), [
    (lambda s, k, lst, sid: _send(s, k, lst + 1000, sid, send_to="ALL"), -1101),
    (lambda s, k, lst, sid: _send(s, k, lst, sid + 1000, send_to="ALL"), -1106),
    (lambda s, k, lst, sid: _send(s, k, lst, sid, send_to="EVERYONE"), -1105),
    (lambda s, k, lst, sid: _send(s, k, lst, sid), -1105),
    (lambda s, k, lst, sid: _send(s, k, lst, sid, send_to="RECIPIENTS", recipients="x"), -1105),
    (lambda s, k, lst, sid: _send(s, k, lst, sid, send_to="ALL", sender="TwelveLetter"),
     -1105),
    (lambda s, k, lst, sid: _send(s, k, lst, sid, send_to="GROUPS", recipients="999"), -1102),
    (lambda s, k, lst, sid: parse(s("Send").CreateSMS(
        accessKey=k, listID=lst, subject="Long", text="a" * 1531, options=None)), -1105),
    (lambda s, k, lst, sid: parse(s("Send").SendSMSFast(
        accessKey=k, listID=lst, subject="Long", text="ж" * 671,
        options=_options(send_to="ALL"))), -1105),
    (lambda s, k, lst, sid: parse(s("Send").SendDirectSMS(
        accessKey=k, listID=lst, content="hi", numero="not a number", options=None)), -1105),
    (lambda s, k, lst, sid: parse(s("Send").SendSingleSMS(
        accessKey=k, listID=lst, subject="x", type="HTML", content="hi", numero="+393331234567",
        options=None)), -1105),
    (lambda s, k, lst, sid: parse(s("Send").SendSingleSMS(
        accessKey=k, listID=lst, subject="", type="ID", content=str(sid + 1000),
        numero="+393331234567", options=None)), -1106),
    (lambda s, k, lst, sid: parse(s("Send").GetSMSDeliveryStatus(
        accessKey=k, deliveryID=987654321)), -1107),
    (lambda s, k, lst, sid: parse(s("Send").GetSMS(accessKey=k, listID=lst + 1000)), -1101),
])
def test_bad_sms_input_gets_its_code_and_sends_nothing(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine, call: Any,
        expected: int) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    sms_id = _create(soap, key, list_id)

    assert _code(call(soap, key, list_id, sms_id)) == expected
    assert _q(engine, "SELECT id FROM deliveries WHERE account_id = :a",
              a=account.console_id) == []


def test_a_number_that_unsubscribed_is_refused_a_single_sms(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    left = _number()
    _subscribe(engine, account.console_id, list_id, left, "unsubscribed")

    doc = parse(soap("Send").SendDirectSMS(accessKey=key, listID=list_id, content="hi",
                                           numero=left, options=None))

    assert _code(doc) == -1105 and "unsubscribed" in (doc.findtext("errorDescription") or "")


def test_without_a_gateway_sending_answers_a_clear_error(
        _http_server: tuple[str, Settings], account: AccountInfo) -> None:
    """The shared test server has no MAILUP_SMS_GATEWAY_URL."""
    send = reference_client("Send").create_service(BINDINGS["Send"],
                                                   _http_server[0] + PATHS["Send"])
    key = parse(send.LoginFromId(user=account.console_user, pwd=account.password,
                                 consoleId=account.console_id)).findtext("accessKey")
    list_id = int(parse(reference_client("Manage").create_service(
        BINDINGS["Manage"], _http_server[0] + PATHS["Manage"]).CreateList(
        accessKey=key, name="x", defaultSettings="", copyTemplate=False,
        options=None)).findtext("list/listID") or 0)
    created = parse(send.CreateSMS(accessKey=key, listID=list_id, subject="s", text="t",
                                   options=None))

    refused = parse(send.SendSMS(accessKey=key, listID=list_id,
                                 smsID=int(created.findtext("smsID") or 0),
                                 options=_options(send_to="ALL")))

    assert _code(created) == 0
    assert _code(refused) == -1108
    assert "MAILUP_SMS_GATEWAY_URL" in (refused.findtext("errorDescription") or "")


# -- queues and schedules ------------------------------------------------------------------


def _later_send(soap: ServiceFactory, key: str, list_id: int, sms_id: int, when: str) -> int:
    doc = _send(soap, key, list_id, sms_id, send_to="ALL", deliverydt=when)
    assert _code(doc) == 0, doc
    return int(doc.findtext("deliveryID") or 0)


def _jobs(engine: sa.Engine, delivery_id: int) -> list[sa.Row[Any]]:
    return _q(engine, "SELECT scheduled_at FROM procrastinate_jobs WHERE lock = :l "
                      "AND status = 'todo'", l=f"sms-delivery-{delivery_id}")


def test_scheduled_sms_are_queued_moved_sent_when_due_or_removed(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine,
        server_settings: Settings, gateway: Receiver) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    who = _number()
    _subscribe(engine, account.console_id, list_id, who)
    sms_id = _create(soap, key, list_id)
    send = soap("Send")
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)

    first = _later_send(soap, key, list_id, sms_id, f"{later:%Y%m%d}093000")
    second = _later_send(soap, key, list_id, sms_id, f"{later:%Y%m%d}100000")
    _work(server_settings, gateway)  # nothing is due
    queued = parse(send.GetSMSQueues(accessKey=key, listID=list_id))
    moved = parse(soap("Send", soap12=True).ScheduleSMSQueue(
        accessKey=key, listID=list_id, smsID=sms_id, scheduleID=second,
        deliverydt=f"{later:%Y%m%d}120000", timezone=2))
    jobs_after_move = _jobs(engine, second)
    removed = parse(send.RemoveSMSQueue(accessKey=key, deliveryID=first, scheduleID=first,
                                        deleteQueue=True))
    after_removal = parse(send.GetSMSQueues(accessKey=key, listID=list_id))
    early = len(gateway.requests)
    now = parse(send.ScheduleSMSQueue(accessKey=key, listID=list_id, smsID=0,
                                      scheduleID=second, deliverydt="20000101000000",
                                      timezone=0))  # a time past: now
    _work(server_settings, gateway)
    at_the_end = parse(send.GetSMSQueues(accessKey=key, listID=list_id))

    assert [tuple(q.findtext(f) for f in ("deliveryID", "scheduleID", "listID", "smsID",
                                          "status", "deliverydt", "toSend", "toBeSent"))
            for q in queued.iter("queue")] == [
        (str(first), str(first), str(list_id), str(sms_id), "SCHEDULED",
         f"{later:%Y%m%d}093000", "1", "1"),
        (str(second), str(second), str(list_id), str(sms_id), "SCHEDULED",
         f"{later:%Y%m%d}100000", "1", "1")]
    assert _code(moved) == 0
    assert moved.findtext("queue/deliverydt") == f"{later:%Y%m%d}100000"  # 12:00 at UTC+2
    # The waiting job was moved, not joined by a second one.
    assert [j.scheduled_at for j in jobs_after_move] == [
        dt.datetime.strptime(f"{later:%Y%m%d}100000", "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)]
    assert _code(removed) == 0
    assert [q.findtext("deliveryID") for q in after_removal.iter("queue")] == [str(second)]
    assert _q(engine, "SELECT id FROM deliveries WHERE id = :d", d=first) == []
    assert early == 0
    assert _code(now) == 0
    assert list(_sent(gateway)) == [who] and len(gateway.requests) == 1
    assert list(at_the_end.iter("queue")) == []
    assert _status(soap, key, second).findtext("deliveryStatus/status") == "COMPLETED"


def test_a_job_running_before_its_moved_schedule_sends_nothing(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine,
        server_settings: Settings, gateway: Receiver) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    _subscribe(engine, account.console_id, list_id, _number())
    sms_id = _create(soap, key, list_id)
    delivery_id = int(_send(soap, key, list_id, sms_id, send_to="ALL").findtext("deliveryID")
                      or 0)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    moved = parse(soap("Send").ScheduleSMSQueue(
        accessKey=key, listID=list_id, smsID=sms_id, scheduleID=delivery_id,
        deliverydt=f"{later:%Y%m%d%H%M%S}", timezone=0))
    deps = bootstrap.build_deps(_through(server_settings, gateway), pool_size=1)

    assert _code(moved) == 0
    assert sms.run_sms_delivery(deps, delivery_id) == "not due"
    assert gateway.requests == []
    assert _status(soap, key, delivery_id).findtext("deliveryStatus/status") == "SCHEDULED"


def _schedule(s: ServiceFactory, k: str, lst: int, sid: int, did: int,
              when: str = "20991231235900", tz: int = 0) -> Any:
    return parse(s("Send").ScheduleSMSQueue(accessKey=k, listID=lst, smsID=sid, scheduleID=did,
                                            deliverydt=when, timezone=tz))


def _remove(s: ServiceFactory, k: str, did: int) -> Any:
    return parse(s("Send").RemoveSMSQueue(accessKey=k, deliveryID=did, scheduleID=0,
                                          deleteQueue=True))


@pytest.mark.parametrize(("call", "expected"), [
    (lambda s, k, lst, sid, did: _schedule(s, k, lst, sid, 987654321), -1107),
    (lambda s, k, lst, sid, did: _schedule(s, k, lst + 1000, sid, did), -1107),
    (lambda s, k, lst, sid, did: _schedule(s, k, lst, sid + 1000, did), -1107),
    (lambda s, k, lst, sid, did: _schedule(s, k, lst, sid, did, "31/12/2099"), -1105),
    (lambda s, k, lst, sid, did: _schedule(s, k, lst, sid, did, "20991331000000"), -1105),
    (lambda s, k, lst, sid, did: _schedule(s, k, lst, sid, did, ""), -1105),
    (lambda s, k, lst, sid, did: _schedule(s, k, lst, sid, did, tz=15), -1105),
    (lambda s, k, lst, sid, did: _schedule(s, k, lst, sid, did, "99991231235959", -1), -1105),
    (lambda s, k, lst, sid, did: _schedule(s, k, lst, sid, did, "00010101000000", 1), -1105),
    (lambda s, k, lst, sid, did: _remove(s, k, 987654321), -1107),
    (lambda s, k, lst, sid, did: parse(s("Send").GetSMSQueues(accessKey=k, listID=lst + 1000)),
     -1101),
])
def test_bad_sms_queue_input_gets_its_code_and_changes_nothing(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine, call: Any,
        expected: int) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    _subscribe(engine, account.console_id, list_id, _number())
    sms_id = _create(soap, key, list_id)
    delivery_id = _later_send(soap, key, list_id, sms_id, "20990101000000")

    assert _code(call(soap, key, list_id, sms_id, delivery_id)) == expected
    assert _q(engine, "SELECT scheduled_at FROM deliveries WHERE id = :d", d=delivery_id) == [
        (dt.datetime(2099, 1, 1, tzinfo=dt.UTC),)]


def test_a_sending_or_completed_sms_delivery_cannot_be_moved_or_removed(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    _subscribe(engine, account.console_id, list_id, _number())
    sms_id = _create(soap, key, list_id)
    # Far in the future, so no worker of another test ever runs their jobs.
    sending_id = str(_later_send(soap, key, list_id, sms_id, "20990101000000"))
    with engine.begin() as conn:  # a worker has it in hand
        conn.execute(sa.text("UPDATE deliveries SET status = 'sending' WHERE id = :d"),
                     {"d": int(sending_id)})
    done_id = _later_send(soap, key, list_id, _create(soap, key, list_id, "other"),
                          "20990101000000")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE deliveries SET status = 'completed' WHERE id = :d"),
                     {"d": done_id})

    refused = [_remove(soap, key, int(sending_id)),
               _schedule(soap, key, list_id, sms_id, int(sending_id)),
               _remove(soap, key, done_id)]
    queued = parse(soap("Send").GetSMSQueues(accessKey=key, listID=list_id))

    assert [_code(d) for d in refused] == [-1105, -1105, -1105]
    assert "StopDeliverySMS" in (refused[0].findtext("errorDescription") or "")
    assert [(q.findtext("deliveryID"), q.findtext("status")) for q in queued.iter("queue")] == [
        (sending_id, "SENDING")]


def test_an_sms_send_takes_sms_credits_and_is_refused_beyond_them(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine,
        server_settings: Settings, gateway: Receiver) -> None:
    from mailup_soap import bootstrap
    from mailup_soap.service_layer import sending

    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    for _ in range(2):
        _subscribe(engine, account.console_id, list_id, _number())
    sms_id = _create(soap, key, list_id)
    sending.set_credits(bootstrap.build_deps(server_settings, pool_size=1), account.console_id,
                        "sms", 3)

    first = _send(soap, key, list_id, sms_id, send_to="ALL", sender="Shop")
    second = _send(soap, key, list_id, sms_id, send_to="ALL", sender="Shop")
    credits = parse(soap("Send").GetCredits(accessKey=key))

    assert (_code(first), _code(second)) == (0, -1109)
    assert (credits.findtext("credits/sms"), credits.findtext("credits/email")) == ("1", "-1")
