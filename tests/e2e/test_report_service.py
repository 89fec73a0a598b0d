"""The Report service's statistics over real HTTP (zeep from MailUp's reference WSDL): a
newsletter delivered by a real worker through a real SMTP server on loopback, its open
pixel and click links followed over HTTP, then ReportByMessage and ReportByUser read back."""
from __future__ import annotations

import dataclasses
import re
import secrets
from typing import Any

import pytest
import sqlalchemy as sa

from mailup_soap.config import Settings
from tests.conftest import AccountInfo, SmtpSink, new_account, run_jobs
from tests.e2e.conftest import ServiceFactory, login, parse
from tests.e2e.send_helpers import (
    code,
    html_part,
    new_list,
    newsletter_sent,
    options,
    request,
    subscribe,
)

pytestmark = pytest.mark.e2e

SALE = "https://shop.example/sale?x=1&y=2"
HTML = ('<html><body><p>Hello [campo1]</p><p><a href="https://shop.example/sale?x=1&amp;y=2">'
        'Sale</a> <a href="https://shop.example/news">News</a></p></body></html>')


def _email(tag: str) -> str:
    return f"{tag}-{secrets.token_hex(4)}@example.test"


@dataclasses.dataclass(frozen=True)
class Sent:
    key: str
    list_id: int
    message_id: int
    ann: str
    bob: str


def _newsletter(soap: ServiceFactory, key: str, list_id: int, subject: str) -> int:
    doc = parse(soap("Send").CreateNewsletter(accessKey=key, listID=list_id, subject=subject,
                                              type="HTML", content=HTML))
    assert code(doc) == 0, doc
    return int(doc.findtext("newsletterID") or 0)


def _links(smtp: SmtpSink, address: str) -> tuple[str, str, str]:
    """The open pixel, the sale link and the news link of the one message sent there."""
    [message] = smtp.to(address)
    html = html_part(message).replace("&amp;", "&")
    pixel = re.search(r'src="([^"]*/frontend/t/o\?[^"]*)"', html)
    clicks = re.findall(r'href="([^"]*/frontend/t/c\?[^"]*)"', html)
    assert pixel and len(clicks) == 2
    return pixel.group(1), clicks[0], clicks[1]


def _follow(url: str, times: int = 1) -> None:
    for _ in range(times):
        assert request(url).status in (200, 302)


@pytest.fixture
def sent(soap: ServiceFactory, account: AccountInfo, engine: sa.Engine, smtp: SmtpSink,
         server_settings: Settings) -> Sent:
    """A newsletter sent to Ann (with a mobile number) and Bob. Ann opened it twice and
    followed the sale link; Bob opened it once, followed the sale link twice and the news
    link once."""
    key = login(soap, account, "Send")
    list_id = new_list(soap, key)
    ann, bob = _email("ann"), _email("bob")
    subscribe(engine, account.console_id, list_id, ann, "subscribed", "Ann", mobile="+393331234567")
    subscribe(engine, account.console_id, list_id, bob, "subscribed", "Bob")
    message_id = newsletter_sent(soap, key, list_id, "Spring sale", HTML, server_settings)
    pixel, sale, _ = _links(smtp, ann)
    _follow(pixel, 2)
    _follow(sale)
    pixel, sale, news = _links(smtp, bob)
    _follow(pixel)
    _follow(sale, 2)
    _follow(news)
    return Sent(key, list_id, message_id, ann, bob)


def _report(soap: ServiceFactory, operation: str, **params: Any) -> Any:
    doc = parse(getattr(soap("Report"), operation)(**params))
    assert doc.tag == f"{operation}Result"
    return doc


def _counts(element: Any, total: str) -> dict[str, str]:
    return {child.get("Email"): child.get(total) for child in element}


def test_report_by_message_counts_clicks_per_link_and_opens_per_address(
        soap: ServiceFactory, sent: Sent) -> None:
    doc = _report(soap, "ReportByMessageEN", accessKey=sent.key, listID=sent.list_id,
                  messageID=sent.message_id)

    assert code(doc) == 0
    clicks = doc.findall("Clicks")
    assert [(c.get("Url"), c.get("Total")) for c in clicks] == [
        (SALE, "3"), ("https://shop.example/news", "1")]
    assert _counts(clicks[0], "Total") == {sent.bob: "2", sent.ann: "1"}
    assert [c.get("Email") for c in clicks[0]] == [sent.bob, sent.ann]  # the most first
    assert _counts(clicks[1], "Total") == {sent.bob: "1"}
    assert doc.find("Opens").get("Total") == "3"
    assert _counts(doc.find("Opens"), "Total") == {sent.ann: "2", sent.bob: "1"}


