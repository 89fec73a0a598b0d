"""Manage over real HTTP, driven by zeep clients generated from MailUp's reference WSDL."""
from __future__ import annotations

import pytest

from tests.conftest import AccountInfo
from tests.e2e.conftest import ServiceFactory, login, parse

pytestmark = pytest.mark.e2e


def _options(**pairs: object) -> dict[str, object]:
    return {"Option": [{"Key": k, "Value": str(v)} for k, v in pairs.items()]}


def test_a_crm_creates_a_list_with_options_and_finds_it_in_get_lists(
        soap: ServiceFactory, account: AccountInfo) -> None:
    manage = soap("Manage")
    key = login(soap, account)

    created = parse(manage.CreateList(accessKey=key, name="News & offers",
                                      defaultSettings="default", copyTemplate=False,
                                      options=_options(description="Weekly", tracking=1)))
    lists = parse(manage.GetLists(accessKey=key))

    assert created.findtext("errorCode") == "0"
    list_id = created.findtext("list/listID")
    assert [(lst.findtext("listID"), lst.findtext("listName"))
            for lst in lists.iter("list")] == [(list_id, "News & offers")]
    options = {o.findtext("key"): o.findtext("value") for o in created.iter("option")}
    assert options["description"] == "Weekly" and options["tracking"] == "1"


def test_update_list_changes_options_and_rejects_unknown_keys_without_changing_anything(
        soap: ServiceFactory, account: AccountInfo) -> None:
    manage = soap("Manage")
    key = login(soap, account)
    list_id = int(parse(manage.CreateList(accessKey=key, name="L", defaultSettings="default",
                                          copyTemplate=False)).findtext("list/listID") or 0)

    ok = parse(manage.UpdateList(accessKey=key, listID=list_id,
                                 options=_options(description="new", format="text")))
    bad = parse(manage.UpdateList(accessKey=key, listID=list_id,
                                  options=_options(description="lost", colour="red")))

    assert ok.findtext("errorCode") == "0"
    assert bad.findtext("errorCode") == "-1104"
    assert "colour" in (bad.findtext("errorDescription") or "")
    again = parse(manage.UpdateList(accessKey=key, listID=list_id, options=None))
    options = {o.findtext("key"): o.findtext("value") for o in again.iter("option")}
    assert options["description"] == "new" and options["format"] == "text"


def test_create_list_copies_the_settings_of_the_list_named_in_default_settings(
        soap: ServiceFactory, account: AccountInfo) -> None:
    manage = soap("Manage")
    key = login(soap, account)
    first = parse(manage.CreateList(accessKey=key, name="A", defaultSettings="default",
                                    copyTemplate=False, options=_options(owneremail="o@x.test")))

    second = parse(manage.CreateList(accessKey=key, name="B",
                                     defaultSettings=first.findtext("list/listID"),
                                     copyTemplate=False))

    options = {o.findtext("key"): o.findtext("value") for o in second.iter("option")}
    assert options["owneremail"] == "o@x.test"


def test_groups_are_created_once_per_name_renamed_listed_and_deleted(
        soap: ServiceFactory, account: AccountInfo) -> None:
    manage = soap("Manage")
    key = login(soap, account)
    list_id = int(parse(manage.CreateList(accessKey=key, name="L", defaultSettings="default",
                                          copyTemplate=False)).findtext("list/listID") or 0)

    first = parse(manage.CreateGroup(accessKey=key, listID=list_id, groupName="VIP",
                                     groupNotes="best"))
    again = parse(manage.CreateGroup(accessKey=key, listID=list_id, groupName="VIP",
                                     groupNotes="other"))
    group_id = int(first.findtext("list/groups/group/groupID") or 0)
    renamed = parse(manage.UpdateGroup(accessKey=key, groupID=group_id,
                                       options=_options(groupName="Gold")))
    listed = parse(manage.GetGroups(accessKey=key, listID=list_id))
    deleted = parse(manage.DeleteGroup(accessKey=key, listID=list_id, groupID=group_id,
                                       deleteUsers=False))
    after = parse(manage.GetGroups(accessKey=key, listID=list_id))

    assert first.tag == "CreateGroupsResult" and first.findtext("errorCode") == "0"
    assert again.findtext("list/groups/group/groupID") == str(group_id)
    assert renamed.findtext("group/groupName") == "Gold"
    assert [g.findtext("groupName") for g in listed.iter("group")] == ["Gold"]
    assert deleted.findtext("errorCode") == "0"
    assert list(after.iter("group")) == []


