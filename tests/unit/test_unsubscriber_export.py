"""The unsubscriber export's rules: filter validation, date windows, parsing, CSV lines."""
from __future__ import annotations

import csv
import datetime as dt

import pytest

from mailup_soap import errors
from mailup_soap.domain.unsubscribers import (
    CSV_COLUMNS,
    DateMode,
    ExportProfile,
    Unsubscriber,
    UnsubscriberFilter,
    Window,
    check_profile_name,
    csv_lines,
    full_mobile,
    parse_date_option,
    parse_filter,
)

UTC = dt.UTC


def _at(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def _row(**changes: object) -> Unsubscriber:
    values: dict[str, object] = {
        "list_id": 1, "recipient_id": 10, "email": "ann@example.test", "mobile": "+393331234567",
        "unsubscribed_at": _at(2021, 1, 22, 11, 12, 44),
        "subscribed_at": _at(2020, 3, 1, 8, 0, 5), "message_id": 77, "reason": 2}
    return Unsubscriber(**(values | changes))  # type: ignore[arg-type]


# -- the filter ---------------------------------------------------------------------------------


def test_an_empty_filter_takes_every_list_reason_and_date() -> None:
    flt = UnsubscriberFilter()

    assert flt.window(_at(2024, 5, 10, 12)) is None
    assert (flt.lists, flt.exclude_lists, flt.reasons, flt.exclude_reasons) == ((), (), (), ())


def test_previous_day_is_the_whole_previous_utc_calendar_day() -> None:
    flt = UnsubscriberFilter(date=DateMode.PREVIOUS_DAY)

    assert flt.window(_at(2024, 3, 1, 0, 0, 1)) == Window(_at(2024, 2, 29), _at(2024, 3, 1))
    assert flt.window(_at(2024, 3, 1, 23, 59, 59)) == Window(_at(2024, 2, 29), _at(2024, 3, 1))


def test_previous_day_is_taken_in_utc_whatever_the_clock_timezone() -> None:
    rome = dt.timezone(dt.timedelta(hours=2))
    flt = UnsubscriberFilter(date=DateMode.PREVIOUS_DAY)

    # 01:30 in Rome on 10 May is still 9 May in UTC: the previous UTC day is 8 May.
    window = flt.window(dt.datetime(2024, 5, 10, 1, 30, tzinfo=rome))

    assert window == Window(_at(2024, 5, 8), _at(2024, 5, 9))


def test_a_range_includes_both_of_its_days() -> None:
    flt = UnsubscriberFilter(date=DateMode.RANGE, date_from=dt.date(2024, 1, 30),
                             date_to=dt.date(2024, 2, 2))

    assert flt.window(_at(2030, 1, 1)) == Window(_at(2024, 1, 30), _at(2024, 2, 3))


def test_a_range_to_the_last_day_python_knows_ends_with_it() -> None:
    flt = UnsubscriberFilter(date=DateMode.RANGE, date_from=dt.date(2024, 1, 30),
                             date_to=dt.date.max)

    assert flt.window(_at(2030, 1, 1)) == Window(
        _at(2024, 1, 30), dt.datetime.max.replace(tzinfo=dt.UTC))


def test_a_one_day_range_is_that_day() -> None:
    day = dt.date(2024, 12, 31)
    flt = UnsubscriberFilter(date=DateMode.RANGE, date_from=day, date_to=day)

    assert flt.window(_at(2030, 1, 1)) == Window(_at(2024, 12, 31), _at(2025, 1, 1))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"reasons": (3,)}, "unknown reason code 3"),
    ({"exclude_reasons": (2, 9999)}, "unknown reason code 9999"),
    ({"lists": (1, 2), "exclude_lists": (2,)}, "2 both included and excluded"),
    ({"reasons": (8,), "exclude_reasons": (8,)}, "8 both included and excluded"),
    ({"lists": (0,)}, "0 is not a list id"),
    ({"lists": (2**31,)}, "is not a list id"),
    ({"date": DateMode.RANGE, "date_from": dt.date(2024, 2, 2), "date_to": dt.date(2024, 2, 1)},
     "from date 2024-02-02 is after to date 2024-02-01"),
    ({"date": DateMode.RANGE, "date_from": dt.date(2024, 2, 2)}, "needs a from date and a to"),
    ({"date": DateMode.PREVIOUS_DAY, "date_from": dt.date(2024, 2, 2)}, "need a date range"),
    ({"lists": tuple(range(1, 1002))}, "more than 1000 ids"),
])
def test_a_contradictory_or_unknown_filter_is_refused_with_a_clear_message(
        kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(errors.InvalidArgument) as refused:
        UnsubscriberFilter(**kwargs)  # type: ignore[arg-type]

    assert message in str(refused.value)


def test_every_mailup_reason_code_of_the_spec_is_known() -> None:
    codes = (0, 2, 4, 8, 16, 32, 64, 81, 82, 83, 128, 256, 512, 2561, 2562, 2563)

    flt = UnsubscriberFilter(reasons=codes)

    assert flt.reasons == codes


def test_a_filter_survives_its_json_round_trip() -> None:
    flt = UnsubscriberFilter(lists=(1, 3), exclude_lists=(4,), date=DateMode.RANGE,
                             date_from=dt.date(2024, 1, 1), date_to=dt.date(2024, 1, 31),
                             reasons=(8, 16), exclude_reasons=())

    assert UnsubscriberFilter.from_json(flt.to_json()) == flt


def test_a_stored_filter_that_is_not_one_is_refused() -> None:
    with pytest.raises(errors.InvalidArgument):
        UnsubscriberFilter.from_json({"date": "tomorrow"})


# -- parsing strings ------------------------------------------------------------------------


def test_list_ids_are_read_with_semicolons_commas_or_spaces() -> None:
    assert parse_filter(lists="1;2").lists == (1, 2)
    assert parse_filter(lists="3,1, 2 ,3").lists == (1, 2, 3)
    assert parse_filter(lists=" ").lists == ()


def test_the_issue_example_parses_as_written() -> None:
    flt = parse_filter(lists="1", date="previousday", exclude_reasons="2")

    assert flt == UnsubscriberFilter(lists=(1,), date=DateMode.PREVIOUS_DAY, exclude_reasons=(2,))


@pytest.mark.parametrize("mode", ["previousday", "PreviousDay", "previous-day", "previous_day"])
def test_the_date_mode_is_read_in_any_case_with_or_without_a_separator(mode: str) -> None:
    assert parse_filter(date=mode).date is DateMode.PREVIOUS_DAY


def test_dates_without_a_mode_mean_a_range_and_no_mode_means_all() -> None:
    assert parse_filter(date_from="2024-01-01", date_to="2024-01-02").date is DateMode.RANGE
    assert parse_filter(date="").date is DateMode.ALL


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"lists": "1;x"}, "listsIncluded"),
    ({"exclude_lists": "-1"}, "listsExcluded"),
    ({"reasons": "²"}, "reasonsIncluded"),
    ({"date": "yesterday"}, "dateFilter"),
    ({"date": "range", "date_from": "2024-02-30", "date_to": "2024-03-01"}, "fromDate"),
    ({"date": "range", "date_from": "2024-02-01", "date_to": "01/03/2024"}, "toDate"),
])
def test_a_string_that_is_not_a_number_mode_or_date_names_its_parameter(
        kwargs: dict[str, str], name: str) -> None:
    with pytest.raises(errors.InvalidArgument) as refused:
        parse_filter(**kwargs)

    assert refused.value.name == name


