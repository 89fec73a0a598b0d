"""Send's messages and deliveries over real HTTP (zeep from MailUp's reference WSDL), a real
worker delivering through a real SMTP server on loopback (aiosmtpd), and the links inside
the messages followed over HTTP."""
from __future__ import annotations

import dataclasses
import email.message
import re
import secrets
import urllib.parse
from typing import Any

import pytest
import sqlalchemy as sa

from mailup_soap import bootstrap
from mailup_soap.config import Settings
from mailup_soap.db import sending_repos
from mailup_soap.service_layer import delivery_engine
from mailup_soap.service_layer.ports import MailerError
from tests.conftest import AccountInfo, SmtpSink, free_port, run_jobs
from tests.e2e.conftest import ServiceFactory, login, parse
from tests.e2e.send_helpers import code as _code
from tests.e2e.send_helpers import html_part as _html
from tests.e2e.send_helpers import new_list, subscribe
from tests.e2e.send_helpers import options as _options
from tests.e2e.send_helpers import query as _q
from tests.e2e.send_helpers import request as _request

pytestmark = pytest.mark.e2e

HTML = ('<html><body><p>Hello [campo1] ([email])</p>'
        '<p><a href="https://shop.example/sale?x=1&amp;y=2">Sale</a></p></body></html>')


def _email(tag: str) -> str:
    return f"{tag}-{secrets.token_hex(4)}@example.test"


def _list(soap: ServiceFactory, key: str) -> int:
    return new_list(soap, key)


def _subscribe(engine: sa.Engine, account_id: int, list_id: int, who: str, status: str,
               name: str = "") -> int:
    return subscribe(engine, account_id, list_id, who, status, name)


def _newsletter(soap: ServiceFactory, key: str, list_id: int, subject: str = "News for [campo1]",
                **opts: str) -> int:
    doc = parse(soap("Send").CreateNewsletter(accessKey=key, listID=list_id, subject=subject,
                                              type="HTML", content=HTML,
                                              options=_options(**opts) if opts else None))
    assert _code(doc) == 0, doc
    return int(doc.findtext("newsletterID") or 0)


def _send(soap: ServiceFactory, key: str, list_id: int, newsletter_id: int,
          **opts: str) -> Any:
    return parse(soap("Send").SendNewsletter(accessKey=key, listID=list_id,
                                             newsletterID=newsletter_id,
                                             options=_options(**opts)))


def _ann_on_a_list(soap: ServiceFactory, account: AccountInfo, engine: sa.Engine,
                   **list_options: str) -> tuple[str, int, str]:
    """A Send accessKey, a new list with those options, and its one subscriber Ann."""
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    if list_options:
        updated = parse(soap("Manage").UpdateList(accessKey=key, listID=list_id,
                                                  options=_options(**list_options)))
        assert updated.findtext("errorCode") == "0", updated
    ann = _email("ann")
    _subscribe(engine, account.console_id, list_id, ann, "subscribed", "Ann")
    return key, list_id, ann


