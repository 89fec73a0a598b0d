"""List options of Manage.CreateList / UpdateList: validation and how updates apply."""
from __future__ import annotations

import pytest

from mailup_soap import errors
from mailup_soap.domain.list_options import MAX_OPTION_LENGTH, OPTION_KINDS, validate_options
from mailup_soap.service_layer import lists
from tests.fakes import FakeStore, fake_deps, make_account


def test_keys_are_matched_without_case_or_surrounding_spaces() -> None:
    assert validate_options([("  OwnerEmail ", "o@example.test")]) == {
        "owneremail": "o@example.test"}


@pytest.mark.parametrize(("raw", "stored"), [
    ("1", "1"), ("true", "1"), ("Yes", "1"), ("ON", "1"),
    ("0", "0"), ("false", "0"), ("no", "0"), ("off", "0"), ("", "0"), (None, "0"), (1, "1"),
])
def test_boolean_options_are_stored_as_0_or_1(raw: object, stored: str) -> None:
    assert validate_options([("public", raw)]) == {"public": stored}


@pytest.mark.parametrize("raw", ["2", "maybe", "y"])
def test_a_boolean_option_refuses_other_values(raw: str) -> None:
    with pytest.raises(errors.InvalidOption) as caught:
        validate_options([("tracking", raw)])

    assert caught.value.key == "tracking"


@pytest.mark.parametrize(("raw", "stored"), [("300", "300"), (" 007 ", "7"), ("-1", "-1"),
                                             (42, "42")])
def test_integer_options_are_normalised(raw: object, stored: str) -> None:
    assert validate_options([("kbmax", raw)]) == {"kbmax": stored}


@pytest.mark.parametrize("raw", ["", "12kb", "1.5", None, "--1", "\u00b2", "\u0663",
                                 "1" * 10])
def test_an_integer_option_refuses_what_is_not_an_integer(raw: object) -> None:
    with pytest.raises(errors.InvalidOption):
        validate_options([("kbmax", raw)])


@pytest.mark.parametrize("raw", ["not-an-address", "a b@example.test", "jos\u00e9@example.test",
                                 "a@example"])
def test_an_email_option_needs_an_address(raw: str) -> None:
    with pytest.raises(errors.InvalidOption):
        validate_options([("replyto", raw)])


def test_an_email_option_may_be_cleared() -> None:
    assert validate_options([("notifyemail", "  ")]) == {"notifyemail": ""}


@pytest.mark.parametrize(("key", "raw", "stored"), [("format", "HTML", "html"),
                                                    ("format", "text", "text"),
                                                    ("optout_type", "2", "2")])
def test_choice_options_accept_their_values_in_any_case(key: str, raw: str, stored: str) -> None:
    assert validate_options([(key, raw)]) == {key: stored}


@pytest.mark.parametrize(("key", "raw"), [("format", "pdf"), ("optout_type", "4")])
def test_choice_options_refuse_other_values(key: str, raw: str) -> None:
    with pytest.raises(errors.InvalidOption):
        validate_options([(key, raw)])


@pytest.mark.parametrize("raw", ["39", "+39", "0039", "+1", "+1268", ""])
def test_a_default_prefix_is_an_international_prefix(raw: str) -> None:
    assert validate_options([("default_prefix", raw)]) == {"default_prefix": raw}


@pytest.mark.parametrize("raw", ["Italy", "+039", "+12345", "3 9", "+"])
def test_a_default_prefix_refuses_what_is_not_one(raw: str) -> None:
    with pytest.raises(errors.InvalidOption):
        validate_options([("default_prefix", raw)])


def test_a_value_xml_cannot_carry_is_refused() -> None:
    with pytest.raises(errors.InvalidOption) as caught:
        validate_options([("nl_sendername", "Shop\x01")])

    assert caught.value.key == "nl_sendername"


def test_text_values_are_trimmed_and_limited_in_length() -> None:
    assert validate_options([("description", "  Weekly news  ")]) == {
        "description": "Weekly news"}
    with pytest.raises(errors.InvalidOption):
        validate_options([("description", "x" * (MAX_OPTION_LENGTH + 1))])


@pytest.mark.parametrize("key", ["colour", "", "owner email"])
def test_an_unknown_option_is_refused(key: str) -> None:
    with pytest.raises(errors.InvalidOption):
        validate_options([("format", "html"), (key, "1")])


def test_every_documented_option_key_is_known() -> None:
    documented = {"owneremail", "bouncedemail", "description", "format", "charset", "public",
                  "tracking", "nl_sendername", "sms_sendername", "optout_type",
                  "sendemailoptout", "notifyemail", "frontendform", "disclaimer",
                  "headerxabuse", "kbmax", "replyto", "displayas", "headerlistunsubscriber",
                  "multipart_text", "conversionlab_trackcode", "default_prefix",
                  "multi_optout_list"}

    assert documented <= set(OPTION_KINDS)


def test_a_later_pair_for_the_same_key_wins() -> None:
    assert validate_options([("format", "text"), ("FORMAT", "html")]) == {"format": "html"}


# -- through the use cases ------------------------------------------------------------------


def test_create_list_stores_the_normalised_options() -> None:
    deps = fake_deps()
    cred = make_account(deps).login(deps)

    created = lists.create_list(deps, cred, "News", options=[("Public", "true"),
                                                              ("kbmax", " 200 ")])

    stored = lists.get_lists(deps, cred)[0].options
    assert stored == created.options
    assert (stored["public"], stored["kbmax"], stored["format"]) == ("1", "200", "html")


def test_create_list_with_an_invalid_option_creates_nothing() -> None:
    store = FakeStore()
    deps = fake_deps(store)
    cred = make_account(deps).login(deps)

    with pytest.raises(errors.InvalidOption):
        lists.create_list(deps, cred, "News", options=[("format", "pdf")])

    assert store.state.lists == {}
    assert lists.create_list(deps, cred, "News").id == 1


def test_update_list_merges_the_given_options_into_the_current_ones() -> None:
    deps = fake_deps()
    cred = make_account(deps).login(deps)
    created = lists.create_list(deps, cred, "News", options=[("description", "old")])

    updated = lists.update_list(deps, cred, created.id, [("format", "text"),
                                                         ("owneremail", "o@example.test")])

    expected = created.options | {"format": "text", "owneremail": "o@example.test"}
    assert updated.options == expected
    assert lists.get_lists(deps, cred)[0].options == expected


@pytest.mark.parametrize("bad", [("colour", "red"), ("public", "maybe")],
                         ids=["unknown option", "invalid value"])
def test_update_list_with_a_bad_option_changes_nothing(bad: tuple[str, str]) -> None:
    deps = fake_deps()
    cred = make_account(deps).login(deps)
    created = lists.create_list(deps, cred, "News")

    with pytest.raises(errors.InvalidOption):
        lists.update_list(deps, cred, created.id, [("format", "text"), bad])

    assert lists.get_lists(deps, cred)[0].options == created.options


def test_update_list_of_an_unknown_list_is_list_not_found() -> None:
    deps = fake_deps()
    cred = make_account(deps).login(deps)

    with pytest.raises(errors.ListNotFound):
        lists.update_list(deps, cred, 9, [("format", "text")])


def test_update_list_with_no_options_keeps_the_list_as_it_was() -> None:
    deps = fake_deps()
    cred = make_account(deps).login(deps)
    created = lists.create_list(deps, cred, "News")

    updated = lists.update_list(deps, cred, created.id, [])

    assert updated.options == created.options
