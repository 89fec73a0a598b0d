"""Email addresses, mobile numbers, personal fields and id lists as clients send them."""
from __future__ import annotations

import secrets

import pytest

from mailup_soap.domain import contacts
from mailup_soap.domain.model import PERSONAL_FIELD_COUNT
from mailup_soap.errors import InvalidArgument, InvalidContact


def random_email() -> str:
    return f"user.{secrets.token_hex(4)}@example.test"


# -- email -----------------------------------------------------------------------------------


def test_an_email_is_kept_as_sent_without_surrounding_spaces() -> None:
    email = random_email()

    assert contacts.normalize_email(f"  {email}\t") == email


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_a_missing_email_is_none(raw: str | None) -> None:
    assert contacts.normalize_email(raw) is None


@pytest.mark.parametrize("email", ["ann+news@example.test", "o'brien@mail.example.co.uk",
                                   "x@a-b.example", "UPPER@EXAMPLE.TEST"])
def test_ordinary_addresses_are_accepted(email: str) -> None:
    assert contacts.normalize_email(email) == email


@pytest.mark.parametrize("raw", ["plainaddress", "@example.test", "ann@", "ann@localhost",
                                 "ann@@example.test", "ann smith@example.test",
                                 "ann@-example.test", "ann@example-.test", "<ann@example.test>",
                                 "ann@exa_mple.test", "a" * 65 + "@example.test",
                                 "josé@example.test", "an\x01n@example.test",
                                 "ann\x7f@example.test", "a(nn@example.test",
                                 "an\\n@example.test", 'a"nn@example.test'])
def test_what_is_not_an_email_address_is_refused_as_an_invalid_contact(raw: str) -> None:
    with pytest.raises(InvalidContact) as caught:
        contacts.normalize_email(raw)

    assert caught.value.name == "Email"


def long_address(length: int) -> str:
    domain = ".".join(["b" * 60, "b" * 60, "b" * (length - 64 - 1 - 60 - 60 - 3 - 4), "test"])
    return "a" * 64 + "@" + domain


def test_an_address_of_254_characters_is_accepted() -> None:
    raw = long_address(254)

    assert contacts.normalize_email(raw) == raw


def test_an_address_longer_than_254_characters_is_refused() -> None:
    raw = long_address(255)

    with pytest.raises(InvalidContact):
        contacts.normalize_email(raw)


# -- mobile ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "number"), [
    ("+39 333 1234567", "+393331234567"),
    ("0039 333 1234567", "+393331234567"),
    ("+39-333-123.4567", "+393331234567"),
    ("(+39) 333/1234567", "+393331234567"),
    ("393331234567", "+393331234567"),
])
def test_a_mobile_number_keeps_its_prefix_inside_the_number(raw: str, number: str) -> None:
    assert contacts.normalize_mobile(raw) == ("", number)


@pytest.mark.parametrize("raw", [None, "", " - "])
def test_a_missing_mobile_number_is_none(raw: str | None) -> None:
    assert contacts.normalize_mobile(raw) is None


@pytest.mark.parametrize("raw", ["12345", "+1234567890123456789", "333 123 abc", "++39333123",
                                 "39+3331234567"])
def test_what_is_not_a_mobile_number_is_refused_as_an_invalid_contact(raw: str) -> None:
    with pytest.raises(InvalidContact) as caught:
        contacts.normalize_mobile(raw)

    assert caught.value.name == "Sms"


@pytest.mark.parametrize("prefix", ["39", "+39", "0039"])
def test_a_number_without_its_prefix_takes_the_default_prefix_given(prefix: str) -> None:
    assert contacts.normalize_mobile("333 1234567", prefix) == ("", "+393331234567")


@pytest.mark.parametrize("raw", ["+44 7700 900123", "0044 7700 900123"])
def test_a_number_with_its_prefix_keeps_it_whatever_the_default(raw: str) -> None:
    assert contacts.normalize_mobile(raw, "39") == ("", "+447700900123")
    assert not contacts.lacks_international_prefix(raw)


@pytest.mark.parametrize(("raw", "lacks"), [("333 1234567", True), ("+39 333", False),
                                            ("0039 333", False), (" - ", False), ("", False),
                                            (None, False)])
def test_a_number_lacks_its_prefix_when_given_without_plus_or_00(raw: str | None,
                                                                  lacks: bool) -> None:
    assert contacts.lacks_international_prefix(raw) is lacks