def _text(message: email.message.EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def test_create_get_and_edit_a_newsletter(soap: ServiceFactory, account: AccountInfo) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    send = soap("Send")

    newsletter_id = _newsletter(soap, key, list_id, note="spring", link_track="false")
    listed = parse(send.GetNewsletters(accessKey=key, listID=list_id))
    edited = parse(send.EditNewsletter(accessKey=key, listID=list_id, newsletterId=newsletter_id,
                                       subject="Edited", type="HTML", content="<p>new</p>",
                                       options=None))
    code = parse(send.GetNewsletterCode(accessKey=key, listID=list_id,
                                        newsletterID=newsletter_id, isTemplate=False))
    messages = parse(send.GetMessages(accessKey=key, listID=list_id))

    assert [(n.findtext("newsletterID"), n.findtext("subject"), n.findtext("note"))
            for n in listed.iter("newsletter")] == [
        (str(newsletter_id), "News for [campo1]", "spring")]
    assert _code(edited) == 0 and edited.findtext("newsletterID") == str(newsletter_id)
    assert (code.findtext("subject"), code.findtext("body")) == ("Edited", "<p>new</p>")
    assert [n.findtext("subject") for n in messages.iter("newsletter")] == ["Edited"]


@pytest.mark.parametrize(("call", "expected"), [
    (lambda s, k, lst, nl: _send(s, k, lst, nl), -1105),  # send_to is mandatory
    (lambda s, k, lst, nl: _send(s, k, lst, nl, send_to="SOME"), -1105),
    (lambda s, k, lst, nl: _send(s, k, lst, nl, send_to="ALL", deliverydt="tomorrow"), -1105),
    (lambda s, k, lst, nl: _send(s, k, lst, nl, send_to="GROUPS", recipients="999"), -1102),
    (lambda s, k, lst, nl: _send(s, k, lst, nl + 1000, send_to="ALL"), -1106),
    (lambda s, k, lst, nl: _send(s, k, lst + 1000, nl, send_to="ALL"), -1101),
    (lambda s, k, lst, nl: parse(s("Send").CreateNewsletter(
        accessKey=k, listID=lst, subject="x", type="URL", content="http://x", options=None)),
     -1105),
    (lambda s, k, lst, nl: parse(s("Send").CreateNewsletter(
        accessKey=k, listID=lst, subject="", type="HTML", content="<p>x</p>", options=None)),
     -1105),
    (lambda s, k, lst, nl: parse(s("Send").GetNewsletterDeliveryStatus(
        accessKey=k, deliveryID=987654321)), -1107),
])
def test_bad_send_input_gets_its_code_and_creates_nothing(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine, call: Any,
        expected: int) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    newsletter_id = _newsletter(soap, key, list_id)

    assert _code(call(soap, key, list_id, newsletter_id)) == expected
    assert _q(engine, "SELECT id FROM deliveries WHERE account_id = :a",
              a=account.console_id) == []


def test_a_newsletter_reaches_only_subscribers_personalised_with_working_links(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine, smtp: SmtpSink,
        server_settings: Settings) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    ann, bob, cy = _email("ann"), _email("bob"), _email("cy")
    ann_id = _subscribe(engine, account.console_id, list_id, ann, "subscribed", "Ann")
    bob_id = _subscribe(engine, account.console_id, list_id, bob, "subscribed", "Bob")
    _subscribe(engine, account.console_id, list_id, cy, "subscribed")
    gone, waiting = _email("gone"), _email("wait")
    _subscribe(engine, account.console_id, list_id, gone, "unsubscribed")
    _subscribe(engine, account.console_id, list_id, waiting, "pending")
    newsletter_id = _newsletter(soap, key, list_id)

    sent = _send(soap, key, list_id, newsletter_id, send_to="ALL", from_email="news@shop.example",
                 from_name="Shop News")
    delivery_id = int(sent.findtext("deliveryID") or 0)
    run_jobs(server_settings, "send")
    status = parse(soap("Send").GetNewsletterDeliveryStatus(accessKey=key,
                                                            deliveryID=delivery_id))

    assert _code(sent) == 0 and sent.findtext("deliveryStatus/toSend") == "3"
    assert (status.findtext("deliveryStatus/status"), status.findtext("deliveryStatus/progress"),
            status.findtext("deliveryStatus/toBeSent")) == ("COMPLETED", "100", "0")
    assert [len(smtp.to(w)) for w in (ann, bob, cy, gone, waiting)] == [1, 1, 1, 0, 0]
    [message] = smtp.to(ann)
    assert message["Subject"] == "News for Ann"
    assert message["From"] == "Shop News <news@shop.example>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.get_content_type() == "multipart/alternative"
    html = _html(message)
    assert f"Hello Ann ({ann})" in html
    assert "Hello Ann" in _text(message) and "Unsubscribe: http" in _text(message)
    assert "https://shop.example/sale" not in html  # rewritten through the click tracker

    click = re.search(r'href="([^"]*/frontend/t/c\?[^"]*)"', html)
    pixel = re.search(r'src="([^"]*/frontend/t/o\?[^"]*)"', html)
    assert click and pixel
    followed = _request(click.group(1).replace("&amp;", "&"))
    opened = _request(pixel.group(1).replace("&amp;", "&"))
    tampered = _request(click.group(1).replace("&amp;", "&")[:-3] + "AAA")
    assert (followed.status, followed.getheader("Location")) == (
        302, "https://shop.example/sale?x=1&y=2")
    assert (opened.status, opened.getheader("Content-Type")) == (200, "image/gif")
    assert tampered.status == 404
    assert sorted((r.kind, r.recipient_id) for r in _q(
        engine, "SELECT kind, recipient_id FROM tracking_events WHERE delivery_id = :d",
        d=delivery_id)) == [("click", ann_id), ("open", ann_id)]

    one_click = re.search(r"<(https?://[^>]*/frontend/t/oneclick\?[^>]*)>",
                          message["List-Unsubscribe"])
    assert one_click and "mailto:" in message["List-Unsubscribe"]
    assert _request(one_click.group(1), "POST", "List-Unsubscribe=One-Click").status == 200
    [bob_message] = smtp.to(bob)
    page = re.search(r'href="([^"]*/frontend/t/u\?[^"]*)"', _html(bob_message))
    assert page
    page_url = page.group(1).replace("&amp;", "&")
    assert _request(page_url).status == 200  # the page with its button: changes nothing
    assert _q(engine, "SELECT status FROM subscriptions WHERE recipient_id = :r",
              r=bob_id) == [("subscribed",)]
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(page_url).query)["t"][0]
    assert _request(page_url.split("?")[0], "POST",
                    urllib.parse.urlencode({"t": token})).status == 200
    assert sorted(_q(engine, """SELECT r.email, s.status, s.unsubscribe_reason,
                                       s.optout_message_id
                                FROM subscriptions s JOIN recipients r
                                  ON r.account_id = s.account_id AND r.id = s.recipient_id
                                WHERE s.recipient_id IN (:a, :b)""", a=ann_id, b=bob_id)) == [
        (ann, "unsubscribed", 32, newsletter_id), (bob, "unsubscribed", 2, newsletter_id)]
    assert smtp.to(ann)[0]["Message-ID"] != bob_message["Message-ID"]


