"""Send's list-side operations over real HTTP, driven by zeep from MailUp's reference WSDL."""
from __future__ import annotations

import pytest
from lxml import etree

from tests.conftest import AccountInfo
from tests.e2e.conftest import ServiceFactory, login, parse

pytestmark = pytest.mark.e2e

DEFAULT_FIELD_COUNT = 11


def _identity(doc: etree._Element) -> list[tuple[str, str, str]]:
    return [(lst.get("Id") or "", lst.get("Name") or "", lst.get("Guid") or "")
            for lst in doc.iter("List")]


def test_create_list_st_with_auto_id_answers_the_new_list_and_get_list_identity_finds_it(
        soap: ServiceFactory, account: AccountInfo) -> None:
    send = soap("Send")
    key = login(soap, account)

    created = parse(send.CreateList_st(accessKey=key, name="CRM list", autoId="org1"))
    identity = parse(send.GetListIdentity_st(accessKey=key, autoId="org1"))
    other = parse(send.GetListIdentity_st(accessKey=key, autoId="org2"))

    assert created.tag == "CreateList_st"
    assert created.findtext("errorCode") == "0"
    [(list_id, name, guid)] = _identity(created)
    assert name == "CRM list" and int(list_id) > 0 and len(guid) == 36
    assert identity.findtext("errorCode") == "0"
    assert _identity(identity) == [(list_id, name, guid)]
    assert other.findtext("errorCode") == "0" and _identity(other) == []


def test_plain_create_list_and_get_list_identity_carry_no_error_code_on_success(
        soap: ServiceFactory, account: AccountInfo) -> None:
    send = soap("Send")
    key = login(soap, account)

    created = parse(send.CreateList(accessKey=key, name="Plain", autoId="orgP"))
    identity = parse(send.GetListIdentity(accessKey=key, autoId="orgP"))

    assert created.tag == "CreateList" and created.find("errorCode") is None
    assert identity.tag == "GetListIdentity" and identity.find("errorCode") is None
    assert _identity(identity) == _identity(created)
    assert len(_identity(created)) == 1


def test_plain_create_list_with_an_empty_name_answers_error_code_and_error_element(
        soap: ServiceFactory, account: AccountInfo) -> None:
    send = soap("Send")
    key = login(soap, account)

    plain = parse(send.CreateList(accessKey=key, name="", autoId="x"))
    st = parse(send.CreateList_st(accessKey=key, name="  ", autoId="x"))

    assert plain.tag == "CreateList"
    assert plain.findtext("errorCode") == "-1105"
    assert plain.findtext("Error")
    assert plain.find("errorDescription") is None
    assert st.findtext("errorCode") == "-1105" and st.findtext("errorDescription")
    assert parse(soap("Manage").GetLists(accessKey=key)).find("lists/list") is None


def test_plain_variants_with_a_bad_access_key_answer_error_code_and_error_element(
        soap: ServiceFactory) -> None:
    send = soap("Send")

    for doc in (parse(send.GetFields(accessKey="nope")),
                parse(send.GetListIdentity(accessKey="nope", autoId="a"))):
        assert doc.findtext("errorCode") == "-1100"
        assert doc.findtext("Error")


def test_delete_list_st_with_no_list_id_deletes_every_list_of_the_auto_id_and_only_those(
        soap: ServiceFactory, account: AccountInfo) -> None:
    send = soap("Send")
    key = login(soap, account)
    ids_a = [_identity(parse(send.CreateList_st(accessKey=key, name=f"A{i}", autoId="orgA")))[0][0]
             for i in range(2)]
    id_b = _identity(parse(send.CreateList_st(accessKey=key, name="B", autoId="orgB")))[0][0]
    id_none = parse(soap("Manage").CreateList(accessKey=key, name="N", defaultSettings="default",
                                              copyTemplate=False)).findtext("list/listID")

    deleted = parse(send.DeleteList_st(accessKey=key, listId=0, autoId="orgA"))

    assert deleted.findtext("errorCode") == "0"
    assert sorted(lst.get("Id") for lst in deleted.iter("List")) == sorted(ids_a)
    remaining = [lst.findtext("listID") for lst in parse(send.GetLists(accessKey=key)).iter("list")]
    assert sorted(remaining) == sorted([id_b, id_none])
    assert _identity(parse(send.GetListIdentity_st(accessKey=key, autoId="orgA"))) == []