def test_a_mobile_number_in_non_ascii_digits_is_refused() -> None:
    with pytest.raises(InvalidContact):
        contacts.normalize_mobile("+٣٩٣٣٣١٢٣٤٥٦٧")


# -- personal fields -------------------------------------------------------------------------


def test_campo_names_map_values_to_field_ids() -> None:
    fields = contacts.parse_fields("campo1;campo2;campo10", "Ann;Smith;Rome")

    assert fields == {1: "Ann", 2: "Smith", 10: "Rome"}


def test_bare_numbers_and_any_case_name_fields_too() -> None:
    assert contacts.parse_fields("1; CAMPO2 ;Campo39", "a;b;c") == {1: "a", 2: "b", 39: "c"}


@pytest.mark.parametrize("names", [None, "", "  "])
def test_no_field_names_means_no_fields(names: str | None) -> None:
    assert contacts.parse_fields(names, "ignored;values") == {}


def test_empty_values_are_kept_to_clear_a_field() -> None:
    assert contacts.parse_fields("campo1;campo2", ";") == {1: "", 2: ""}


@pytest.mark.parametrize(("names", "values"), [("campo1;campo2", "Ann"),
                                               ("campo1", "Ann;Smith"),
                                               ("campo1;campo2", None)])
def test_a_count_mismatch_between_names_and_values_is_refused(names: str,
                                                              values: str | None) -> None:
    with pytest.raises(InvalidArgument) as caught:
        contacts.parse_fields(names, values)

    assert caught.value.name == "csvFldValues"


@pytest.mark.parametrize("name", ["campo0", f"campo{PERSONAL_FIELD_COUNT + 1}", "campo100",
                                  "nome", "field1", "", "campo"])
def test_an_unknown_field_name_is_refused(name: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        contacts.parse_fields(f"campo1;{name}", "a;b")

    assert caught.value.name == "csvFldNames"


def test_a_value_longer_than_the_field_maximum_is_refused() -> None:
    with pytest.raises(InvalidArgument):
        contacts.parse_fields("campo1", "x" * (contacts.FIELD_MAX + 1))


@pytest.mark.parametrize("bad", ["\x00", "\x01", "\x0b", "\x1f", "\ufffe"])
def test_a_value_xml_cannot_carry_is_refused(bad: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        contacts.parse_fields("campo1;campo2", f"Ann;Sm{bad}ith")

    assert caught.value.name == "csvFldValues"


def test_tabs_and_line_breaks_are_kept_in_a_value() -> None:
    assert contacts.parse_fields("campo1", "a\tb\r\nc") == {1: "a\tb\r\nc"}


def test_a_value_of_exactly_the_field_maximum_is_accepted() -> None:
    value = "x" * contacts.FIELD_MAX

    assert contacts.parse_fields("campo1", value) == {1: value}


def test_double_dash_is_refused_in_strict_mode() -> None:
    with pytest.raises(InvalidArgument) as caught:
        contacts.parse_fields("campo1", "drop--table", strict=True)

    assert caught.value.name == "csvFldValues"


def test_double_dash_is_accepted_outside_strict_mode() -> None:
    assert contacts.parse_fields("campo1", "a--b") == {1: "a--b"}


def test_a_single_dash_is_accepted_in_strict_mode() -> None:
    assert contacts.parse_fields("campo1", "Smith-Jones", strict=True) == {1: "Smith-Jones"}


# -- id lists --------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "ids"), [
    ("1", [1]), ("1,2,3", [1, 2, 3]), ("1;2", [1, 2]), (" 4 , 5 ;6 ", [4, 5, 6]),
    ("1,,2,", [1, 2]), (None, []), ("", []), (" , ", []),
])
def test_ids_are_split_on_commas_and_semicolons(raw: str | None, ids: list[int]) -> None:
    assert contacts.parse_ids(raw) == ids


def test_the_largest_id_postgresql_holds_is_accepted() -> None:
    assert contacts.parse_ids("2147483647") == [2147483647]


def test_separators_can_be_narrowed() -> None:
    with pytest.raises(InvalidArgument):
        contacts.parse_ids("1;2", separators=",")


@pytest.mark.parametrize("raw", ["abc", "1,x", "-1", "1.5", "0x10", "2147483648", "1;99999999999"])
def test_what_is_not_an_id_is_refused(raw: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        contacts.parse_ids(raw)

    assert caught.value.name == "id"


def test_a_superscript_digit_is_refused_as_an_invalid_argument() -> None:
    with pytest.raises(InvalidArgument):
        contacts.parse_ids("²")