def test_links_of_a_deleted_delivery_still_open_and_redirect_and_count_nothing(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine, smtp: SmtpSink,
        server_settings: Settings) -> None:
    key, list_id, ann = _ann_on_a_list(soap, account, engine)
    sent = _send(soap, key, list_id, _newsletter(soap, key, list_id), send_to="ALL")
    delivery_id = int(sent.findtext("deliveryID") or 0)
    run_jobs(server_settings, "send")
    html = _html(smtp.to(ann)[0])
    click = re.search(r'href="([^"]*/frontend/t/c\?[^"]*)"', html)
    pixel = re.search(r'src="([^"]*/frontend/t/o\?[^"]*)"', html)
    assert click and pixel
    with engine.begin() as conn:  # as RemoveNewsletterQueue or DeleteList leave it
        conn.execute(sa.text("DELETE FROM deliveries WHERE id = :d"), {"d": delivery_id})

    followed = _request(click.group(1).replace("&amp;", "&"))
    opened = _request(pixel.group(1).replace("&amp;", "&"))

    assert (followed.status, followed.getheader("Location")) == (
        302, "https://shop.example/sale?x=1&y=2")
    assert (opened.status, opened.getheader("Content-Type")) == (200, "image/gif")
    assert _q(engine, "SELECT count(*) FROM tracking_events WHERE account_id = :a",
              a=account.console_id) == [(0,)]


