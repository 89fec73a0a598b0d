"""Result envelopes and the error-code table, through `operations.invoke` with fake handlers."""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest
from lxml import etree
from lxml.builder import E
from spyne import Fault

from mailup_soap import errors
from mailup_soap.service_layer.deps import AccessKey, Credentials, Deps, WsLogin
from mailup_soap.soap import faults, payloads, results
from mailup_soap.soap.operations import Op, Style, invoke
from mailup_soap.soap.results import Result
from mailup_soap.soap.types import Int, String
from tests.fakes import fake_deps


class Header:
    def __init__(self, user: str | None, password: str | None) -> None:
        self.User, self.Password = user, password


class Recorder:
    """A handler that records its call and returns (or raises) what it was given."""

    def __init__(self, outcome: Result | int | BaseException | None = None) -> None:
        self.outcome = Result() if outcome is None else outcome
        self.calls: list[tuple[Credentials, dict[str, Any]]] = []

    def __call__(self, deps: Deps, cred: Credentials, **kwargs: Any) -> Result | int:
        self.calls.append((cred, kwargs))
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


def _parse(document: str) -> etree._Element:
    # The Import document carries an XML declaration: lxml parses it from bytes only.
    return etree.fromstring(document.encode("utf-8"))


def _import(handler: Recorder, *, base: int = -300, header: object = None) -> etree._Element:
    op = Op("CreateGroup", [("idList", Int), ("newGroupName", String)], handler,
            error_base=base)
    return _parse(invoke(Style.IMPORT, op, fake_deps(), header or Header("a1", "pw"),
                         [4, "VIP"]))


def _access_key(handler: Recorder, **op_args: Any) -> etree._Element:
    op = Op("GetGroups", [("accessKey", String), ("listID", Int)], handler, **op_args)
    return _parse(invoke(Style.ACCESS_KEY, op, fake_deps(), None, ["the-key", 7]))


# -- success envelopes ----------------------------------------------------------------------


def test_an_import_result_is_a_mailup_message_with_return_code_0_and_the_payload() -> None:
    document = _import(Recorder(Result([E.Lists(E.List(idList="1"))])))

    assert document.tag == "mailupMessage"
    assert document.findtext("mailupBody/ReturnCode") == "0"
    assert document.find("mailupBody/Lists/List").get("idList") == "1"


def test_an_import_result_carries_a_positive_return_code_as_the_new_id() -> None:
    document = _import(Recorder(Result(code=12)))

    assert document.findtext("mailupBody/ReturnCode") == "12"


def test_an_import_result_string_starts_with_an_xml_declaration() -> None:
    assert results.mailup_message(0).startswith('<?xml version="1.0" encoding="utf-8"?>')


def test_an_access_key_result_has_error_code_0_an_empty_description_and_the_payload() -> None:
    document = _access_key(Recorder(Result([E.list(E.listID("7"))])))

    assert document.tag == "GetGroupsResult"
    assert [child.tag for child in document] == ["errorCode", "errorDescription", "list"]
    assert document.findtext("errorCode") == "0"
    assert document.findtext("errorDescription") == ""


def test_an_operation_may_name_its_result_root() -> None:
    document = _access_key(Recorder(), root="CreateGroupsResult")

    assert document.tag == "CreateGroupsResult"


def test_a_plain_result_carries_no_error_code_on_success() -> None:
    document = _access_key(Recorder(Result([E.Lists()])), root="CreateList", plain_errors=True)

    assert document.tag == "CreateList"
    assert [child.tag for child in document] == ["Lists"]


def test_an_integer_outcome_is_returned_as_it_is() -> None:
    op = Op("SendMessageNL", [("accessKey", String)], Recorder(42))

    assert invoke(Style.ACCESS_KEY, op, fake_deps(), None, ["k"]) == 42


def test_ampersands_and_quotes_in_the_payload_are_escaped() -> None:
    name = 'Tom & "Jerry" <news>'
    text = results.error_code_document("R", 0, "", [E.list(E.listName(name), title=name)])

    assert _parse(text).findtext("list/listName") == name
    assert _parse(text).find("list").get("title") == name
    assert "&amp;" in text and "&quot;" in text and "&lt;news&gt;" in text


# -- credentials and arguments --------------------------------------------------------------


def test_import_credentials_come_from_the_authentication_header() -> None:
    handler = Recorder()

    _import(handler, header=Header("a1234", "s3cret"))

    assert handler.calls == [(WsLogin("a1234", "s3cret"), {"idList": 4, "newGroupName": "VIP"})]


def test_a_missing_import_header_means_empty_credentials() -> None:
    handler = Recorder()
    op = Op("GetNlLists", [], handler)

    invoke(Style.IMPORT, op, fake_deps(), None, [])

    assert handler.calls == [(WsLogin(None, None), {})]


