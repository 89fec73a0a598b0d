"""The frontend's parameter reading and its tables to MailUp's bare integer codes."""
from __future__ import annotations

import io
import itertools
from typing import Any

import pytest

from mailup_soap import errors
from mailup_soap.domain.lifecycle import Outcome
from mailup_soap.domain.model import SubscriptionStatus
from mailup_soap.frontend import codes
from mailup_soap.frontend.app import MAX_FORM_BYTES, read_params

FORM = "application/x-www-form-urlencoded"


class UnreadableInput(io.BytesIO):
    def read(self, size: int | None = -1) -> bytes:
        raise AssertionError("the body must not be read")


def environ(query: str = "", body: bytes | None = None, ctype: str = FORM,
            method: str | None = None, length: str | None = None) -> dict[str, Any]:
    env: dict[str, Any] = {"REQUEST_METHOD": method or ("POST" if body is not None else "GET"),
                           "QUERY_STRING": query, "wsgi.input": io.BytesIO(body or b"")}
    if body is not None:
        env["CONTENT_TYPE"] = ctype
        env["CONTENT_LENGTH"] = str(len(body)) if length is None else length
    return env


# -- read_params -----------------------------------------------------------------------------


def test_query_string_names_are_lower_cased() -> None:
    params = read_params(environ("List=3&Email=ann%40example.test&ListGuid=abc&retCode=1"))

    assert params == {"list": "3", "email": "ann@example.test", "listguid": "abc",
                      "retcode": "1"}


def test_a_form_body_is_read_like_the_query_string() -> None:
    params = read_params(environ(body=b"Email=ann%40example.test&List=3&csvFldNames=campo1"))

    assert params == {"email": "ann@example.test", "list": "3", "csvfldnames": "campo1"}


def test_query_string_and_form_body_are_merged() -> None:
    params = read_params(environ("List=3", b"Email=ann%40example.test"))

    assert params == {"list": "3", "email": "ann@example.test"}


def test_a_repeated_name_joins_its_values_with_commas() -> None:
    params = read_params(environ("list=1&List=2", b"LIST=3&group=7&Group=8"))

    assert params["list"] == "1,2,3"
    assert params["group"] == "7,8"


def test_blank_values_are_kept() -> None:
    assert read_params(environ("email=&list=3")) == {"email": "", "list": "3"}


def test_a_plus_in_a_form_value_is_a_space_and_an_encoded_plus_stays_a_plus() -> None:
    params = read_params(environ(body=b"csvFldValues=Ann+Smith&Email=ann%2Bnews%40example.test"))

    assert params == {"csvfldvalues": "Ann Smith", "email": "ann+news@example.test"}


def test_a_utf8_form_value_is_decoded() -> None:
    params = read_params(environ(body="csvFldValues=Zoë;Città".encode()))

    assert params["csvfldvalues"] == "Zoë;Città"


def test_a_form_without_a_content_type_is_read_as_urlencoded() -> None:
    assert read_params(environ(body=b"list=3", ctype="")) == {"list": "3"}


def test_a_form_content_type_with_a_charset_is_read() -> None:
    params = read_params(environ(body=b"list=3", ctype="Application/X-WWW-Form-Urlencoded; "
                                                        "charset=UTF-8"))

    assert params == {"list": "3"}


def test_a_body_of_another_content_type_is_ignored() -> None:
    params = read_params(environ("list=3", b'{"email": "x"}', ctype="application/json"))

    assert params == {"list": "3"}


def test_the_body_of_a_get_is_ignored() -> None:
    params = read_params(environ("list=3", b"email=x", method="GET"))

    assert params == {"list": "3"}


@pytest.mark.parametrize("length", ["", "0", "abc", "-5"])
def test_a_post_without_a_usable_content_length_reads_only_the_query(length: str) -> None:
    env = environ("list=3", b"email=x", length=length)
    env["wsgi.input"] = UnreadableInput()

    assert read_params(env) == {"list": "3"}


def test_a_body_of_exactly_the_maximum_size_is_read() -> None:
    body = b"a=" + b"x" * (MAX_FORM_BYTES - 2)

    params = read_params(environ(body=body))

    assert len(params["a"]) == MAX_FORM_BYTES - 2


