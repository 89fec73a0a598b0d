"""The SMS rules: how many parts a text takes (GSM-7 or UCS-2), the 10-part limit, sender ids,
numbers and SendSMS options."""
from __future__ import annotations

import pytest

from mailup_soap import errors
from mailup_soap.domain import sms
from mailup_soap.domain.messages import SendTo


@pytest.mark.parametrize(("text", "expected"), [
    ("", ("GSM-7", 0, 0)),
    ("a" * 160, ("GSM-7", 160, 1)),
    ("a" * 161, ("GSM-7", 161, 2)),
    ("a" * 306, ("GSM-7", 306, 2)),
    ("a" * 307, ("GSM-7", 307, 3)),
    ("a" * 1530, ("GSM-7", 1530, 10)),
    ("€" * 80, ("GSM-7", 160, 1)),  # extension characters take two septets
    ("è@£ΔÑ", ("GSM-7", 5, 1)),  # in the GSM-7 alphabet
    ("ç" * 70, ("UCS-2", 70, 1)),  # ç (lower case) is not: the text goes as UCS-2
    ("ç" * 71, ("UCS-2", 71, 2)),
    ("ж" * 670, ("UCS-2", 670, 10)),
    ("🙂" * 35, ("UCS-2", 70, 1)),  # outside the BMP: two UTF-16 units each
])
def test_a_text_takes_parts_by_its_encoding(text: str, expected: tuple[str, int, int]) -> None:
    length = sms.measure(text)

    assert (length.encoding, length.units, length.parts) == expected


def test_an_extension_character_is_never_split_across_two_parts() -> None:
    text = "a" * 152 + "€" + "a" * 152  # the € would straddle the 153-septet boundary

    assert sms.measure(text).parts == 3


@pytest.mark.parametrize("text", ["a" * 1531, "ж" * 671, "a" * 1529 + "€"])
def test_a_text_past_ten_parts_is_refused(text: str) -> None:
    with pytest.raises(errors.InvalidArgument) as refused:
        sms.checked_text("text", text)

    assert refused.value.name == "text"


def test_ten_parts_are_accepted() -> None:
    assert sms.checked_text("text", "a" * 1530) == "a" * 1530
    assert sms.checked_text("text", "ж" * 670) == "ж" * 670


def test_an_empty_text_is_refused() -> None:
    with pytest.raises(errors.InvalidArgument):
        sms.checked_text("text", "   ")


def test_merged_fields_count_towards_the_limit() -> None:
    addressee = sms.SmsAddressee(1, "+393331234567", "", {1: "x" * 1000})

    assert sms.render("Hi [campo1]", addressee) == "Hi " + "x" * 1000
    with pytest.raises(errors.InvalidArgument):
        sms.render("[campo1][campo1]", addressee)


@pytest.mark.parametrize("sender", ["Shop", "SHOP2024", "My Shop", "12345678901",
                                    "+393331234567"])
def test_good_sender_ids(sender: str) -> None:
    assert sms.sender_id(sender) == sender


@pytest.mark.parametrize("sender", ["TwelveLetter", "", "Shop!", "<script>", "1" * 17])
def test_bad_sender_ids_are_refused(sender: str) -> None:
    with pytest.raises(errors.InvalidArgument):
        sms.sender_id(sender)


@pytest.mark.parametrize(("raw", "expected"), [("+39 333 1234567", "+393331234567"),
                                               ("0039-333-1234567", "+393331234567"),
                                               ("393331234567", "+393331234567")])
def test_numbers_are_stored_with_their_plus(raw: str, expected: str) -> None:
    assert sms.number(raw) == expected


@pytest.mark.parametrize("raw", ["", "abc", "12", None])
def test_bad_numbers_are_refused(raw: str | None) -> None:
    with pytest.raises(errors.InvalidArgument):
        sms.number(raw)


def test_send_options_read_numbers_groups_and_sender() -> None:
    to_some = sms.send_options({"send_to": "recipients",
                                "recipients": "+39 333 1234567;+393331234567;+4479460000",
                                "sender": "Shop", "deliverydt": "20300101120000"})
    to_groups = sms.send_options({"send_to": "GROUPS", "recipients": "3;4", "exclude": "5"})

    assert to_some.send_to is SendTo.RECIPIENTS
    assert to_some.numbers == ("+393331234567", "+4479460000")
    assert to_some.sender == "Shop" and to_some.delivery_at is not None
    assert (to_groups.groups, to_groups.exclude_groups) == ((3, 4), (5,))


@pytest.mark.parametrize("pairs", [
    {}, {"send_to": "SOME"}, {"send_to": "RECIPIENTS"}, {"send_to": "RECIPIENTS",
                                                         "recipients": "not-a-number"},
    {"send_to": "GROUPS", "recipients": "a"}, {"send_to": "ALL", "from_email": "x@y.z"},
    {"send_to": "ALL", "deliverydt": "tomorrow"}, {"send_to": "ALL", "sender": "TooLongSender"},
])
def test_bad_send_options_are_refused(pairs: dict[str, str]) -> None:
    with pytest.raises(errors.InvalidArgument):
        sms.send_options(pairs)