def test_the_cli_date_option_reads_modes_ranges_and_single_days() -> None:
    assert parse_date_option("previous-day") == ("previous-day", None, None)
    assert parse_date_option("2024-01-01..2024-01-31") == ("range", "2024-01-01", "2024-01-31")
    assert parse_date_option("2024-01-05") == ("range", "2024-01-05", "2024-01-05")
    mode, start, end = parse_date_option("2024-01-05")
    one_day = parse_filter(date=mode, date_from=start, date_to=end)
    assert one_day.window(_at(2030, 1, 1)) == Window(_at(2024, 1, 5), _at(2024, 1, 6))


# -- rows and CSV ---------------------------------------------------------------------------


def test_the_csv_starts_with_the_header_and_email_is_the_first_column() -> None:
    lines = list(csv_lines([_row()]))

    assert lines == [
        "email,mobile,idList,OptOut_Date,Subscription_Date,optout_nl,optout_type,"
        "optout_subtype\r\n",
        "ann@example.test,+393331234567,1,20210122T111244,20200301T080005,77,2,"
        "unsubscribe link\r\n"]


def test_an_export_with_no_rows_is_just_the_header() -> None:
    assert [line.rstrip("\r\n").split(",") for line in csv_lines([])] == [list(CSV_COLUMNS)]


def test_missing_values_are_empty_cells_and_dates_are_written_in_utc() -> None:
    rome = dt.timezone(dt.timedelta(hours=1))
    row = _row(email=None, mobile=None, message_id=None, reason=None, subscribed_at=None,
               unsubscribed_at=dt.datetime(2021, 1, 22, 12, 12, 44, tzinfo=rome))

    (_, line) = csv_lines([row])

    assert line == ",,1,20210122T111244,,,,\r\n"


def test_values_with_commas_or_quotes_are_quoted_and_read_back_unchanged() -> None:
    tricky = '"odd,name"@example.test'
    row = _row(email=tricky, reason=2561)

    lines = list(csv_lines([row]))
    parsed = list(csv.reader(lines))

    assert parsed[1][0] == tricky
    assert parsed[1][6:] == ["2561", "blocked by the target MTA"]


def test_the_mobile_is_the_stored_number_which_carries_its_prefix() -> None:
    assert full_mobile("", "+393331234567") == "+393331234567"
    assert full_mobile("39", "+393331234567") == "+393331234567"
    assert full_mobile("+39", "3331234567") == "+393331234567"
    assert full_mobile("39", None) is None


# -- profiles -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["daily", "no-link_2", "x" * 50])
def test_profile_names_of_letters_digits_dash_and_underscore_are_accepted(name: str) -> None:
    assert check_profile_name(name) == name


@pytest.mark.parametrize("name", ["", "x" * 51, "../etc", "a b", "naïve", "a.csv", None])
def test_profile_names_that_would_make_odd_file_names_are_refused(name: str | None) -> None:
    with pytest.raises(errors.InvalidArgument):
        check_profile_name(name)


def test_a_profile_file_is_named_after_the_profile_and_the_day() -> None:
    profile = ExportProfile("bounces", UnsubscriberFilter(reasons=(8,)))

    assert profile.file_name(dt.date(2024, 3, 7)) == "bounces-20240307.csv"