def test_the_lists_replyto_and_tracking_options_shape_its_messages(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine, smtp: SmtpSink,
        server_settings: Settings) -> None:
    key, list_id, ann = _ann_on_a_list(soap, account, engine, replyto="help@shop.example",
                                       tracking="0")

    _send(soap, key, list_id, _newsletter(soap, key, list_id), send_to="ALL")
    run_jobs(server_settings, "send")

    [message] = smtp.to(ann)
    html = _html(message)
    assert message["Reply-To"] == "help@shop.example"
    assert 'href="https://shop.example/sale?x=1&amp;y=2"' in html  # not through the tracker
    assert "/frontend/t/o" not in html and "/frontend/t/c" not in html
    assert "/frontend/t/u" in html  # the unsubscribe link stays


def test_the_unsubscribe_link_of_a_list_with_sendemailoptout_sends_the_notice(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine, smtp: SmtpSink,
        server_settings: Settings) -> None:
    key, list_id, ann = _ann_on_a_list(soap, account, engine, sendemailoptout="1")
    _send(soap, key, list_id, _newsletter(soap, key, list_id), send_to="ALL")
    run_jobs(server_settings, "send")
    [newsletter] = smtp.to(ann)
    page = re.search(r'href="([^"]*/frontend/t/u\?[^"]*)"', _html(newsletter))
    assert page
    page_url = page.group(1).replace("&amp;", "&")
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(page_url).query)["t"][0]

    assert _request(page_url.split("?")[0], "POST",
                    urllib.parse.urlencode({"t": token})).status == 200
    run_jobs(server_settings, "mail")

    subjects = [m["Subject"] for m in smtp.to(ann)]
    assert subjects == ["News for Ann", "You are unsubscribed from Newsletter"]


def test_a_text_newsletter_is_html_as_at_mailup(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine, smtp: SmtpSink,
        server_settings: Settings) -> None:
    key, list_id, ann = _ann_on_a_list(soap, account, engine)
    created = parse(soap("Send").CreateNewsletter(
        accessKey=key, listID=list_id, subject="Text", type="TEXT",
        content="<p>Hello <b>[campo1]</b></p>", options=None))
    newsletter_id = int(created.findtext("newsletterID") or 0)

    _send(soap, key, list_id, newsletter_id, send_to="ALL")
    run_jobs(server_settings, "send")

    [message] = smtp.to(ann)
    assert "<p>Hello <b>Ann</b></p>" in _html(message)
    assert "&lt;" not in _html(message)
    assert _text(message).startswith("Hello Ann")


def test_send_to_recipients_and_to_groups_minus_excluded_groups(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine, smtp: SmtpSink,
        server_settings: Settings) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    manage = soap("Manage")
    vip = int(parse(manage.CreateGroup(accessKey=key, listID=list_id, groupName="VIP",
                                       groupNotes="")).findtext("list/groups/group/groupID")
              or 0)
    blocked = int(parse(manage.CreateGroup(accessKey=key, listID=list_id, groupName="Blocked",
                                           groupNotes="")).findtext("list/groups/group/groupID")
                  or 0)
    people = {n: _email(n) for n in ("a", "b", "c", "d")}
    ids = {n: _subscribe(engine, account.console_id, list_id, e, "subscribed")
           for n, e in people.items()}
    with engine.begin() as conn:
        for name, group in (("a", vip), ("b", vip), ("b", blocked), ("c", blocked)):
            conn.execute(sa.text("INSERT INTO group_members VALUES (:a, :g, :r)"),
                         {"a": account.console_id, "g": group, "r": ids[name]})
    newsletter_id = _newsletter(soap, key, list_id)

    to_some = _send(soap, key, list_id, newsletter_id, send_to="RECIPIENTS",
                    recipients=f"{people['c']};{people['d'].upper()};nobody@example.test")
    to_groups = _send(soap, key, list_id, newsletter_id, send_to="GROUPS",
                      recipients=str(vip), exclude=str(blocked))
    run_jobs(server_settings, "send")

    assert (to_some.findtext("deliveryStatus/toSend"),
            to_groups.findtext("deliveryStatus/toSend")) == ("2", "1")
    assert {n: len(smtp.to(e)) for n, e in people.items()} == {"a": 1, "b": 0, "c": 1, "d": 1}