def test_a_body_over_the_maximum_size_is_refused_unread() -> None:
    env = environ(body=b"", length=str(MAX_FORM_BYTES + 1))
    env["wsgi.input"] = UnreadableInput()

    with pytest.raises(errors.InvalidArgument) as caught:
        read_params(env)

    assert caught.value.name == "body"


def test_a_non_ascii_digit_content_length_is_not_a_crash() -> None:
    env = environ("list=3", b"email=x", length="²")

    assert read_params(env) == {"list": "3"}


def test_an_empty_request_has_no_parameters() -> None:
    assert read_params({"REQUEST_METHOD": "GET"}) == {}


# -- codes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("table", [codes.SUBSCRIBE, codes.UNSUBSCRIBE, codes.UPDATE])
def test_every_outcome_has_a_code(table: dict[Outcome, int]) -> None:
    assert set(table) == set(Outcome)


def test_xml_subscribe_answers_0_on_success_and_3_when_already_subscribed() -> None:
    assert codes.SUBSCRIBE[Outcome.CHANGED] == 0
    assert codes.SUBSCRIBE[Outcome.ALREADY] == 3
    assert codes.SUBSCRIBE[Outcome.REFUSED] == 1


def test_xml_unsubscribe_answers_3_for_unknown_or_already_unsubscribed() -> None:
    assert codes.UNSUBSCRIBE[Outcome.CHANGED] == 0
    assert codes.UNSUBSCRIBE[Outcome.ALREADY] == 3
    assert codes.UNSUBSCRIBE[Outcome.UNKNOWN] == 3


def test_xml_upd_subscriber_answers_1_for_a_recipient_not_in_the_list() -> None:
    assert codes.UPDATE[Outcome.CHANGED] == codes.UPDATE[Outcome.ALREADY] == 0
    assert codes.UPDATE[Outcome.UNKNOWN] == 1


def test_xml_chk_subscriber_answers_2_subscribed_3_unsubscribed_4_pending_1_not_found() -> None:
    assert codes.CHECK == {SubscriptionStatus.SUBSCRIBED: 2, SubscriptionStatus.UNSUBSCRIBED: 3,
                           SubscriptionStatus.PENDING: 4, None: 1}


def test_an_unregistered_ip_answers_minus_1011() -> None:
    assert codes.for_error(errors.IpNotRegistered("192.0.2.1")) == -1011


def test_a_bad_contact_answers_the_code_the_endpoint_asks_for() -> None:
    error = errors.InvalidContact("Email", "bad")

    assert codes.for_error(error, invalid_contact=2) == 2
    assert codes.for_error(error) == 1


@pytest.mark.parametrize("error", [errors.ListNotFound(3), errors.ListGuidMismatch(3),
                                   errors.ListNotSpecified(), errors.InvalidArgument("x", "y")])
def test_other_errors_answer_the_generic_code_1(error: errors.MailUpError) -> None:
    assert codes.for_error(error, invalid_contact=2) == 1


@pytest.mark.parametrize(("error", "code"), [
    (errors.AccountNotValid(), -1001), (errors.PasswordNotValid(), -1002),
    (errors.AccountSuspended(), -1003), (errors.AccountInactive(), -1004),
    (errors.AccountExpired(), -1005), (errors.WebServiceNotEnabled(), -1006),
    (errors.WebServiceNotActive(), -1007), (errors.AccessKeyInvalid(), -1000),
])
def test_activation_auth_errors_map_to_their_negative_codes(error: errors.MailUpError,
                                                            code: int) -> None:
    assert codes.for_auth_error(error) == code


def test_missing_activation_parameters_or_combine_into_distinct_codes() -> None:
    values = list(codes.MISSING_PARAMETER.values())
    sums = {sum(combo) for n in range(1, len(values) + 1)
            for combo in itertools.combinations(values, n)}

    assert codes.MISSING_PARAMETER == {"ws_name": -2, "usr": -4, "pwd": -8, "nl_url": -16}
    assert len(sums) == 2 ** len(values) - 1