def test_italian_report_by_message_says_totale_and_message_zero_means_every_message(
        soap: ServiceFactory, sent: Sent, smtp: SmtpSink, server_settings: Settings) -> None:
    newsletter_sent(soap, sent.key, sent.list_id, "Second", HTML, server_settings)
    [second] = [m for m in smtp.to(sent.ann) if m["Subject"] == "Second"]
    pixel = re.search(r'src="([^"]*/frontend/t/o\?[^"]*)"', html_part(second))
    assert pixel
    _follow(pixel.group(1).replace("&amp;", "&"))

    one = _report(soap, "ReportByMessage", accessKey=sent.key, listID=sent.list_id,
                  messageID=sent.message_id)
    every = _report(soap, "ReportByMessage", accessKey=sent.key, listID=sent.list_id,
                    messageID=0)

    for doc in (one, every):
        assert code(doc) == 0
        assert [(c.get("Url"), c.get("Totale")) for c in doc.findall("Clicks")] == [
            (SALE, "3"), ("https://shop.example/news", "1")]
    assert one.find("Opens").get("Totale") == "3"
    assert _counts(one.find("Opens"), "Totale") == {sent.ann: "2", sent.bob: "1"}
    assert every.find("Opens").get("Totale") == "4"
    assert _counts(every.find("Opens"), "Totale") == {sent.ann: "3", sent.bob: "1"}


def test_sending_again_with_clear_stats_starts_the_messages_statistics_afresh(
        soap: ServiceFactory, sent: Sent, server_settings: Settings) -> None:
    def send_again(clear_stats: str) -> Any:
        doc = parse(soap("Send").SendNewsletter(
            accessKey=sent.key, listID=sent.list_id, newsletterID=sent.message_id,
            options=options(send_to="ALL", clear_stats=clear_stats)))
        assert code(doc) == 0, doc
        run_jobs(server_settings, "send")
        return _report(soap, "ReportByMessageEN", accessKey=sent.key, listID=sent.list_id,
                       messageID=sent.message_id)

    kept, cleared = send_again("false"), send_again("true")

    assert kept.find("Opens").get("Total") == "3" and len(kept.findall("Clicks")) == 2
    assert cleared.find("Opens").get("Total") == "0" and cleared.findall("Clicks") == []


def test_report_by_user_gives_channels_each_open_and_click_and_personal_fields(
        soap: ServiceFactory, sent: Sent) -> None:
    doc = _report(soap, "ReportByUserEN", accessKey=sent.key, email=sent.ann.upper(),
                  listID=sent.list_id, messageID=0)

    assert code(doc) == 0
    assert [(c.tag, c.text) for c in doc.find("Channels")] == [
        ("Email", "Subscribed"), ("SMS", "Subscribed"), ("RegularMail", None),
        ("Voice", None), ("Fax", None)]
    assert doc.findtext("Bounce") == ""
    [clicks] = doc.findall("Clicks")
    assert (clicks.get("Url"), clicks.get("Total")) == (SALE, "1")
    [click] = clicks
    assert (click.get("IP"), click.get("MessageID"), click.get("Subject")) == (
        "127.0.0.1", str(sent.message_id), "Spring sale")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", click.get("DateTime"))
    opens = doc.find("Opens")
    assert opens.get("Total") == "2" and len(opens) == 2
    assert {o.get("MessageID") for o in opens} == {str(sent.message_id)}
    fields = doc.find("PersonalDataFields")
    assert len(fields) == 39
    assert (fields[0].get("Id"), fields[0].get("Value")) == ("1", "Ann")
    assert (fields[1].get("Id"), fields[1].get("Value")) == ("2", "")