def test_stop_delivery_pauses_and_start_delivery_resumes_where_it_stopped(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine, smtp: SmtpSink,
        server_settings: Settings) -> None:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    people = [_email(f"p{n}") for n in range(3)]
    for who in people:
        _subscribe(engine, account.console_id, list_id, who, "subscribed")
    delivery_id = int(_send(soap, key, list_id, _newsletter(soap, key, list_id),
                            send_to="ALL").findtext("deliveryID") or 0)

    stopped = parse(soap("Send").StopDelivery(accessKey=key))
    run_jobs(server_settings, "send")
    paused = parse(soap("Send").GetNewsletterDeliveryStatus(accessKey=key,
                                                            deliveryID=delivery_id))
    received_while_paused = sum(len(smtp.to(p)) for p in people)
    started = parse(soap("Send").StartDelivery(accessKey=key))
    run_jobs(server_settings, "send")

    assert [d.text for d in stopped.iter("deliveryID")] == [str(delivery_id)]
    assert paused.findtext("deliveryStatus/status") == "SENDING"
    assert received_while_paused == 0
    assert [d.text for d in started.iter("deliveryID")] == [str(delivery_id)]
    assert [len(smtp.to(p)) for p in people] == [1, 1, 1]


def _delivery_for(soap: ServiceFactory, account: AccountInfo, engine: sa.Engine,
                  count: int) -> tuple[int, list[str]]:
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    people = [_email(f"k{n}") for n in range(count)]
    for who in people:
        _subscribe(engine, account.console_id, list_id, who, "subscribed")
    sent = _send(soap, key, list_id, _newsletter(soap, key, list_id), send_to="ALL")
    return int(sent.findtext("deliveryID") or 0), people


def test_an_unreachable_smtp_server_marks_nothing_sent_and_the_delivery_is_retried(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine, smtp: SmtpSink,
        server_settings: Settings) -> None:
    delivery_id, people = _delivery_for(soap, account, engine, 3)
    nowhere = bootstrap.build_deps(dataclasses.replace(server_settings,
                                                       smtp_port=free_port()), pool_size=1)

    with pytest.raises(MailerError):
        delivery_engine.run_delivery(nowhere, delivery_id)
    states = _q(engine, "SELECT state FROM delivery_recipients WHERE delivery_id = :d",
                d=delivery_id)
    run_jobs(server_settings, "send")  # the job, still queued, now gets through

    assert sorted(s.state for s in states) == ["pending"] * 3
    assert [len(smtp.to(p)) for p in people] == [1, 1, 1]


def test_a_stored_address_no_message_can_carry_fails_alone_and_the_delivery_completes(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine, smtp: SmtpSink,
        server_settings: Settings) -> None:
    # Written straight into the table, as a release that accepted such addresses stored them.
    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    before, after = _email("before"), _email("after")
    _subscribe(engine, account.console_id, list_id, before, "subscribed")
    unwritable = _subscribe(engine, account.console_id, list_id,
                            f"jos\u00e9-{secrets.token_hex(3)}@example.test", "subscribed")
    _subscribe(engine, account.console_id, list_id, after, "subscribed")
    sent = _send(soap, key, list_id, _newsletter(soap, key, list_id), send_to="ALL")
    delivery_id = int(sent.findtext("deliveryID") or 0)

    run_jobs(server_settings, "send")

    states = {r.recipient_id: (r.state, r.error) for r in _q(
        engine, "SELECT recipient_id, state, error FROM delivery_recipients "
                "WHERE delivery_id = :d", d=delivery_id)}
    [delivery] = _q(engine, "SELECT status, sent, failed FROM deliveries WHERE id = :d",
                    d=delivery_id)
    assert states[unwritable][0] == "failed"
    assert "cannot be written" in states[unwritable][1]
    assert sorted(s for s, _ in states.values()) == ["failed", "sent", "sent"]
    assert (delivery.status, delivery.sent, delivery.failed) == ("completed", 2, 1)
    assert [len(smtp.to(before)), len(smtp.to(after))] == [1, 1]