def test_delete_group_with_a_group_of_another_list_reports_group_not_found(
        soap: ServiceFactory, account: AccountInfo) -> None:
    manage = soap("Manage")
    key = login(soap, account)
    ids = [int(parse(manage.CreateList(accessKey=key, name=n, defaultSettings="default",
                                       copyTemplate=False)).findtext("list/listID") or 0)
           for n in ("A", "B")]
    group = parse(manage.CreateGroup(accessKey=key, listID=ids[0], groupName="G", groupNotes=""))

    result = parse(manage.DeleteGroup(accessKey=key, listID=ids[1], deleteUsers=True,
                                      groupID=int(group.findtext(".//groupID") or 0)))

    assert result.findtext("errorCode") == "-1102"
    assert len(list(parse(manage.GetGroups(accessKey=key, listID=ids[0])).iter("group"))) == 1


def test_get_id_user_and_get_lists_user_answer_for_the_logged_in_user(
        soap: ServiceFactory, account: AccountInfo) -> None:
    manage = soap("Manage")
    key = login(soap, account)
    manage.CreateList(accessKey=key, name="Mine", defaultSettings="default", copyTemplate=False)

    user_id = int(parse(manage.GetIdUser(accessKey=key)).findtext("idUser") or 0)
    lists = parse(manage.GetListsUser(accessKey=key, idUser=user_id))
    unknown = parse(manage.GetListsUser(accessKey=key, idUser=user_id + 10_000_000))

    assert [lst.findtext("listName") for lst in lists.iter("list")] == ["Mine"]
    assert unknown.findtext("errorCode") == "-1103"


def test_delete_list_removes_it_and_its_groups(soap: ServiceFactory,
                                               account: AccountInfo) -> None:
    manage = soap("Manage")
    key = login(soap, account)
    list_id = int(parse(manage.CreateList(accessKey=key, name="Gone", defaultSettings="default",
                                          copyTemplate=False)).findtext("list/listID") or 0)
    manage.CreateGroup(accessKey=key, listID=list_id, groupName="G", groupNotes="")

    result = parse(manage.DeleteList(accessKey=key, listID=list_id))

    assert result.findtext("errorCode") == "0"
    assert list(parse(manage.GetLists(accessKey=key)).iter("list")) == []
    assert parse(manage.GetGroups(accessKey=key, listID=list_id)).findtext("errorCode") == "-1101"


def test_logout_revokes_the_access_key_on_every_service(soap: ServiceFactory,
                                                        account: AccountInfo) -> None:
    key = login(soap, account)
    assert parse(soap("Send").GetLists(accessKey=key)).findtext("errorCode") == "0"

    out = parse(soap("Report").Logout(accessKey=key))

    assert out.findtext("errorCode") == "0"
    for service in ("Manage", "Send"):
        assert parse(soap(service).GetLists(accessKey=key)).findtext("errorCode") == "-1100"


def test_bad_credentials_get_mailup_codes_and_no_key(soap: ServiceFactory,
                                                     account: AccountInfo) -> None:
    manage = soap("Manage")

    wrong_pw = parse(manage.LoginFromId(user=account.console_user, pwd="nope",
                                        consoleId=account.console_id))
    wrong_console = parse(manage.LoginFromId(user=account.console_user, pwd=account.password,
                                             consoleId=account.console_id + 1))
    by_host = parse(manage.Login(user=account.console_user, pwd=account.password,
                                 url=account.host))
    by_url = parse(manage.Login(user=account.console_user, pwd=account.password,
                                url="http://" + account.host))

    assert wrong_pw.findtext("errorCode") == "-1002" and wrong_pw.find("accessKey") is None
    assert wrong_console.findtext("errorCode") == "-1001"
    assert by_host.findtext("errorCode") == "0" and by_host.findtext("accessKey")
    assert by_url.findtext("errorCode") == "-1001"


def test_soap12_clients_get_soap12_answers(soap: ServiceFactory, account: AccountInfo) -> None:
    manage = soap("Manage", soap12=True)

    doc = parse(manage.LoginFromId(user=account.console_user, pwd=account.password,
                                   consoleId=account.console_id))
    key = doc.findtext("accessKey")
    created = parse(manage.CreateList(accessKey=key, name="twelve", defaultSettings="default",
                                      copyTemplate=False))

    assert created.findtext("errorCode") == "0"