def test_delete_list_st_with_a_list_id_deletes_that_list_and_an_unknown_one_is_an_error(
        soap: ServiceFactory, account: AccountInfo) -> None:
    send = soap("Send")
    key = login(soap, account)
    list_id = _identity(parse(send.CreateList_st(accessKey=key, name="L", autoId="o")))[0][0]

    deleted = parse(send.DeleteList_st(accessKey=key, listId=int(list_id), autoId=""))
    again = parse(send.DeleteList(accessKey=key, listId=int(list_id), autoId=""))
    no_auto_id = parse(send.DeleteList_st(accessKey=key, listId=-1, autoId=""))

    assert deleted.findtext("errorCode") == "0"
    assert [lst.get("Id") for lst in deleted.iter("List")] == [list_id]
    assert again.findtext("errorCode") == "-1101"
    assert no_auto_id.findtext("errorCode") == "-1105"


def test_get_fields_lists_the_eleven_default_fields_with_name_and_id(
        soap: ServiceFactory, account: AccountInfo) -> None:
    send = soap("Send")
    key = login(soap, account)

    plain = parse(send.GetFields(accessKey=key))
    st = parse(send.GetFields_st(accessKey=key))

    assert plain.tag == "GetFields" and plain.find("errorCode") is None
    assert st.findtext("errorCode") == "0"
    fields = [(f.get("Name"), f.get("Id")) for f in st.findall("Fields/Field")]
    assert len(fields) == DEFAULT_FIELD_COUNT
    assert all(name for name, _ in fields)
    assert sorted(int(i) for _, i in fields) == list(range(1, DEFAULT_FIELD_COUNT + 1))
    assert [(f.get("Name"), f.get("Id")) for f in plain.findall("Fields/Field")] == fields


def test_send_get_groups_shows_the_groups_created_through_manage(
        soap: ServiceFactory, account: AccountInfo) -> None:
    manage, send = soap("Manage"), soap("Send")
    key = login(soap, account)
    list_id = int(parse(manage.CreateList(accessKey=key, name="L", defaultSettings="default",
                                          copyTemplate=False)).findtext("list/listID") or 0)
    group_id = parse(manage.CreateGroup(accessKey=key, listID=list_id, groupName="VIP",
                                        groupNotes="")).findtext("list/groups/group/groupID")

    groups = parse(send.GetGroups(accessKey=key, listID=list_id))
    missing = parse(send.GetGroups(accessKey=key, listID=list_id + 1000))

    assert groups.findtext("errorCode") == "0"
    assert [(g.findtext("groupID"), g.findtext("groupName")) for g in groups.iter("group")] \
        == [(group_id, "VIP")]
    assert missing.findtext("errorCode") == "-1101"


def test_send_get_id_user_answers_the_id_of_the_logged_in_user(
        soap: ServiceFactory, account: AccountInfo) -> None:
    key = login(soap, account)

    send_id = parse(soap("Send").GetIdUser(accessKey=key))
    manage_id = parse(soap("Manage").GetIdUser(accessKey=key))

    assert send_id.findtext("errorCode") == "0"
    assert int(send_id.findtext("idUser") or 0) > 0
    assert send_id.findtext("idUser") == manage_id.findtext("idUser")


def test_an_access_key_from_manage_login_from_id_works_on_send_and_logout_ends_it(
        soap: ServiceFactory, account: AccountInfo) -> None:
    key = login(soap, account, service="Manage")
    send = soap("Send")

    before = parse(send.GetLists(accessKey=key))
    logout = parse(send.Logout(accessKey=key))
    after = parse(soap("Manage").GetLists(accessKey=key))

    assert before.findtext("errorCode") == "0"
    assert logout.findtext("errorCode") == "0"
    assert after.findtext("errorCode") == "-1100"


def test_send_login_from_id_with_a_wrong_password_answers_an_auth_error_and_no_key(
        soap: ServiceFactory, account: AccountInfo) -> None:
    doc = parse(soap("Send").LoginFromId(user=account.console_user, pwd="wrong-password",
                                         consoleId=account.console_id))

    assert doc.findtext("errorCode") == "-1002"
    assert not doc.findtext("accessKey")


def test_send_over_soap12_creates_a_list(soap: ServiceFactory, account: AccountInfo) -> None:
    key = login(soap, account)

    created = parse(soap("Send", soap12=True).CreateList_st(accessKey=key, name="S12",
                                                            autoId="o12"))

    assert created.findtext("errorCode") == "0"
    assert [n for _, n, _ in _identity(created)] == ["S12"]