class WorkerKilled(BaseException):
    """What a SIGKILL looks like from inside: not an Exception, nothing records it."""


def test_a_worker_killed_mid_delivery_resends_only_the_batch_in_flight(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine, smtp: SmtpSink,
        server_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery_engine, "BATCH", 4)
    delivery_id, people = _delivery_for(soap, account, engine, 10)
    deps = bootstrap.build_deps(server_settings, pool_size=1)
    real_mark, marks = sending_repos.SendingRepository.mark, []

    def killed_before_recording_the_second_batch(self: Any, d: int, sent: list[int],
                                                 *args: Any) -> None:
        marks.append(len(sent))
        if len(marks) == 2:
            raise WorkerKilled()  # the batch went out; its record never commits
        real_mark(self, d, sent, *args)

    monkeypatch.setattr(sending_repos.SendingRepository, "mark",
                        killed_before_recording_the_second_batch)
    with pytest.raises(WorkerKilled):
        delivery_engine.run_delivery(deps, delivery_id)
    monkeypatch.setattr(sending_repos.SendingRepository, "mark", real_mark)
    recorded = _q(engine, "SELECT count(*) FROM delivery_recipients WHERE delivery_id = :d "
                          "AND state = 'sent'", d=delivery_id)[0][0]

    assert delivery_engine.run_delivery(deps, delivery_id) == "completed"
    received = [len(smtp.to(p)) for p in people]
    assert recorded == 4
    assert all(n >= 1 for n in received)  # nobody skipped
    assert sum(received) - len(people) == 4  # only the 4 in flight at the kill went twice
    assert _q(engine, "SELECT sent, total FROM deliveries WHERE id = :d", d=delivery_id) == [
        (10, 10)]


def test_a_list_unsubscribe_mail_piped_in_by_the_mta_unsubscribes_with_reason_64(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine, smtp: SmtpSink,
        server_settings: Settings) -> None:
    import os
    import subprocess
    import sys

    key = login(soap, account, "Send")
    list_id = _list(soap, key)
    who = _email("mailto")
    rid = _subscribe(engine, account.console_id, list_id, who, "subscribed")
    newsletter_id = _newsletter(soap, key, list_id)
    _send(soap, key, list_id, newsletter_id, send_to="ALL")
    run_jobs(server_settings, "send")
    [message] = smtp.to(who)
    mailto = re.search(r"<mailto:([^?>]+)\?subject=([^>]+)>", message["List-Unsubscribe"])
    assert mailto
    subject = urllib.parse.unquote(mailto.group(2))
    cli = os.path.join(os.path.dirname(sys.executable), "mailup-soap")
    env = dict(os.environ, DATABASE_URL=server_settings.database_url,
               MAILUP_SECRET_KEY=server_settings.secret_key)

    def pipe(subject_line: str) -> subprocess.CompletedProcess[str]:
        mail = (f"From: {who}\r\nTo: {mailto.group(1)}\r\nSubject: {subject_line}\r\n\r\n"
                "unsubscribe\r\n")
        return subprocess.run([cli, "inbound-mail"], input=mail, env=env, capture_output=True,
                              text=True, timeout=60)

    forged = pipe(subject[:-4] + "AAAA")
    status_after_forged = _q(engine, "SELECT status FROM subscriptions WHERE recipient_id = :r",
                             r=rid)
    done = pipe(f"Re: {subject}")

    assert (forged.returncode, forged.stdout.strip()) == (
        0, "ignored: no unsubscribe token in the subject")
    assert status_after_forged == [("subscribed",)]
    assert (done.returncode, done.stdout.strip()) == (0, "unsubscribed")
    assert _q(engine, "SELECT status, unsubscribe_reason, optout_message_id FROM subscriptions "
                      "WHERE recipient_id = :r", r=rid) == [("unsubscribed", 64, newsletter_id)]
