"""Frontend rules over real HTTP: tolerant parsing, groups and fields, re-subscription rules,
sender overrides, WSActivation codes, tenant choice by Host."""
from __future__ import annotations

import secrets

import pytest
import requests
import sqlalchemy as sa

from mailup_soap.config import Settings
from mailup_soap.db import tables as t
from tests.conftest import AccountInfo, SmtpSink, new_account, run_jobs
from tests.e2e.conftest import ServiceFactory, login, parse

pytestmark = pytest.mark.e2e


def _activate(server_url: str, account: AccountInfo, **overrides: str) -> str:
    params = {"usr": account.ws_user, "pwd": account.password, "nl_url": account.host,
              "ws_name": "FrontEnd"} | overrides
    return requests.get(server_url + "/frontend/WSActivation.aspx", params=params,
                        timeout=10).text


def _setup(server_url: str, soap: ServiceFactory, account: AccountInfo,
           lists: int = 1) -> tuple[list[int], str]:
    _activate(server_url, account)
    key = login(soap, account)
    docs = [parse(soap("Manage").CreateList(accessKey=key, name=f"L{i}", copyTemplate=False,
                                            defaultSettings="default")) for i in range(lists)]
    ids = [int(d.findtext("list/listID") or 0) for d in docs]
    return ids, docs[0].findtext("list/listGUID") or ""


def _get(server_url: str, account: AccountInfo, path: str, **params: object) -> str:
    answer = requests.get(server_url + path, params=params, headers={"Host": account.host},
                          timeout=10)
    assert answer.status_code == 200
    return answer.text


def _address() -> str:
    return f"r.{secrets.token_hex(5)}@example.test"


def _status(engine: sa.Engine, account: AccountInfo, list_id: int) -> list[tuple[str, int | None]]:
    s = t.subscriptions.c
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(s.status, s.unsubscribe_reason).where(
            s.account_id == account.console_id, s.list_id == list_id))]  # type: ignore[misc]


def test_paths_and_parameter_names_are_case_insensitive_and_extra_parameters_tolerated(
        server_url: str, soap: ServiceFactory, account: AccountInfo) -> None:
    [list_id], guid = _setup(server_url, soap, account)
    address = _address()

    code = _get(server_url, account, "/frontend/Xmlsubscribe.aspx", email=address, list=list_id,
                confirm="false", retCode="1", ipAddress="203.0.113.9", source="wordpress",
                ListGuid=guid)
    check = _get(server_url, account, "/FRONTEND/xmlchksubscriber.aspx", EMAIL=address,
                 LIST=list_id, listguid=guid)

    assert (code, check) == ("0", "2")


def test_subscribing_to_several_lists_with_groups_and_fields_at_once(
        server_url: str, soap: ServiceFactory, account: AccountInfo, engine: sa.Engine) -> None:
    lists, _ = _setup(server_url, soap, account, lists=2)
    key = login(soap, account)
    group = parse(soap("Manage").CreateGroup(accessKey=key, listID=lists[0], groupName="VIP",
                                             groupNotes=""))
    group_id = int(group.findtext(".//groupID") or 0)
    address = _address()

    code = _get(server_url, account, "/frontend/xmlSubscribe.aspx", Email=address,
                List=f"{lists[0]},{lists[1]}", Group=str(group_id), Confirm="0",
                csvFldNames="campo1;campo2", csvFldValues="Ann;Smith")

    assert code == "0"
    assert _status(engine, account, lists[0]) == [("subscribed", None)]
    assert _status(engine, account, lists[1]) == [("subscribed", None)]
    with engine.connect() as conn:
        row = conn.execute(sa.select(t.recipients.c.id, t.recipients.c.field1,
                                     t.recipients.c.field2).where(
            t.recipients.c.account_id == account.console_id)).one()
        groups = conn.execute(sa.select(t.group_members.c.group_id).where(
            t.group_members.c.recipient_id == row.id)).scalars().all()
    assert (row.field1, row.field2) == ("Ann", "Smith") and groups == [group_id]


def test_update_replaces_groups_only_when_asked_and_refuses_bad_values(
        server_url: str, soap: ServiceFactory, account: AccountInfo, engine: sa.Engine) -> None:
    [list_id], guid = _setup(server_url, soap, account)
    key = login(soap, account)
    g1, g2 = (int(parse(soap("Manage").CreateGroup(accessKey=key, listID=list_id, groupName=n,
                                                   groupNotes="")).findtext(".//groupID") or 0)
              for n in ("A", "B"))
    address = _address()
    _get(server_url, account, "/frontend/xmlSubscribe.aspx", Email=address, List=list_id,
         Group=g1, Confirm=0)

    added = _get(server_url, account, "/frontend/xmlUpdSubscriber.aspx", Email=address,
                 List=list_id, ListGuid=guid, Group=str(g2), Replace="0")
    replaced = _get(server_url, account, "/frontend/xmlUpdSubscriber.aspx", Email=address,
                    List=list_id, ListGuid=guid, Group=str(g2), Replace="1")
    dashes = _get(server_url, account, "/frontend/xmlUpdSubscriber.aspx", Email=address,
                  List=list_id, ListGuid=guid, csvFldNames="campo1", csvFldValues="a--b")
    mismatch = _get(server_url, account, "/frontend/xmlUpdSubscriber.aspx", Email=address,
                    List=list_id, ListGuid=guid, csvFldNames="campo1;campo2", csvFldValues="x")
    stranger = _get(server_url, account, "/frontend/xmlUpdSubscriber.aspx", Email=_address(),
                    List=list_id, ListGuid=guid, csvFldNames="campo1", csvFldValues="x")

    assert (added, replaced, dashes, mismatch, stranger) == ("0", "0", "1", "1", "1")
    with engine.connect() as conn:
        groups = conn.execute(sa.select(t.group_members.c.group_id).where(
            t.group_members.c.account_id == account.console_id)).scalars().all()
    assert groups == [g2]