def test_the_access_key_parameter_becomes_the_credentials() -> None:
    handler = Recorder()

    _access_key(handler)

    assert handler.calls == [(AccessKey("the-key"), {"listID": 7})]


# -- errors ---------------------------------------------------------------------------------


ACCESS_KEY_TABLE = [
    (errors.AccountNotValid(), -1001),
    (errors.PasswordNotValid(), -1002),
    (errors.AccountSuspended(), -1003),
    (errors.AccountInactive(), -1004),
    (errors.AccountExpired(), -1005),
    (errors.WebServiceNotEnabled(), -1006),
    (errors.WebServiceNotActive(), -1007),
    (errors.AccessKeyInvalid(), -1100),
    (errors.ListNotFound(3), -1101),
    (errors.GroupNotFound(3), -1102),
    (errors.UserNotFound("m9"), -1103),
    (errors.InvalidOption("colour", "unknown option"), -1104),
    (errors.InvalidArgument("name", "must not be empty"), -1105),
    (errors.ListNotSpecified(), -1105),
    (errors.GroupNameMissing(), -1105),
    (errors.ListGuidMismatch(3), -101),
    (errors.ListGuidInvalid("x"), -102),
    (errors.MailUpError("anything else"), -1000),
]


@pytest.mark.parametrize(("error", "code"), ACCESS_KEY_TABLE,
                         ids=[type(e).__name__ for e, _ in ACCESS_KEY_TABLE])
def test_an_access_key_error_answers_its_error_code_and_message(
        error: errors.MailUpError, code: int) -> None:
    document = _access_key(Recorder(error))

    assert document.findtext("errorCode") == str(code)
    assert document.findtext("errorDescription") == str(error)
    assert [child.tag for child in document] == ["errorCode", "errorDescription"]


def test_a_plain_operation_answers_an_error_with_error_code_and_error_element() -> None:
    document = _access_key(Recorder(errors.ListNotFound(5)), root="GetListIdentity",
                           plain_errors=True)

    assert document.tag == "GetListIdentity"
    assert document.findtext("errorCode") == "-1101"
    assert document.findtext("Error") == "list 5 not found"
    assert document.find("errorDescription") is None


IMPORT_TABLE = [
    (errors.AccountNotValid(), -1001),
    (errors.PasswordNotValid(), -1002),
    (errors.AccountSuspended(), -1003),
    (errors.AccountInactive(), -1004),
    (errors.AccountExpired(), -1005),
    (errors.WebServiceNotEnabled(), -1006),
    (errors.WebServiceNotActive(), -1007),
    (errors.ListNotFound(3), -101),
    (errors.ListGuidMismatch(3), -101),
    (errors.ListGuidInvalid("x"), -102),
    (errors.ListNotSpecified(), -301),
    (errors.GroupNameMissing(), -302),
    (errors.InvalidArgument("x", "y"), -300),
    (errors.GroupNotFound(3), -300),
    (errors.MailUpError("anything else"), -300),
]


@pytest.mark.parametrize(("error", "code"), IMPORT_TABLE,
                         ids=[type(e).__name__ for e, _ in IMPORT_TABLE])
def test_an_import_error_answers_its_return_code_and_no_payload(
        error: errors.MailUpError, code: int) -> None:
    document = _import(Recorder(error), base=-300)

    assert document.findtext("mailupBody/ReturnCode") == str(code)
    assert [child.tag for child in document.find("mailupBody")] == ["ReturnCode"]


def test_import_relative_codes_follow_the_operation_base() -> None:
    assert faults.import_code(errors.GroupNameMissing(), -300) == -302
    assert faults.import_code(errors.InvalidArgument("x", "y"), -600) == -600


@pytest.mark.parametrize(("base", "code"), [(-300, -301), (-400, -101), (-500, -101),
                                            (-600, -101)])
def test_a_missing_list_is_minus_301_in_create_group_and_a_failed_verification_elsewhere(
        base: int, code: int) -> None:
    # -401, -501, -601 would read "xmlDoc empty", "process not found", "already running".
    assert faults.import_code(errors.ListNotSpecified(), base) == code


def test_an_unexpected_exception_is_logged_and_answered_as_a_bare_server_fault(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="mailup_soap.soap")

    with pytest.raises(Fault) as caught:
        _access_key(Recorder(KeyError("secret-detail")))

    assert (caught.value.faultcode, caught.value.faultstring) == ("Server", "Internal Error")
    assert "secret-detail" not in str(caught.value)
    assert "GetGroups" in caplog.text and "secret-detail" in caplog.text


def test_result_dates_are_utc_whatever_the_database_sessions_time_zone() -> None:
    rome = dt.datetime(2026, 3, 4, 6, 6, 7, tzinfo=dt.timezone(dt.timedelta(hours=1)))

    assert payloads.italian_date(rome) == "04/03/2026 05.06.07"
    assert payloads.english_date(rome) == "2026-03-04 05:06:07"
    assert payloads.english_date(None) == ""