def test_italian_report_by_user_speaks_magentos_words(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine, sent: Sent) -> None:
    waiting, bounced = _email("wait"), _email("bounced")
    subscribe(engine, account.console_id, sent.list_id, waiting, "pending")
    gone = subscribe(engine, account.console_id, sent.list_id, bounced, "unsubscribed")
    with engine.begin() as conn:
        conn.execute(sa.text(
            "UPDATE subscriptions SET unsubscribe_reason = 8, "
            "unsubscribed_at = '2026-03-04 05:06:07+00' WHERE recipient_id = :r"), {"r": gone})

    def report(who: str) -> Any:
        return _report(soap, "ReportByUser", accessKey=sent.key, email=who,
                       listID=sent.list_id, messageID=sent.message_id)

    bob, pending, unsubscribed, stranger = (
        report(sent.bob), report(waiting), report(bounced), report(_email("nobody")))

    assert [d.findtext("Canali/Email") for d in (bob, pending, unsubscribed, stranger)] == [
        "Iscritto", "In attesa", "Disiscritto", "Non Registrato"]
    assert bob.findtext("Canali/SMS") == "Non Registrato"  # Bob gave no mobile number
    assert [c.tag for c in bob.find("Canali")] == ["Email", "SMS", "Posta", "Voce", "Fax"]
    assert [(c.get("Url"), c.get("Totale")) for c in bob.findall("Clicks")] == [
        (SALE, "2"), ("https://shop.example/news", "1")]
    assert re.fullmatch(r"\d\d/\d\d/\d{4} \d\d\.\d\d\.\d\d",
                        bob.find("Clicks/Click").get("DataOra"))
    assert bob.find("Opens").get("Totale") == "1"
    assert (bob.find("CampiAnagrafici/campo").get("id"),
            bob.find("CampiAnagrafici/campo").get("Valore")) == ("1", "Bob")
    assert pending.find("Opens").get("Totale") == "0"
    # MailUp gives no statistics for an unsubscribed address; its hard bounce is dated.
    assert unsubscribed.find("Clicks") is None and unsubscribed.find("Opens") is None
    assert unsubscribed.findtext("Bounce") == "04/03/2026 05.06.07"
    assert len(unsubscribed.find("CampiAnagrafici")) == 39
    assert stranger.find("Opens") is None and len(stranger.find("CampiAnagrafici")) == 0


def test_another_account_sees_nothing_of_the_list_of_the_same_number(
        soap: ServiceFactory, deps: Any, sent: Sent) -> None:
    other_key = login(soap, new_account(deps), "Report")
    same_number = new_list(soap, other_key)

    by_message = _report(soap, "ReportByMessageEN", accessKey=other_key, listID=same_number,
                         messageID=0)
    by_user = _report(soap, "ReportByUserEN", accessKey=other_key, email=sent.ann,
                      listID=same_number, messageID=0)

    assert same_number == sent.list_id
    assert (code(by_message), by_message.findall("Clicks"), by_message.find("Opens").get("Total"),
            len(by_message.find("Opens"))) == (0, [], "0", 0)
    assert (code(by_user), by_user.findtext("Channels/Email")) == (0, "Not Registered")
    assert by_user.find("Opens") is None and len(by_user.find("PersonalDataFields")) == 0


def test_report_by_user_and_message_refuse_bad_input_with_their_codes(
        soap: ServiceFactory, deps: Any, sent: Sent) -> None:
    other_key = login(soap, new_account(deps), "Report")
    other_list = new_list(soap, sent.key, "Other")
    other_message = _newsletter(soap, sent.key, other_list, "Elsewhere")
    by_message, by_user = "ReportByMessageEN", "ReportByUserEN"

    def report_code(operation: str, key: str = sent.key, list_id: int = sent.list_id,
                    message_id: int = sent.message_id, **more: Any) -> int:
        return code(_report(soap, operation, accessKey=key, listID=list_id,
                            messageID=message_id, **more))

    assert report_code(by_message, key="not-a-key") == -1100
    assert report_code(by_message, key=other_key, list_id=other_list) == -1101
    assert report_code(by_user, key=other_key, list_id=other_list, email=sent.ann) == -1101
    assert report_code(by_message, list_id=999_999) == -1101
    assert report_code(by_message, list_id=0) == -1105
    assert report_code(by_message, message_id=other_message) == -1106  # not this list's
    assert report_code(by_message, message_id=999_999) == -1106
    assert report_code(by_user, email="") == -1105
    assert report_code(by_user, email="not an address") == -1105
    assert report_code(by_user, list_id=other_list, email=sent.ann) == -1106
    elsewhere = _report(soap, by_user, accessKey=sent.key, listID=other_list, messageID=0,
                        email=sent.ann)
    assert (code(elsewhere), elsewhere.findtext("Channels/Email")) == (0, "Not Registered")