def test_someone_who_unsubscribed_must_confirm_again_and_bounces_or_complaints_never_return(
        server_url: str, server_settings: Settings, soap: ServiceFactory, account: AccountInfo,
        engine: sa.Engine, smtp: SmtpSink) -> None:
    [list_id], _ = _setup(server_url, soap, account)
    quitter, bounced, complainer = _address(), _address(), _address()
    for address in (quitter, bounced, complainer):
        _get(server_url, account, "/frontend/xmlSubscribe.aspx", Email=address, List=list_id,
             Confirm=0)
        _get(server_url, account, "/frontend/xmlUnSubscribe.aspx", Email=address, List=list_id)
    with engine.begin() as conn:  # no bounce processing yet: mark the reasons directly
        for address, reason in ((bounced, 8), (complainer, 16)):
            rid = sa.select(t.recipients.c.id).where(t.recipients.c.email == address)
            conn.execute(t.subscriptions.update().where(
                t.subscriptions.c.recipient_id == rid.scalar_subquery()).values(
                unsubscribe_reason=reason))

    back = _get(server_url, account, "/frontend/xmlSubscribe.aspx", Email=quitter, List=list_id,
                Confirm=0)
    refused = [_get(server_url, account, "/frontend/xmlSubscribe.aspx", Email=a, List=list_id,
                    Confirm=0) for a in (bounced, complainer)]
    state = _get(server_url, account, "/frontend/xmlChkSubscriber.aspx", Email=quitter,
                 List=list_id)
    run_jobs(server_settings, "mail")

    assert (back, state) == ("0", "4")  # pending: a new confirmation is needed
    assert refused == ["1", "1"]
    assert len(smtp.to(quitter)) == 1 and smtp.to(bounced) == [] == smtp.to(complainer)


def test_confirmation_email_uses_the_sender_overrides(
        server_url: str, server_settings: Settings, soap: ServiceFactory, account: AccountInfo,
        smtp: SmtpSink) -> None:
    [list_id], _ = _setup(server_url, soap, account)
    address = _address()

    _get(server_url, account, "/frontend/xmlSubscribe.aspx", Email=address, List=list_id,
         Dynsndmail="news@shop.example", Dynsndname="The Shop")
    run_jobs(server_settings, "mail")

    [mail] = smtp.to(address)
    assert mail["From"] == "The Shop <news@shop.example>"
    assert "L0" in mail["Subject"]


def test_a_number_without_its_prefix_takes_the_lists_default_prefix(
        server_url: str, soap: ServiceFactory, account: AccountInfo, engine: sa.Engine) -> None:
    [with_prefix, without], guid = _setup(server_url, soap, account, lists=2)
    key = login(soap, account)
    updated = parse(soap("Manage").UpdateList(accessKey=key, listID=with_prefix, options={
        "Option": [{"Key": "default_prefix", "Value": "+39"}]}))
    assert updated.findtext("errorCode") == "0"
    local = f"333{secrets.randbelow(10**7):07d}"

    subscribed = _get(server_url, account, "/frontend/xmlSubscribe.aspx", Sms=local,
                      List=with_prefix, Confirm=0)
    checked = _get(server_url, account, "/frontend/xmlChkSubscriber.aspx", Sms=local,
                   List=with_prefix, ListGuid=guid)
    same = _get(server_url, account, "/frontend/xmlChkSubscriber.aspx", Sms=f"+39 {local}",
                List=with_prefix, ListGuid=guid)
    elsewhere = _get(server_url, account, "/frontend/xmlSubscribe.aspx", Sms=local,
                     List=without, Confirm=0)

    assert (subscribed, checked, same, elsewhere) == ("0", "2", "2", "0")
    with engine.connect() as conn:
        numbers = conn.execute(sa.select(t.recipients.c.mobile_number).where(
            t.recipients.c.account_id == account.console_id)).scalars().all()
    # The list without a default prefix takes the digits as beginning with theirs.
    assert sorted(numbers) == sorted([f"+39{local}", f"+{local}"])


