"""The frontend endpoints and double opt-in over real HTTP, with a real SMTP server."""
from __future__ import annotations

import email.message
import re
import secrets

import pytest
import requests
import sqlalchemy as sa

from mailup_soap.config import Settings
from mailup_soap.db import tables as t
from tests.conftest import AccountInfo, SmtpSink, run_jobs
from tests.e2e.conftest import ServiceFactory, confirm_link, new_list

pytestmark = pytest.mark.e2e


def _activate(server_url: str, account: AccountInfo) -> str:
    answer = requests.get(server_url + "/frontend/WSActivation.aspx", params={
        "usr": account.ws_user, "pwd": account.password, "nl_url": account.host,
        "ws_name": "FrontEnd"}, timeout=10)
    return answer.text


def _call(server_url: str, account: AccountInfo, endpoint: str, **params: object) -> str:
    answer = requests.post(f"{server_url}/frontend/{endpoint}", data=params, timeout=10,
                           headers={"Host": account.host})
    assert answer.status_code == 200
    return answer.text


def test_double_opt_in_from_subscribe_to_confirmation_link(
        server_url: str, server_settings: Settings, soap: ServiceFactory,
        account: AccountInfo, smtp: SmtpSink, engine: sa.Engine) -> None:
    assert "<ReturnCode>0</ReturnCode>" in _activate(server_url, account)
    list_id, guid = new_list(soap, account, "News")
    address = f"ann.{secrets.token_hex(4)}@example.test"

    subscribed = _call(server_url, account, "xmlSubscribe.aspx", Email=address, List=list_id,
                       Confirm="1", csvFldNames="campo1;campo2", csvFldValues="Ann;Smith")
    pending = _call(server_url, account, "xmlChkSubscriber.aspx", Email=address, List=list_id,
                    ListGuid=guid)
    run_jobs(server_settings, "mail")
    [mail] = smtp.to(address)
    link = re.search(r"https?://\S+", mail.get_content()).group(0)  # type: ignore[union-attr]
    page = requests.get(link, timeout=10)
    still_pending = _call(server_url, account, "xmlChkSubscriber.aspx", Email=address,
                          List=list_id)
    form_token = re.search(r'name="t" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    confirmed = requests.post(link.split("?")[0], data={"t": form_token}, timeout=10)
    final = _call(server_url, account, "xmlChkSubscriber.aspx", Email=address, List=list_id)

    assert (subscribed, pending, still_pending, final) == ("0", "4", "4", "2")
    assert page.status_code == 200 and "<form method=\"post\"" in page.text
    assert confirmed.status_code == 200 and "confirmed" in confirmed.text
    with engine.connect() as conn:
        events = conn.execute(sa.select(t.events.c.type, t.events.c.source).where(
            t.events.c.account_id == account.console_id).order_by(t.events.c.id)).all()
    assert [tuple(e) for e in events] == [("subscription_requested", "API"),
                                          ("subscription_confirmed", "Recipient")]


def test_every_frontend_code_comes_from_a_real_request(
        server_url: str, soap: ServiceFactory, account: AccountInfo) -> None:
    list_id, guid = new_list(soap, account, "News")
    address = f"bob.{secrets.token_hex(4)}@example.test"

    not_registered = _call(server_url, account, "xmlSubscribe.aspx", Email=address,
                           List=list_id)
    _activate(server_url, account)
    bad_address = _call(server_url, account, "xmlSubscribe.aspx", Email="not-an-address",
                        List=list_id)
    ok = _call(server_url, account, "xmlSubscribe.aspx", Email=address, List=list_id,
               Confirm="0")
    again = _call(server_url, account, "xmlSubscribe.aspx", Email=address, List=list_id,
                  Confirm="0")
    unknown_list = _call(server_url, account, "xmlSubscribe.aspx", Email=address, List=999999)
    subscribed = _call(server_url, account, "xmlChkSubscriber.aspx", Email=address, List=list_id)
    updated = _call(server_url, account, "xmlUpdSubscriber.aspx", Email=address, List=list_id,
                    ListGuid=guid, csvFldNames="campo3", csvFldValues="ACME")
    unsubscribed = _call(server_url, account, "xmlUnSubscribe.aspx", Email=address,
                         List=list_id, ListGuid=guid)
    twice = _call(server_url, account, "xmlUnSubscribe.aspx", Email=address, List=list_id)
    out = _call(server_url, account, "xmlChkSubscriber.aspx", Email=address, List=list_id)
    wrong_guid = _call(server_url, account, "xmlChkSubscriber.aspx", Email=address,
                       List=list_id, ListGuid="00000000-0000-0000-0000-000000000000")

    assert not_registered == "-1011"
    assert (bad_address, ok, again, unknown_list) == ("2", "0", "3", "1")
    assert (subscribed, updated, unsubscribed, twice, out) == ("2", "0", "0", "3", "3")
    assert wrong_guid == "1"


def _link(mail: email.message.EmailMessage) -> str:
    return re.search(r"https?://\S+", mail.get_content()).group(0)  # type: ignore[union-attr]


def _confirm_by_link(mail: email.message.EmailMessage) -> requests.Response:
    return confirm_link(_link(mail))


def test_confirm_list_id_sends_one_request_for_every_list(
        server_url: str, server_settings: Settings, soap: ServiceFactory,
        account: AccountInfo, smtp: SmtpSink, engine: sa.Engine) -> None:
    """Spec 6.1: with several lists, ConfirmListID names the list whose confirmation message
    is sent, once, for all of them; its link confirms every list still pending."""
    _activate(server_url, account)
    lists = [new_list(soap, account, "News")[0] for _ in range(3)]
    already = f"sub.{secrets.token_hex(4)}@example.test"
    address = f"multi.{secrets.token_hex(4)}@example.test"
    each = f"each.{secrets.token_hex(4)}@example.test"
    _call(server_url, account, "xmlSubscribe.aspx", Email=already, List=lists[0], Confirm="0")

    codes = [_call(server_url, account, "xmlSubscribe.aspx", Email=who,
                   List=",".join(map(str, lists)), ConfirmListID=lists[1])
             for who in (address, already)]
    plain = _call(server_url, account, "xmlSubscribe.aspx", Email=each,
                  List=f"{lists[0]},{lists[2]}")
    bad = _call(server_url, account, "xmlSubscribe.aspx", Email=each, List=lists[0],
                ConfirmListID=f"{lists[0]},{lists[1]}")
    run_jobs(server_settings, "mail")
    [mail] = smtp.to(address)
    [partly] = smtp.to(already)
    confirmed = _confirm_by_link(mail)
    again = requests.get(_link(mail), timeout=10)
    partly_confirmed = _confirm_by_link(partly)
    states = {who: [_call(server_url, account, "xmlChkSubscriber.aspx", Email=who, List=i)
                    for i in lists] for who in (address, already, each)}

    assert codes == ["0", "0"] and plain == "0" and bad == "1"
    assert "News" in mail["Subject"] and mail["Subject"].count("News") == 3
    assert partly["Subject"].count("News") == 2  # list 1 was subscribed already
    assert len(smtp.to(each)) == 2  # without ConfirmListID: one request per list
    assert confirmed.status_code == partly_confirmed.status_code == 200
    assert again.status_code == 200 and "you are subscribed" in again.text
    assert states == {address: ["2", "2", "2"], already: ["2", "2", "2"],
                      each: ["4", "1", "4"]}
    with engine.connect() as conn:
        events = conn.execute(sa.select(t.events.c.list_id, t.events.c.type).where(
            t.events.c.account_id == account.console_id,
            t.events.c.email == address).order_by(t.events.c.id)).all()
    assert sorted(tuple(e) for e in events) == sorted(
        [(i, "subscription_requested") for i in lists]
        + [(i, "subscription_confirmed") for i in lists])