def test_a_list_with_sendemailoptout_tells_who_unsubscribes_and_others_do_not(
        server_url: str, server_settings: Settings, soap: ServiceFactory, account: AccountInfo,
        smtp: SmtpSink) -> None:
    [notifying, silent], _ = _setup(server_url, soap, account, lists=2)
    key = login(soap, account)
    updated = parse(soap("Manage").UpdateList(accessKey=key, listID=notifying, options={
        "Option": [{"Key": "sendemailoptout", "Value": "1"},
                   {"Key": "owneremail", "Value": "news@shop.example"}]}))
    assert updated.findtext("errorCode") == "0"
    ann, bob = _address(), _address()
    for who, list_id in ((ann, notifying), (bob, silent)):
        _get(server_url, account, "/frontend/xmlSubscribe.aspx", Email=who, List=list_id,
             Confirm=0)

    gone = [_get(server_url, account, "/frontend/xmlUnSubscribe.aspx", Email=who, List=lst)
            for who, lst in ((ann, notifying), (bob, silent), (ann, notifying))]
    run_jobs(server_settings, "mail")

    assert gone == ["0", "0", "3"]
    [notice] = smtp.to(ann)  # once: the second call changed nothing
    assert notice["Subject"] == "You are unsubscribed from L0"
    assert notice["From"] == "L0 <news@shop.example>"
    assert ann in notice.get_content()
    assert smtp.to(bob) == []


def test_wsactivation_answers_mailup_codes(server_url: str, account: AccountInfo) -> None:
    missing = _activate(server_url, account, usr="", pwd="")
    wrong = _activate(server_url, account, pwd="wrong")
    first = _activate(server_url, account)
    again = _activate(server_url, account)

    assert "<ReturnCode>-12</ReturnCode>" in missing  # -4 user | -8 password
    assert "<ReturnCode>-1002</ReturnCode>" in wrong
    assert "<ReturnCode>0</ReturnCode>" in first and "<WS_Name>FrontEnd</WS_Name>" in first
    assert "<ReturnCode>-1008</ReturnCode>" in again


def test_wsactivation_refuses_what_it_cannot_register_and_registers_nothing(
        server_url: str, account: AccountInfo, engine: sa.Engine) -> None:
    control = requests.get(server_url + "/frontend/WSActivation.aspx", timeout=10, params={
        "usr": account.ws_user + "\x00", "pwd": account.password, "nl_url": account.host,
        "ws_name": "FrontEnd"})
    in_name = _activate(server_url, account, ws_name="Front\x01End")
    too_long = _activate(server_url, account, ws_name="x" * 101)

    assert control.status_code == 200
    assert "<ReturnCode>-1009</ReturnCode>" in control.text
    assert "<ReturnCode>-1009</ReturnCode>" in in_name
    assert "<ReturnCode>-1010</ReturnCode>" in too_long
    with engine.connect() as conn:
        registered = conn.execute(sa.select(sa.func.count()).select_from(t.frontend_ips).where(
            t.frontend_ips.c.account_id == account.console_id)).scalar_one()
    assert registered == 0


def test_a_control_character_in_any_parameter_answers_1_and_changes_nothing(
        server_url: str, soap: ServiceFactory, account: AccountInfo, engine: sa.Engine) -> None:
    [list_id], guid = _setup(server_url, soap, account)
    address = _address()

    in_email = _get(server_url, account, "/frontend/xmlSubscribe.aspx", Email="a\x01" + address,
                    List=list_id, Confirm=0)
    in_field = _get(server_url, account, "/frontend/xmlSubscribe.aspx", Email=address,
                    List=list_id, Confirm=0, csvFldNames="campo1", csvFldValues="Ann\x1b")
    in_guid = _get(server_url, account, "/frontend/xmlUnSubscribe.aspx", Email=address,
                   List=list_id, ListGuid=guid + "\x00")

    assert (in_email, in_field, in_guid) == ("1", "1", "1")
    with engine.connect() as conn:
        stored = conn.execute(sa.select(sa.func.count()).select_from(t.recipients).where(
            t.recipients.c.account_id == account.console_id)).scalar_one()
    assert stored == 0


def test_the_host_header_chooses_the_account(server_url: str, soap: ServiceFactory,
                                             account: AccountInfo, deps: object,
                                             engine: sa.Engine) -> None:
    [list_id], _ = _setup(server_url, soap, account)
    other = new_account(deps)  # type: ignore[arg-type]
    _setup(server_url, soap, other)
    address = _address()

    as_other = _get(server_url, other, "/frontend/xmlSubscribe.aspx", Email=address,
                    List=list_id, Confirm=0)
    as_owner = _get(server_url, account, "/frontend/xmlChkSubscriber.aspx", Email=address,
                    List=list_id)

    assert as_owner == "1"  # never subscribed to the owner's list
    assert as_other in ("0", "1")  # the other account's own list with that id, if any
    with engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(t.recipients).where(
            t.recipients.c.account_id == account.console_id)).scalar_one()
    assert count == 0
